"""Where a Spark run's time went, per catalog table: from Spark's event log and the spans of
the statements that filled each table (``bench_spark.py --event-log DIR`` writes both).

    .venv/bin/python bench/spark_stages.py DIR/local2-r1              # one run
    .venv/bin/python bench/spark_stages.py DIR/local1-r1 DIR/local2-r1 # two, side by side

For each table (and "(elsewhere)": the rest of the run, such as the keys files' pass and the
driver between statements): the wall time of its statements; how much of it had no task
running (the driver: planning, the catalog's append, Python), one task, or two or more (both
cores busy on
``local[2]``); and the tasks' own totals: run time, CPU time of the task thread (less than run
time when the thread waits: disk, or another thread on its core), JVM GC time, shuffle write
time, and bytes spilled to disk by sorts and aggregates. A table whose wall time is mostly
"one task" on ``local[2]`` lacks parallel work (few or skewed tasks); one whose tasks' run time
grows from ``local[1]`` to ``local[2]`` does the same work slower on two threads (memory,
disk, the JVM's own threads).
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path
from typing import Any

FIELDS = ("wall", "none", "one", "two+", "run", "cpu", "gc", "shuffle_write", "spill_gb", "tasks")


def tasks(run_dir: Path) -> list[dict[str, float]]:
    """Every finished task of the run's event log(s): start and end (s), and its metrics."""
    out = []
    logs = sorted(run_dir.glob("eventlog_v2_*/events_*"), key=lambda f: int(f.name.split("_")[1]))
    logs += [f for f in run_dir.glob("local-*") if f.is_file()]  # a log not rolled
    for f in logs:
        with f.open() as fh:
            for line in fh:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                e = json.loads(line)
                info, m = e["Task Info"], e.get("Task Metrics") or {}
                shuffle = m.get("Shuffle Write Metrics") or {}
                out.append({"start": info["Launch Time"] / 1e3, "end": info["Finish Time"] / 1e3,
                            "run": m.get("Executor Run Time", 0) / 1e3,
                            "cpu": m.get("Executor CPU Time", 0) / 1e9, "gc": m.get("JVM GC Time", 0) / 1e3,
                            "shuffle_write": shuffle.get("Shuffle Write Time", 0) / 1e9,
                            "spill_gb": m.get("Disk Bytes Spilled", 0) / 1e9})
    if not out:
        raise SystemExit(f"{run_dir}: no Spark event log with tasks (bench_spark.py --event-log)")
    return out


def busy(ts: list[dict[str, float]], a: float, b: float) -> collections.Counter[str]:
    """Seconds of [a, b] with no task running, one, and two or more."""
    inside = [t for t in ts if t["end"] > a and t["start"] < b]
    marks = sorted(p for t in inside for p in ((max(t["start"], a), 1), (min(t["end"], b), -1)))
    got: collections.Counter[str] = collections.Counter()
    running, last = 0, a
    for x, d in marks:
        got[("none", "one", "two+")[min(running, 2)]] += x - last
        running, last = running + d, x
    got["none"] += b - last
    return got


def summary(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per table: FIELDS, over the spans of its statements."""
    spans = json.loads((run_dir / "spans.json").read_text())
    ts = tasks(run_dir)
    out: dict[str, dict[str, float]] = {}
    for table, ss in spans.items():
        row: collections.Counter[str] = collections.Counter()
        for a, b in ss:
            inside = [t for t in ts if t["start"] < b and t["end"] > a]
            row["wall"] += b - a
            row.update(busy(inside, a, b))
            for k in ("run", "cpu", "gc", "shuffle_write", "spill_gb"):
                row[k] += sum(t[k] for t in inside)
            row["tasks"] += len(inside)
        out[table] = {k: float(row[k]) for k in FIELDS}
    # the rest of the run, from its first task or statement to its last: the passes that fill
    # no catalog table (the keys files), and the driver between statements
    every = [x for ss in spans.values() for x in ss]
    a = min([t["start"] for t in ts] + [x[0] for x in every])
    b = max([t["end"] for t in ts] + [x[1] for x in every])
    whole: collections.Counter[str] = collections.Counter({"wall": b - a, "tasks": len(ts)})
    whole.update(busy(ts, a, b))
    for k in ("run", "cpu", "gc", "shuffle_write", "spill_gb"):
        whole[k] += sum(t[k] for t in ts)
    for row in list(out.values()):
        whole.subtract(row)
    out["(elsewhere)"] = {k: float(whole[k]) for k in FIELDS}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path,
                    help="a run's folder (bench_spark.py --event-log DIR/local2-r1)")
    args = ap.parse_args(argv)
    got = {str(r): summary(r) for r in args.runs}
    first = next(iter(got.values()))
    for name, rows in got.items():
        print(f"{name}\n  {'table':14s} " + " ".join(f"{k:>9s}" for k in FIELDS))
        total: collections.Counter[str] = collections.Counter()
        for table in sorted(first, key=lambda t: -first[t]["wall"]):
            if table in rows:
                total.update(rows[table])
                print(f"  {table:14s} " + " ".join(f"{rows[table][k]:9.1f}" for k in FIELDS))
        print(f"  {'(all)':14s} " + " ".join(f"{total[k]:9.1f}" for k in FIELDS))
    return got


if __name__ == "__main__":
    main()
