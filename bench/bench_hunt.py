"""Benchmark the hunt's analytics on a simulated case, as a ratio to a plain DuckDB full scan of
the same events table measured in the same run.

    .venv/bin/python bench/bench_hunt.py                          # ~10M events (builds the case)
    .venv/bin/python bench/bench_hunt.py --case /tmp/c.duckdb     # build once, keep, reuse

The case is simulated and ingested first (timed, but not part of the ratio). Then the scan,
the resolution of host identities with the stored ``hunt_index`` (once per change of the
case: nothing to do when it ran already) and the hunt each run in a fresh child process on
the same case file, and only the query / analytics themselves are timed, in wall and CPU
seconds (threads included): ``events / seconds`` for each, and the hunt's rate divided by the
scan's. ``--rounds N`` runs the scan and the hunt N times, alternately, and reports the median
run of each (on a shared machine one run says little). ``--sigma`` also times a hunt with the
in-house Sigma rules, to show their share apart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_simulate import CHILD as SIM_CHILD  # noqa: E402
from bench_simulate import count_events, run_child  # noqa: E402

from wormsign.eval.suite import telemetry

console = Console(width=130)

# Columns the analytics read (the baseline scan reads every one of them), unless the hunt
# declares its own list as ``wormsign.hunt.COLUMNS``.
COLUMNS = (
    "ts", "host", "kind", "src.digest", "src.record", "event.id", "event.code", "event.dataset",
    "event.action", "event.outcome", "host.ip", "user.name", "user.domain", "user.target.name",
    "winlog.logon.type", "winlog.logon.id", "auth.status", "auth.sub_status", "auth.package",
    "source.ip", "source.port", "source.host", "destination.ip", "destination.port",
    "destination.host", "network.transport", "network.protocol", "process.pid", "process.entity_id",
    "process.executable", "process.name", "process.command_line", "process.hash.sha256",
    "process.parent.entity_id", "process.parent.executable", "file.path", "file.name", "file.size",
    "file.hash.sha256", "share.name", "share.path", "share.access_mask", "service.name",
    "service.image", "task.name", "task.command", "rpc.endpoint", "rpc.operation",
    "dns.question.name",
)

SCAN = """
import json, sys, time
import duckdb
a = json.loads(sys.argv[1])
try:
    import wormsign.hunt as h
    cols = list(getattr(h, "COLUMNS", None) or a["columns"])
except ImportError:
    cols = a["columns"]
con = duckdb.connect(a["case"] + "/catalog.duckdb", read_only=True)  # the view events
con.execute("SET enable_progress_bar = false")
have = {r[0] for r in con.execute(
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'").fetchall()}
cols = [c for c in cols if c in have]
exprs = ["count(*)", 'count(DISTINCT "host")'] + ['max("%s")' % c for c in cols if c != "host"]
t, c = time.perf_counter(), time.process_time()
row = con.execute("SELECT " + ", ".join(exprs) + " FROM events").fetchone()
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "events": row[0],
                  "hosts": row[1], "columns": len(cols)}))
"""

# Host identities are resolved once per change of the case (ingest), not by each hunt: timed
# here on its own, before the hunt (nothing to do when the case was resolved already).
RESOLVE = """
import json, sys, time
from wormsign.resolve import ensure_resolved
from wormsign.store import Case
a = json.loads(sys.argv[1])
with Case.open(a["case"]) as case:
    t, c = time.perf_counter(), time.process_time()
    rep = ensure_resolved(case)
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "ran": rep is not None,
                      "updated": getattr(rep, "updated", 0)}))
"""

HUNT = """
import json, sys, time
from wormsign.hunt import hunt
from wormsign.store import Case
a = json.loads(sys.argv[1])
with Case.open(a["case"]) as case:
    n = case.count()
    t, c = time.perf_counter(), time.process_time()
    res = hunt(case, sigma_rules=a.get("sigma"))
    s, cpu = time.perf_counter() - t, time.process_time() - c
doc = getattr(res, "document", res) or {}
if a.get("save"):
    with open(a["save"], "w") as f:
        json.dump(doc, f)
inc = doc.get("incidents") or []
print(json.dumps({"seconds": s, "cpu": cpu, "events": n, "incidents": len(inc),
                  "outbreaks": sum(1 for i in inc if i.get("type") == "outbreak"),
                  "alerts": len(getattr(res, "alerts", None) or [])}))
"""

INGEST = """
import json, sys, time
from wormsign.ingest import ingest_paths
from wormsign.store import Case
a = json.loads(sys.argv[1])
with Case.open(a["case"]) as case:
    t = time.perf_counter()
    rep = ingest_paths(a["files"], case)
    print(json.dumps({"seconds": time.perf_counter() - t, "events": case.count(),
                      "rejected": rep.stats.rejected}))
"""


def _child(code: str, arg: dict[str, Any]) -> dict[str, Any]:
    res = run_child(code, arg)
    # the last JSON line: a child may print other lines after it (DuckDB's progress bar)
    inner = json.loads([ln for ln in res.pop("stdout").splitlines() if ln.startswith("{")][-1])
    return {**res, "wall_seconds": res.pop("seconds"), **inner}


def build_case(args: argparse.Namespace, case: Path, work: Path) -> dict[str, Any]:
    """Simulate about ``args.events`` events (a pilot sets the days) and ingest them into ``case``."""
    if args.from_dir:
        ing = _child(INGEST, {"case": str(case), "files": telemetry(args.from_dir)})
        return {"from": str(args.from_dir), "ingest": ing}
    sim_arg = {"scenario": args.scenario, "seed": args.seed, "opts": {}}
    pilot_hosts = args.hosts  # events per host-day depend on the size of the organisation
    _child(SIM_CHILD, {**sim_arg, "hosts": pilot_hosts, "days": 1, "out": str(work / "pilot")})
    per_host_day = count_events(work / "pilot" / "logs")[0] / pilot_hosts
    shutil.rmtree(work / "pilot")
    days = args.days or max(1, round(args.events / (args.hosts * per_host_day)))
    sim = _child(SIM_CHILD, {**sim_arg, "hosts": args.hosts, "days": days, "out": str(work / "sim")})
    files = telemetry(work / "sim")
    ing = _child(INGEST, {"case": str(case), "files": files})
    shutil.rmtree(work / "sim")
    return {"days": days, "simulate_seconds": sim["wall_seconds"], "ingest": ing}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time (the lower one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events in the simulated case")
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--days", type=int, default=0, help="days to simulate (0: chosen from --events)")
    ap.add_argument("--scenario", default="emotet-qakbot")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--case", type=Path, default=None, help="case file: reused when it exists, else built and kept")
    ap.add_argument("--from", dest="from_dir", type=Path, default=None,
                    help="ingest this simulator output (bench_simulate.py --keep) instead of simulating")
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--sigma", action="store_true", help="also time a hunt with the in-house Sigma rules (their share)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--rounds", type=int, default=1,
                    help="scan and hunt this many times, alternately, each in a fresh process; "
                         "the median is reported")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="wormsign-bench-hunt-", dir=args.tmp))
    built = None
    try:
        case = args.case or work / "case.duckdb"
        if not case.exists():
            started = time.perf_counter()
            built = build_case(args, case, work)
            console.print(f"built {case} in {time.perf_counter() - started:.0f}s: {built}", highlight=False)
        # first: a hunt would otherwise resolve inside its own timing
        resolve = _child(RESOLVE, {"case": str(case)})
        scans: list[dict[str, Any]] = []
        hunts: list[dict[str, Any]] = []
        try:
            for _ in range(max(args.rounds, 1)):
                scans.append(_child(SCAN, {"case": str(case), "columns": list(COLUMNS)}))
                hunts.append(_child(HUNT, {"case": str(case), "save": str(work / "incidents.json")}))
            hunt: dict[str, Any] | None = _median(hunts)
            truth = args.from_dir / "truth.json" if args.from_dir else None
            if truth and truth.is_file():  # score the hunt too, when the simulator's truth is at hand
                from wormsign.eval import load_incidents, load_truth, score

                hunt["eval"] = score(load_truth(truth), load_incidents(work / "incidents.json")).to_dict()
            # The in-house Sigma rules (the CLI runs them unless --no-sigma): their share, apart.
            sigma = _child(HUNT, {"case": str(case), "sigma": []}) if args.sigma else None
        except SystemExit as exc:  # the hunt is missing or failed: report the scan alone
            console.print(f"[yellow]the hunt did not run ({exc}); scan figures only[/]")
            hunt = sigma = None
            if not scans:
                scans.append(_child(SCAN, {"case": str(case), "columns": list(COLUMNS)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scan = _median(scans)

    events = scan["events"]
    scan_rate = events / scan["seconds"]
    hunt_rate = events / hunt["seconds"] if hunt else None
    t = Table(title=f"hunt analytics on {events:,} events ({scan['hosts']:,} hosts)")
    for col in ("run", "seconds", "CPU s", "events/s", "events/CPU s", "peak RSS MiB", "detail"):
        t.add_column(col, justify="left" if col in ("run", "detail") else "right")

    def row(name: str, r: dict[str, Any], detail: str) -> None:
        t.add_row(name, f"{r['seconds']:.2f}", f"{r['cpu']:.2f}", f"{events / r['seconds']:,.0f}",
                  f"{events / max(r['cpu'], 1e-9):,.0f}", f"{r['peak_rss_mb']:,.0f}", detail)

    row(f"baseline: DuckDB scan of {scan['columns']} columns", scan, "count(*), count(DISTINCT host), max(col)...")
    t.add_row("resolve host identities, store the hunt's tables (once per ingest)",
              f"{resolve['seconds']:.2f}",
              f"{resolve['cpu']:.2f}", "",
              "", f"{resolve['peak_rss_mb']:,.0f}",
              f"{resolve['updated']:,} events rewritten" if resolve["ran"] else "already resolved: nothing to do")
    if len(hunts) > 1:
        spread = (f"median of {len(hunts)} rounds: scans {min(r['seconds'] for r in scans):.2f}-"
                  f"{max(r['seconds'] for r in scans):.2f} s, hunts {min(r['seconds'] for r in hunts):.2f}-"
                  f"{max(r['seconds'] for r in hunts):.2f} s")
        console.print(spread, highlight=False)
    if hunt and hunt_rate:
        row("hunt analytics", hunt, f"{hunt['incidents']} incidents ({hunt['outbreaks']} outbreak), {hunt['alerts']} alerts")
        if sigma:
            row("hunt with the in-house Sigma rules", sigma, f"Sigma's share: {sigma['seconds'] - hunt['seconds']:.2f} s, "
                f"{sigma['cpu'] - hunt['cpu']:.2f} CPU s; {sigma['alerts']} alerts")
        t.add_section()
        t.add_row("ratio hunt / scan (rate)", "", "", f"{hunt_rate / scan_rate:.4f}",
                  f"{scan['cpu'] / max(hunt['cpu'], 1e-9):.4f}", "", "")
    console.print(t)
    if hunt and "eval" in hunt:
        e = hunt["eval"]
        console.print(f"eval against truth: recall {e['recall']}, precision {e['precision']}, infector "
                      f"{e['infector_accuracy']}, patient zero right {e['patient_zero_right']}, false outbreak "
                      f"incidents {e['false_incidents']}, lockouts {e['lockout_attribution']}", highlight=False)
    result = {"events": events, "case": str(args.case) if args.case else None, "built": built,
              "scan": scan, "resolve": resolve, "hunt": hunt, "sigma": sigma, "scan_rate": scan_rate, "hunt_rate": hunt_rate,
              "rounds": {"scan": scans, "hunt": hunts},
              "ratio": hunt_rate / scan_rate if hunt_rate else None}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
