"""What the record identity across copies of a log costs at ingest (ingest/identity.py), in one run.

    .venv/bin/python bench/bench_identity.py                 # the shared EVTX corpus, 3 rounds
    .venv/bin/python bench/bench_identity.py --rounds 5 --workers 2

Each round ingests the EVTX corpus (../shared/corpus/evtx-attack-samples) into fresh cases:

- **keep**: with ``keep_copies`` (the ranges are still recorded, no row is compared): the baseline;
- **check**: as ``wormsign ingest`` does (each shard's ranges checked; the corpus's files are
  distinct, so few rows are compared);
- **copy**: then a second copy of the whole corpus, every file's header bytes changed, into the
  *check* case: every shard overlaps, its rows are compared and all of them left out.

It prints the median seconds of each and the ratios check/keep and copy/keep (the copy ingest
reads and parses as much as the first). The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wormsign.ingest import ingest_paths
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "evtx-attack-samples"


def _copy_tree(src: Path, dst: Path) -> None:
    for f in sorted(src.rglob("*.evtx")):
        data = bytearray(f.read_bytes())
        if len(data) >= 4096:
            data[4000:4008] = b"COPY0001"
        out = dst / f.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(bytes(data))


def _ingest(case: Path, src: Path, workers: int, keep: bool) -> tuple[float, int, int]:
    with Case.open(str(case)) as c:
        t = time.perf_counter()
        rep = ingest_paths([str(src)], c, workers=workers, keep_copies=keep)
        return time.perf_counter() - t, rep.stats.stored, rep.stats.copies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 1
    times: dict[str, list[float]] = {"keep": [], "check": [], "copy": []}
    with tempfile.TemporaryDirectory(prefix="wormsign-bench-identity-") as tmp:
        copy = Path(tmp) / "copy"
        _copy_tree(CORPUS, copy)
        for r in range(a.rounds):
            t, n_keep, _ = _ingest(Path(tmp) / f"keep-{r}", CORPUS, a.workers, True)
            times["keep"].append(t)
            t, n_check, _ = _ingest(Path(tmp) / f"check-{r}", CORPUS, a.workers, False)
            times["check"].append(t)
            t, n_copy, copies = _ingest(Path(tmp) / f"check-{r}", copy, a.workers, False)
            times["copy"].append(t)
            print(f"round {r + 1}: stored {n_keep:,} (keep), {n_check:,} (check); the copy: "
                  f"{n_copy:,} stored, {copies:,} left out as copies", flush=True)
            for k in ("keep", "check"):
                shutil.rmtree(Path(tmp) / f"{k}-{r}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"load average {os.getloadavg()[0]:.2f}; workers {a.workers}")
    for k, v in med.items():
        print(f"{k:>6}: {v:7.2f} s  (x{v / med['keep']:.2f} of keep)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
