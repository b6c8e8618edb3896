"""The hunt on Apache Spark against DuckDB, and Spark on two cores against one, in one run.

    .venv/bin/python bench/bench_spark.py                               # ~10M events
    .venv/bin/python bench/bench_spark.py --events 101000000 --copies 101   # the 101M case
    .venv/bin/python bench/bench_spark.py --events 1000000 --copies 4       # a quick look

A simulated case of about ``--events`` events is built as bench_incremental.py builds it
(simulate + ingest about ``--events / --copies`` events, not timed, then replicated), left
unresolved, and copied once per engine. Each copy is resolved and hunted (``ensure_resolved``
then ``hunt``, no Sigma folder) in a fresh child process: on DuckDB, on Spark ``local[1]`` and
on Spark ``local[2]``. Printed: wall time (the JVM's CPU is not the child's), the scaling
``local[1] / local[2]`` (issue 14's floor: 1.7 on the 101M case) and Spark's time as a multiple
of DuckDB's; whether the three hunts gave the same incidents; the load average (the machine is
shared) before and after each run; and for each catalog table the passes fill, the time of its
Spark statements on each core count (the engine's own log), so that the pass that scales least
shows. ``--rounds N`` runs each engine N times, local[1] and local[2] in alternating order
(``--two-first``: local[2] first), and compares each one's best run (the scaling of each round
is printed too).

``--spark-only`` runs no DuckDB (its time taken from an earlier run of the same case): the
scaling alone, in less time.

``--event-log DIR`` keeps Spark's event log of each Spark run (``DIR/local1-r1``, ...) with the
span of each catalog table's statements; ``bench/spark_stages.py DIR/local2-r1`` says, per table,
how long one task, two or none ran, and the tasks' run, CPU, GC and spill.

``--pin`` runs Spark ``local[N]`` on N cores only (the child's CPU affinity, which the JVM it starts
inherits): unpinned, ``local[1]`` is one task thread, but the JVM's garbage collector, JIT compiler
and Parquet reading run beside it on the other core (the load average read about 2 during an
unpinned ``local[1]`` on an idle 2-core machine), so the ratio of the two is not that of one core to
two. DuckDB runs on every core either way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hunt import _child, build_case  # noqa: E402
from bench_incremental import _replicate, case_args  # noqa: E402

HUNT = """
import json, os, sys, time
from wormsign.hunt import hunt
from wormsign.resolve import ensure_resolved
from wormsign.engine.setup import open_case
a = json.loads(sys.argv[1])
if a.get("cpus"):  # before the JVM starts: it inherits the affinity, and sizes its GC and JIT threads by it
    os.sched_setaffinity(0, set(range(a["cpus"])))
if a.get("event_log"):  # Spark's own log of every stage and task (bench/spark_stages.py reads it)
    import wormsign.engine.spark as ws
    ws.SESSION_CONF.update({"spark.eventLog.enabled": "true", "spark.eventLog.compress": "false",
                            "spark.eventLog.dir": "file://" + a["event_log"]})
import logging
passes = {}  # the Spark statements' own log (engine/passes.py): seconds and rows per catalog table
class Passes(logging.Handler):
    def emit(self, rec):
        if rec.msg.startswith("spark: "):
            p = passes.setdefault(rec.args[0], {"seconds": 0.0, "rows": 0, "statements": 0})
            p["seconds"] += rec.args[2]; p["rows"] += rec.args[1]; p["statements"] += 1
            if a.get("event_log"):  # each statement's span, for the event log's tasks
                now = time.time()
                p.setdefault("spans", []).append((now - rec.args[2], now))
lg = logging.getLogger("wormsign.engine.passes"); lg.setLevel(logging.DEBUG); lg.addHandler(Passes())
t = time.perf_counter()
with open_case(a["case"], engine=a["engine"], master=a["master"]) as case:
    case.engine.execute("SET enable_progress_bar = false")  # it writes to stdout
    t1 = time.perf_counter()
    ensure_resolved(case)
    t2 = time.perf_counter()
    doc = hunt(case, sigma_rules=None).document
    t3 = time.perf_counter()
    doc.pop("generated_at"); doc.pop("case")
    print(json.dumps({"start": t1 - t, "resolve": t2 - t1, "hunt": t3 - t2, "total": t3 - t,
                      "passes": passes, "incidents": len(doc["incidents"]), "digest": __import__("hashlib").sha256(
                          json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()}))
"""


def _run_dir(root: Path, name: str, rnd: int) -> Path:
    """The folder of one Spark run's event log: ``ROOT/local1-r1``, ..."""
    d = root / f"{name.split()[-1].replace('[', '').replace(']', '')}-r{rnd + 1}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    case_args(ap, hosts=500)
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs of each engine (the Spark ones in alternating order); each one's best is compared")
    ap.add_argument("--case", type=Path, default=None,
                    help="an unresolved case to use (kept), or where to keep the one built")
    ap.add_argument("--spark-only", action="store_true",
                    help="no DuckDB run (its time from an earlier run of the same case): the scaling alone")
    ap.add_argument("--two-first", action="store_true",
                    help="run local[2] before local[1] in the first round (and so in every odd one)")
    ap.add_argument("--event-log", type=Path, default=None,
                    help="write Spark's event log of each Spark run under this folder (one subfolder per run, "
                         "with the statements' spans): bench/spark_stages.py reads it")
    ap.add_argument("--pin", action="store_true",
                    help="run Spark local[N] on N cores only (CPU affinity), so that local[1] has one core")
    args = ap.parse_args(argv)
    args.events = max(args.events // max(args.copies, 1), 1)
    work = Path(tempfile.mkdtemp(prefix="wormsign-bench-spark-", dir=args.tmp))
    runs: dict[str, Any] = {}
    every: dict[str, list[dict[str, Any]]] = {}
    try:
        base, case = work / "base", args.case or work / "case"
        if not case.exists():
            print(f"base case: {build_case(args, base, work)}", flush=True)
            _replicate(str(base), str(case), "--copies", str(args.copies))
        engines = [("duckdb", "duckdb", None), ("spark local[1]", "spark", "local[1]"),
                   ("spark local[2]", "spark", "local[2]")]
        for rnd in range(args.rounds):
            # the two Spark runs alternate their order from round to round (the load drifts)
            order = engines if (rnd + args.two_first) % 2 == 0 else [engines[0], engines[2], engines[1]]
            order = order[1:] if args.spark_only else order
            for name, engine, master in order:
                copy = work / name.replace(" ", "_").replace("[", "").replace("]", "")
                shutil.copytree(case, copy)
                load = os.getloadavg()[0]
                cpus = int(master[6:-1]) if args.pin and master else 0
                arg = {"case": str(copy), "engine": engine, "master": master, "cpus": cpus}
                if args.event_log and engine == "spark":
                    arg["event_log"] = str(_run_dir(args.event_log, name, rnd))
                r = _child(HUNT, arg)
                if "event_log" in arg:
                    (Path(arg["event_log"]) / "spans.json").write_text(json.dumps(
                        {t: p.pop("spans", []) for t, p in r.get("passes", {}).items()}))
                shutil.rmtree(copy, ignore_errors=True)
                r["load_before"], r["load_after"], r["round"] = load, os.getloadavg()[0], rnd + 1
                every.setdefault(name, []).append(r)
                print(f"round {rnd + 1} {name:15s} {r['wall_seconds']:8.1f} s wall (session {r['start']:.1f}, "
                      f"resolve {r['resolve']:.1f}, hunt {r['hunt']:.1f}), peak RSS {r['peak_rss_mb']:,.0f} MiB "
                      f"(the Python process), {r['incidents']} incidents, load {load:.2f} -> {r['load_after']:.2f}",
                      flush=True)
        # each engine's best run (the least disturbed by the others on the machine)
        runs.update({k: min(v, key=lambda r: r["wall_seconds"]) for k, v in every.items()})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    one, two = (runs[k]["wall_seconds"] for k in ("spark local[1]", "spark local[2]"))
    duck = runs["duckdb"]["wall_seconds"] if "duckdb" in runs else float("nan")
    rounds = [e1["wall_seconds"] / e2["wall_seconds"]
              for e1, e2 in zip(every["spark local[1]"], every["spark local[2]"], strict=True)]
    out = {"runs": runs, "every": every, "scaling": one / two, "pinned": args.pin,
           "scaling_per_round": rounds,
           "spark2_over_duckdb": two / duck,
           # per round: the code in the tree may change between rounds (a shared checkout)
           "same_incidents": all(len({v[i]["digest"] for v in every.values()}) == 1 for i in range(args.rounds)),
           "loadavg": os.getloadavg()}
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({os.cpu_count()} cores)")
    print("best of " + str(args.rounds) + ": " + ", ".join(f"{k} {v['wall_seconds']:.1f} s" for k, v in runs.items()))
    print("scaling per round: " + ", ".join(f"{x:.2f}" for x in rounds))
    p1, p2 = runs["spark local[1]"].get("passes", {}), runs["spark local[2]"].get("passes", {})
    for table in sorted(p1, key=lambda k: -p1[k]["seconds"]):
        if table in p2:  # each catalog table's Spark statements, best runs (the largest first)
            print(f"  {table:14s} local[1] {p1[table]['seconds']:8.1f} s, local[2] {p2[table]['seconds']:8.1f} s: "
                  f"{p1[table]['seconds'] / max(p2[table]['seconds'], 1e-9):.2f}x ({p2[table]['rows']:,} rows)")
    print(f"Spark local[2] is {out['scaling']:.2f}x local[1] (best runs; floor 1.7 on 101M events; "
          f"{'each on as many cores as its threads' if args.pin else 'not pinned'}); "
          + (f"Spark local[2] takes {out['spark2_over_duckdb']:.2f}x DuckDB's time; " if "duckdb" in runs
             else "no DuckDB run; ")
          + f"same incidents on all {len(every)} (in each round): {out['same_incidents']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
