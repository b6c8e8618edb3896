"""The whole job on a simulated organisation as large as issue 13 names (101M events): ingest,
resolution and hunt, wall time, CPU time and peak memory, against reading the same input once.

    nice -n 10 .venv/bin/wormsign simulate --scenario emotet --hosts 10000 --days 3 \\
        --benign-volume 20 --compress-level 1 --out /tmp/sim101m          # ~101M events, not timed here
    .venv/bin/python bench/bench_scale.py /tmp/sim101m --case /tmp/c101m --workers 2

Steps, each in a fresh process whose tree is sampled for its resident size:

1. **baseline**: every input file read and decompressed once, on one thread (what any reader
   of these files pays before it parses a byte);
2. **ingest** (``ingest_paths`` with ``--workers``) then **resolution** (``resolve``), in one
   child, timed apart (CPU: the child's and its workers');
3. **hunt**: ``wormsign hunt --case C --out D``, the command a responder runs (the in-house Sigma
   rules, families, the files written);
4. the hunt's incidents scored against the simulator's ``truth.json`` (``wormsign eval``).

The floor of issue 13: ingest, resolution and hunt of 101M events in under 25 minutes on two
cores, with peak memory under 8 GiB: every step runs with ``WORMSIGN_MEMORY=8GiB`` (``--memory``), so
that DuckDB holds itself to 4 GiB as it would on such a machine. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_simulate import run_argv, run_child  # noqa: E402

BASELINE = r"""
import gzip, json, sys
from pathlib import Path
n = 0
for p in sorted(Path(json.loads(sys.argv[1])["logs"]).rglob("*")):
    if not p.is_file():
        continue
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as f:
        while chunk := f.read(1 << 20):
            n += len(chunk)
print(json.dumps({"bytes": n}))
"""

INGEST = r"""
import json, resource, sys, time
from wormsign.ingest import ingest_paths
from wormsign.resolve import resolve
from wormsign.store import Case

arg = json.loads(sys.argv[1])

def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

t0, c0 = time.perf_counter(), cpu()
with Case.open(arg["case"]) as case:
    report = ingest_paths([arg["logs"]], case, workers=arg["workers"])
    t1, c1 = time.perf_counter(), cpu()
    res = resolve(case)
    t2, c2 = time.perf_counter(), cpu()
    events = case.rows("SELECT count(*) FROM events")[0][0]
print(json.dumps({"ingest_s": t1 - t0, "ingest_cpu_s": c1 - c0, "resolve_s": t2 - t1, "resolve_cpu_s": c2 - c1,
                  "records": report.stats.read, "stored": report.stats.stored, "rejected": report.stats.rejected,
                  "events": events, "files": report.files, "addresses": res.addresses}))
"""


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sim", type=Path, help="the simulator's output (logs/, truth.json)")
    ap.add_argument("--case", type=Path, required=True, help="case directory to build (replaced)")
    ap.add_argument("--out", type=Path, help="the hunt's output folder (default: CASE-out)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--memory", default="8GiB",
                    help="WORMSIGN_MEMORY of every step: the machine the floor stands for (default 8GiB; "
                         "'' for this machine's)")
    args = ap.parse_args(argv)
    if args.memory:
        os.environ["WORMSIGN_MEMORY"] = args.memory
    else:
        os.environ.pop("WORMSIGN_MEMORY", None)
    logs = args.sim / "logs"
    if not logs.is_dir():
        raise SystemExit(f"{logs}: no such folder (give the simulator's --out)")
    out = args.out or args.case.with_name(args.case.name + "-out")
    for p in (args.case, out):
        shutil.rmtree(p, ignore_errors=True)
    fig: dict[str, Any] = {"load_before": load(), "workers": args.workers, "memory": args.memory}
    print(f"load average before: {fig['load_before']}; WORMSIGN_MEMORY={args.memory or '(unset)'}", flush=True)
    if not args.skip_baseline:
        base = run_child(BASELINE, {"logs": str(logs)})
        fig["baseline"] = {**json.loads(base["stdout"]), **{k: base[k] for k in ("seconds", "cpu_seconds")}}
        print(f"baseline (read and decompress once): {base['seconds']:.1f} s wall, {base['cpu_seconds']:.1f} CPU s, "
              f"{fig['baseline']['bytes'] / 2**30:.1f} GiB", flush=True)
    ing = run_child(INGEST, {"logs": str(logs), "case": str(args.case), "workers": args.workers})
    fig["ingest"] = {**json.loads(ing["stdout"].strip().splitlines()[-1]),
                     **{k: ing[k] for k in ("seconds", "cpu_seconds", "peak_rss_mb", "tree_peak_mb")}}
    i = fig["ingest"]
    print(f"ingest: {i['ingest_s']:.1f} s wall, {i['ingest_cpu_s']:.1f} CPU s; resolution: {i['resolve_s']:.1f} s wall, "
          f"{i['resolve_cpu_s']:.1f} CPU s; {i['events']:,} events stored, {i['rejected']:,} rejected; "
          f"peak {i['tree_peak_mb']:,.0f} MiB (tree), load {load()}", flush=True)
    wormsign = str(Path(sys.executable).with_name("wormsign"))
    hunt = run_argv([wormsign, "hunt", "--case", str(args.case), "--out", str(out), "--quiet"])
    fig["hunt"] = {k: hunt[k] for k in ("seconds", "cpu_seconds", "peak_rss_mb", "tree_peak_mb")}
    print(f"hunt: {hunt['seconds']:.1f} s wall, {hunt['cpu_seconds']:.1f} CPU s, peak {hunt['tree_peak_mb']:,.0f} MiB "
          f"(tree), load {load()}", flush=True)
    truth = args.sim / "truth.json"
    if truth.is_file():
        score = run_argv([wormsign, "eval", "--truth", str(truth), "--incidents", str(out / "incidents.json"),
                          "--json", str(out / "score.json")])
        fig["score"] = json.loads((out / "score.json").read_text())
        print(score["stdout"], flush=True)
    total = i["seconds"] + hunt["seconds"]
    peak = max(i["tree_peak_mb"], i["peak_rss_mb"], hunt["tree_peak_mb"], hunt["peak_rss_mb"])
    fig.update(total_s=total, peak_mb=peak, load_after=load())
    line = f"ingest + resolution + hunt: {total / 60:.1f} min wall (floor 25), peak {peak / 1024:.2f} GiB (floor 8)"
    if "baseline" in fig:
        line += f"; {total / fig['baseline']['seconds']:.1f} x the time to read the input once"
    print(line + f"; load average after: {fig['load_after']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(fig, indent=1, default=str))
    return fig


if __name__ == "__main__":
    main()
