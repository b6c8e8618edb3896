"""Benchmark what a live stream's shards cost the hunt, and the merge of them (issue 15).

``wormsign serve`` commits a shard a cycle and resolves it at once. Before the merge of resolved
shards (:func:`wormsign.resolve.compact`), a stream grew by one file a cycle for good, and every
query of the hunt opened them all. This bench streams a simulated run into a case the way the
live writer does (``--batches`` ingests, each resolved), copies it, merges the copy's shards, and
times the hunt (``hunt(sigma_rules=[])``, the live writer's) on both, alternately, best of
``--rounds``; the ratio is the unmerged case's time over the merged one's, in the same run.

    .venv/bin/python bench/bench_compact.py                 # 40 hosts, 1 day, 200 batches
    .venv/bin/python bench/bench_compact.py --batches 400 --work /tmp/bc
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson


def _docs(sim: Path) -> list[bytes]:
    out = []
    for f in sorted((sim / "logs" / "winlogbeat").glob("*.ndjson.gz")):
        with gzip.open(f, "rb") as fh:
            out += [ln.rstrip(b"\r\n") for ln in fh if ln.strip()]
    out.sort(key=lambda ln: str(orjson.loads(ln)["@timestamp"]))
    return out


def _timed(fn: object) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--batches", type=int, default=200, help="ingests, each resolved (a live cycle each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    from wormsign import resolve
    from wormsign.hunt import hunt
    from wormsign.ingest.pipeline import ingest_paths
    from wormsign.simulate import simulate
    from wormsign.store import Case

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-compact-"))
    sim = work / "sim"
    if not (sim / "truth.json").exists():
        simulate("emotet", args.hosts, args.days, args.seed, sim)
    docs = _docs(sim)
    size = max(1, -(-len(docs) // args.batches))
    print(f"{len(docs)} Winlogbeat documents in {args.batches} batches of {size}; load average {os.getloadavg()}")
    streamed, merged = work / "streamed", work / "merged"
    if not streamed.exists():
        batches = work / "batches"
        batches.mkdir(exist_ok=True)
        t = time.perf_counter()
        for n, i in enumerate(range(0, len(docs), size)):
            f = batches / f"b{n:05d}.ndjson"
            f.write_bytes(b"\n".join(docs[i:i + size]) + b"\n")
            with Case.open(str(streamed)) as case:
                ingest_paths([str(f)], case, workers=1)
                resolve.ensure_resolved(case)
        print(f"streamed in {time.perf_counter() - t:.1f} s")
    shutil.rmtree(merged, ignore_errors=True)
    shutil.copytree(streamed, merged)
    with Case.open(str(merged)) as case:
        n = len(case.shard_ids())
        wall, cpu = _timed(lambda: resolve.compact(case, most=1))
        print(f"merge of {n} shards into {len(case.shard_ids())}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    for side in (streamed, merged):  # a first hunt each, untimed: both hunted before the rounds
        with Case.open(str(side)) as case:
            hunt(case, sigma_rules=[])
    best: dict[str, list[float]] = {"streamed": [9e9, 9e9], "merged": [9e9, 9e9]}
    for _ in range(args.rounds):
        for name, side in (("streamed", streamed), ("merged", merged)):
            with Case.open(str(side)) as case:
                wall, cpu = _timed(lambda c=case: hunt(c, sigma_rules=[]))
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    for name in best:
        with Case.open(str(work / name), read_only=True) as case:
            shards = len(case.shard_ids())
        print(f"hunt, {name:8s} ({shards:4d} shards): {best[name][0]:.3f} s wall, {best[name][1]:.3f} s CPU (best)")
    print(f"ratio unmerged / merged: {best['streamed'][0] / best['merged'][0]:.2f} wall, "
          f"{best['streamed'][1] / best['merged'][1]:.2f} CPU; load average {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
