"""Benchmark the simulator: stream a scenario to a temp dir; time, events/s and peak RSS, as a
ratio to a baseline (fixed JSON lines through orjson into gzip) measured in the same run.

    .venv/bin/python bench/bench_simulate.py                         # 1,000 hosts, ~1M events
    .venv/bin/python bench/bench_simulate.py --hosts 10000 --events 100000000

The simulator runs in a child process; its peak memory is the larger of the child's
``ru_maxrss`` and the highest resident size of its process tree sampled from ``/proc``.
The simulator is sized by hosts x days: unless ``--days`` is given, a one-day pilot run
at the same host count measures events per host-day, and the days are chosen to reach
``--events``. Events are counted by reading the files back (``--no-count``: the
simulator's own count).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console(width=130)

CHILD = """
import json, sys
from pathlib import Path
from wormsign.simulate import simulate
a = json.loads(sys.argv[1])
truth = simulate(a["scenario"], a["hosts"], a["days"], a["seed"], Path(a["out"]), **a["opts"])
keys = ("_stats",)
print(json.dumps({"infections": len(truth.get("infections") or []),
                  **{k: truth[k] for k in keys if k in truth}}, default=str))
"""

# One Security 4624 document as Winlogbeat ships it, written over and over by the baseline.
FIXED = {
    "@timestamp": "2026-03-02T09:14:07.250Z",
    "host": {"name": "ws-0012.corp.example", "ip": ["10.20.0.12"]},
    "event": {"code": "4624", "id": "00000000-0000-0000-0000-000000000000", "provider":
              "Microsoft-Windows-Security-Auditing", "kind": "event", "outcome": "success"},
    "winlog": {"channel": "Security", "event_id": "4624", "computer_name": "ws-0012.corp.example",
               "provider_name": "Microsoft-Windows-Security-Auditing", "record_id": 123456,
               "event_data": {"TargetUserName": "jdoe", "TargetDomainName": "CORP", "LogonType": "3",
                              "IpAddress": "10.20.0.31", "IpPort": "49712", "WorkstationName": "WS-0031",
                              "AuthenticationPackageName": "NTLM", "LogonProcessName": "NtLmSsp"}},
}


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(code: str, arg: dict[str, Any]) -> dict[str, Any]:
    """Run ``code`` in a fresh Python with ``arg`` as JSON in argv[1]; measure time and memory.
    Returns ``{seconds, cpu_seconds, peak_rss_mb, tree_peak_mb, stdout}`` (CPU: the child's user + system,
    threads included, from ``wait4``)."""
    return run_argv([sys.executable, "-c", code, json.dumps(arg)])


def run_argv(argv: list[str]) -> dict[str, Any]:
    """Run a command as :func:`run_child` runs its Python: the same figures (the CPU of the
    processes it started and waited for included)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    peak = {"tree": 0, "hwm": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            pids = _tree(proc.pid)
            peak["tree"] = max(peak["tree"], sum(_status_kb(p, "VmRSS:") for p in pids))
            peak["hwm"] = max(peak["hwm"], _status_kb(proc.pid, "VmHWM:"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (ru_maxrss in KiB)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"child failed with status {proc.returncode}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": max(peak["hwm"], usage.ru_maxrss) / 1024,
        "tree_peak_mb": peak["tree"] / 1024,
        "stdout": stdout.decode(errors="replace"),
    }


def count_events(out: Path) -> tuple[int, int]:
    """(records, bytes on disk) of the telemetry under ``out``: NDJSON lines, Zeek rows (not ``#`` lines)."""
    records = size = 0
    for p in sorted(out.rglob("*")):
        if not p.is_file() or p.name == "truth.json":
            continue
        size += p.stat().st_size
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rb") as f:
            prev = b"\n"
            for chunk in iter(lambda: f.read(1 << 22), b""):
                records += chunk.count(b"\n") - chunk.count(b"\n#") - (prev == b"\n" and chunk[:1] == b"#")
                prev = chunk[-1:]
            if prev not in (b"\n", b""):
                records += 1
    return records, size


def baseline(lines: int, tmp: Path, level: int) -> dict[str, Any]:
    """Write ``lines`` copies of FIXED (orjson, one a line) into a gzip file; time it."""
    path = tmp / "baseline.ndjson.gz"
    started, cpu0 = time.perf_counter(), time.process_time()
    with gzip.open(path, "wb", compresslevel=level) as f:
        buf = []
        for i in range(lines):
            buf.append(orjson.dumps(FIXED))
            if len(buf) == 4096:
                f.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            f.write(b"\n".join(buf) + b"\n")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    size = path.stat().st_size
    path.unlink()
    return {"lines": lines, "seconds": seconds, "rate": lines / seconds, "cpu_seconds": cpu,
            "cpu_rate": lines / cpu, "bytes": size}


def simulate(args: argparse.Namespace, hosts: int, days: int, out: Path, count: bool = True) -> dict[str, Any]:
    arg = {"scenario": args.scenario, "hosts": hosts, "days": days, "seed": args.seed, "out": str(out),
           "opts": json.loads(args.opts)}
    res = run_child(CHILD, arg)
    res["summary"] = json.loads(res.pop("stdout").strip().splitlines()[-1])
    logs = out / "logs" if (out / "logs").is_dir() else out
    reported = (res["summary"].get("_stats") or {}).get("events")
    if count or reported is None:
        counted, res["bytes"] = count_events(logs)
        if reported is not None and reported != counted:
            console.print(f"[yellow]the simulator reports {reported:,} events, the files hold {counted:,}[/]")
    else:
        counted, res["bytes"] = reported, sum(p.stat().st_size for p in logs.rglob("*") if p.is_file())
    res["events"] = counted
    res["rate"] = res["events"] / res["seconds"]
    res["cpu_rate"] = res["events"] / res["cpu_seconds"]
    return res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--events", type=int, default=1_000_000, help="target events (sets the days)")
    ap.add_argument("--days", type=int, default=0, help="days to simulate (0: chosen from --events)")
    ap.add_argument("--scenario", default="emotet")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--opts", default="{}", help="extra simulate() options, as JSON")
    ap.add_argument("--no-count", action="store_true",
                    help="trust the simulator's own event count instead of reading every file back")
    ap.add_argument("--baseline-events", type=int, default=1_000_000,
                    help="lines the baseline writes (its rate is compared; default: min(this, events))")
    ap.add_argument("--gzip-level", type=int, default=6, help="gzip level of the baseline")
    ap.add_argument("--tmp", type=Path, default=None, help="where the output goes (removed after)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the simulated output here and keep it (e.g. for bench_hunt.py --from)")
    args = ap.parse_args(argv)

    load0 = f"{os.getloadavg()[0]:.2f}"
    root = Path(tempfile.mkdtemp(prefix="wormsign-bench-sim-", dir=args.tmp))
    try:
        days, pilot = args.days, None
        if not days:
            pilot_hosts = args.hosts  # events per host-day depend on the size of the organisation
            pilot = simulate(args, pilot_hosts, 1, root / "pilot", not args.no_count)
            per_host_day = pilot["events"] / pilot_hosts
            days = max(1, round(args.events / (args.hosts * per_host_day)))
            shutil.rmtree(root / "pilot")
            console.print(f"pilot: {pilot['events']:,} events from {pilot_hosts} hosts x 1 day "
                          f"({per_host_day:,.0f} per host-day) -> {days} days", highlight=False)
        sim = simulate(args, args.hosts, days, args.keep or root / "sim", not args.no_count)
        shutil.rmtree(root / "sim", ignore_errors=True)
        base = baseline(min(args.baseline_events, max(sim["events"], 1)), root, args.gzip_level)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ratio, cpu_ratio = sim["rate"] / base["rate"], sim["cpu_rate"] / base["cpu_rate"]
    t = Table(title=f"simulate {args.scenario}: {args.hosts:,} hosts x {days} days, seed {args.seed}, "
                    f"options {args.opts}; load {load0} -> {os.getloadavg()[0]:.2f}")
    for col in ("run", "events", "wall s", "events/s", "CPU s", "events/CPU s", "peak RSS MiB", "output MiB"):
        t.add_column(col, justify="left" if col == "run" else "right")
    t.add_row("simulator", f"{sim['events']:,}", f"{sim['seconds']:.1f}", f"{sim['rate']:,.0f}",
              f"{sim['cpu_seconds']:.1f}", f"{sim['cpu_rate']:,.0f}",
              f"{sim['peak_rss_mb']:,.0f} (tree {sim['tree_peak_mb']:,.0f})", f"{sim['bytes'] / 2**20:,.0f}")
    t.add_row("baseline: orjson lines -> gzip", f"{base['lines']:,}", f"{base['seconds']:.1f}",
              f"{base['rate']:,.0f}", f"{base['cpu_seconds']:.1f}", f"{base['cpu_rate']:,.0f}", "",
              f"{base['bytes'] / 2**20:,.1f}")
    t.add_section()
    t.add_row("ratio simulator / baseline", "", "", f"{ratio:.3f}", "", f"{cpu_ratio:.3f}", "", "")
    console.print(t)
    result = {"hosts": args.hosts, "days": days, "scenario": args.scenario, "seed": args.seed,
              "target_events": args.events, "simulator": sim, "baseline": base, "ratio": ratio,
              "cpu_ratio": cpu_ratio, "load": [load0, os.getloadavg()[0]],
              "pilot": pilot, "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
