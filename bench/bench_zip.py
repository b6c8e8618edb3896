"""Zip ingest benchmark: the time to ingest one zip of N small members, for several N.

Run from the repository root: ``.venv/bin/python bench/bench_zip.py`` (``--help`` for sizes).

Each member is a small Zeek JSON log (a few connections, content unique to the member, so the
digest dedupe skips none). Each zip is ingested into a fresh case; the times are printed with
their ratio to the smallest zip's and to what linear growth would give. Forensic collections
(KAPE, Velociraptor) are zips of thousands of files: the time should grow about linearly.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import orjson

from wormsign.ingest import ingest_paths
from wormsign.store import Case


def make_zip(path: Path, members: int, lines: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in range(members):
            recs = [
                {"_path": "conn", "ts": 1_700_000_000 + m * 10 + i, "uid": f"C{m:06d}{i:03d}",
                 "id.orig_h": f"10.0.{m % 250}.{i % 250 + 1}", "id.orig_p": 49152 + i,
                 "id.resp_h": "10.1.0.5", "id.resp_p": 445, "proto": "tcp"}
                for i in range(lines)
            ]
            zf.writestr(f"collection/host{m % 50:02d}/conn-{m:06d}.log",
                        b"\n".join(orjson.dumps(r) for r in recs) + b"\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, nargs="+", default=[500, 2000, 4000])
    ap.add_argument("--lines", type=int, default=3, help="records a member")
    ap.add_argument("--workers", type=int, default=1, help="parser processes (1: no pool)")
    args = ap.parse_args()
    results: list[tuple[int, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="wormsign-bench-zip-") as tmp:
        for n in args.members:
            zpath = Path(tmp) / f"c{n}.zip"
            make_zip(zpath, n, args.lines)
            with Case.open(str(Path(tmp) / f"c{n}.duckdb")) as case:
                t0 = time.perf_counter()
                rep = ingest_paths([str(zpath)], case, workers=args.workers)
                dt = time.perf_counter() - t0
            assert rep.files == n and rep.stats.stored == n * args.lines, (rep.files, rep.stats)
            results.append((n, dt, rep.stats.stored))
            print(f"{n:>6} members  {rep.stats.stored:>7} records  {dt:8.2f} s", flush=True)
    n0, t0, _ = results[0]
    print(f"\n{'members':>8} {'seconds':>9} {'x time':>8} {'x members':>10} {'ms/member':>10}")
    for n, dt, _ in results:
        print(f"{n:>8} {dt:>9.2f} {dt / t0:>8.2f} {n / n0:>10.2f} {1000 * dt / n:>10.2f}")


if __name__ == "__main__":
    main()
