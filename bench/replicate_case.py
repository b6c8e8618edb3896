"""Grow an ingested case by copying its events forward in time, for scale checks of the
resolution and the hunt without hours of simulation and ingest.

    .venv/bin/python bench/replicate_case.py SRC.duckdb DST.duckdb --copies 10

DST is a copy of SRC whose ``events`` table holds SRC's events ``--copies`` times: copy k is
shifted ``k`` times the span of SRC (rounded up to whole days) and its source digests are
suffixed ``-rK``, so every evidence reference stays unique. The hosts, addresses and habits
are the same in every copy, so an outbreak in SRC happens again in each copy: use the result
to measure time and memory, not detection quality (score that on a simulated case). DST is
left unresolved; ``bench_hunt.py --case DST`` resolves it in its own timed step.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--copies", type=int, default=10,
                    help="copies of the events in DST, the original included")
    a = ap.parse_args(argv)
    if a.dst.exists():
        print(f"{a.dst} exists; remove it first", file=sys.stderr)
        return 1
    shutil.copyfile(a.src, a.dst)
    con = duckdb.connect(str(a.dst))
    n0, days = con.execute(
        "SELECT count(*), CAST(ceil(epoch(max(ts) - min(ts)) / 86400) AS BIGINT) FROM events").fetchone()
    days = max(int(days or 1), 1)
    t = time.perf_counter()
    for k in range(1, a.copies):
        con.execute(
            """INSERT INTO events SELECT * REPLACE (ts + to_days(CAST(? AS INTEGER)) AS ts,
                                                   "src.digest" || '-r' || CAST(? AS VARCHAR) AS "src.digest")
               FROM events WHERE rowid < ?""",
            [k * days, k, n0],
        )
        print(f"copy {k}: {(k + 1) * n0:,} events, {time.perf_counter() - t:.0f} s", flush=True)
    con.execute("DELETE FROM meta WHERE key IN ('resolved', 'hunt_index', 'hunt')")
    con.execute("CHECKPOINT")
    con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
