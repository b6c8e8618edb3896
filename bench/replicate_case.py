"""Grow an ingested case by copying its events forward in time, for scale checks of the
resolution and the hunt without hours of simulation and ingest.

    .venv/bin/python bench/replicate_case.py SRC_CASE DST_CASE --copies 10
    .venv/bin/python bench/replicate_case.py SRC_CASE DST_CASE --fraction 0.01 --append   # add 1 %

DST holds SRC's events ``--copies`` times, as shards of its own: copy k is shifted ``k``
times the span of SRC (rounded up to whole days) and its source digests are suffixed
``-rK``, so every evidence reference stays unique. The hosts, addresses and habits are the
same in every copy, so an outbreak in SRC happens again in each copy: use the result to
measure time and memory, not detection quality (score that on a simulated case). With
``--append``, DST exists and gains one more copy of the first ``--fraction`` of SRC's events
(in SRC's storage order), shifted past DST's last event: what adding a day's files does.
DST is left unresolved; ``bench_hunt.py --case DST`` resolves it in its own timed step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from wormsign import schema
from wormsign.store import Case


def _copy(src: Path, case: Case, k: int, shift_days: int, limit: int | None) -> int:
    """Write copy ``k`` of SRC's raw events (the first ``limit``) into ``case``; the rows written."""
    data = ds.dataset(str(src / "events"), format="parquet")
    done = 0
    w = case.new_shard()
    for rb in data.to_batches(columns=list(schema.FIELD_NAMES), batch_size=256 * 1024):
        if limit is not None and done >= limit:
            break
        t = pa.Table.from_batches([rb])
        if limit is not None:
            t = t.slice(0, limit - done)
        t = t.set_column(t.schema.get_field_index("ts"), "ts",
                         pc.add(t.column("ts"), pa.scalar(shift_days * 86_400_000_000, pa.duration("us"))))
        t = t.set_column(t.schema.get_field_index("src.digest"), "src.digest",
                         pc.binary_join_element_wise(t.column("src.digest"), f"-r{k}", ""))
        w.write(t)
        done += t.num_rows
        if w.rows + t.num_rows >= 2_000_000:  # shards of about 2M rows, as ingest's groups
            w.close()
            case.commit_shard(w)
            w = case.new_shard()
    w.close()
    case.commit_shard(w)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--copies", type=int, default=10, help="copies of the events in DST, the original included")
    ap.add_argument("--append", action="store_true", help="add one copy of --fraction of SRC to DST")
    ap.add_argument("--fraction", type=float, default=0.01)
    a = ap.parse_args(argv)
    if a.dst.exists() != a.append:
        print(f"{a.dst} {'does not exist' if a.append else 'exists; remove it first'}", file=sys.stderr)
        return 1
    with Case.open(str(a.src), read_only=True) as src:
        n0 = src.count()
        first, last = src.rows("SELECT min(ts), max(ts) FROM events")[0]
    days = max(int(-(-(last - first).total_seconds() // 86400)), 1)
    t = time.perf_counter()
    with Case.open(str(a.dst)) as dst:
        if a.append:
            end = dst.rows("SELECT max(ts) FROM events")[0][0]
            k = int(-(-(end - first).total_seconds() // 86400 // days)) + 1
            n = _copy(a.src, dst, 1000 + k, k * days, max(int(n0 * a.fraction), 1))
            print(f"added {n:,} events ({a.fraction:.1%} of {n0:,}), {time.perf_counter() - t:.0f} s")
            return 0
        for k in range(a.copies):
            _copy(a.src, dst, k, k * days, None)
            print(f"copy {k}: {(k + 1) * n0:,} events, {time.perf_counter() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
