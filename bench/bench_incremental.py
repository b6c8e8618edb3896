"""Adding files to a large case: the incremental resolution against a full one, in one run.

    .venv/bin/python bench/bench_incremental.py                       # ~10M events, +1 %
    .venv/bin/python bench/bench_incremental.py --events 1000000 --copies 4   # a quick look

A simulated case of about ``--events / --copies`` events is built (simulate + ingest, not
timed), grown to ``--copies`` copies of itself (``replicate_case.py``), and resolved: the
**full resolution** (every shard observed, every key computed, the hunt's pass stored), timed
in a fresh child process. Then ``--fraction`` of the events is added as a new shard
(``replicate_case.py --append``: a later copy of the first events, so the same hosts and
addresses) and resolved again: the **incremental resolution**, timed the same way. The
figure is its wall (and CPU) time as a fraction of the full one; the floor (issue 13) is 5 %
for 1 %. The load average is printed, since the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hunt import RESOLVE, _child, build_case  # noqa: E402
from bench_simulate import run_child  # noqa: E402

HERE = Path(__file__).resolve().parent


def _replicate(*args: str) -> float:
    t = time.perf_counter()
    res = run_child(f"import sys; sys.argv = ['replicate_case.py', *{list(args)!r}]\n"
                    f"sys.path.insert(0, {str(HERE)!r})\nimport replicate_case\nraise SystemExit(replicate_case.main())",
                    {})
    out = res.get("stdout") or b""
    print((out.decode() if isinstance(out, bytes) else out).strip().splitlines()[-1:], flush=True)
    return time.perf_counter() - t


def case_args(ap: argparse.ArgumentParser, *, hosts: int) -> None:
    """The options of the simulated case a bench builds (``build_case``), and where it works."""
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--hosts", type=int, default=hosts)
    ap.add_argument("--days", type=int, default=0)
    ap.add_argument("--scenario", default="emotet-qakbot")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--from", dest="from_dir", type=Path, default=None)
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    case_args(ap, hosts=1000)
    ap.add_argument("--fraction", type=float, default=0.01)
    args = ap.parse_args(argv)
    args.events = max(args.events // max(args.copies, 1), 1)
    work = Path(tempfile.mkdtemp(prefix="wormsign-bench-inc-", dir=args.tmp))
    try:
        base, case = work / "base", work / "case"
        built = build_case(args, base, work)
        print(f"base case: {built}", flush=True)
        _replicate(str(base), str(case), "--copies", str(args.copies))
        full = _child(RESOLVE, {"case": str(case)})
        # a fraction of the whole case: that many times the base
        _replicate(str(base), str(case), "--append", "--fraction", str(args.fraction * args.copies))
        inc = _child(RESOLVE, {"case": str(case)})
        again = _child(RESOLVE, {"case": str(case)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = {"full": full, "incremental": inc, "nothing_new": again,
           "ratio_wall": inc["wall_seconds"] / full["wall_seconds"], "ratio_cpu": inc["cpu"] / full["cpu"],
           "loadavg": os.getloadavg()}
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (2 cores)")
    print(f"full resolution        {full['wall_seconds']:8.1f} s wall {full['cpu']:8.1f} s CPU  "
          f"peak RSS {full['peak_rss_mb']:,.0f} MiB")
    print(f"+{args.fraction:.0%} events, resolve   {inc['wall_seconds']:8.1f} s wall {inc['cpu']:8.1f} s CPU  "
          f"ratio {out['ratio_wall']:.3f} wall, {out['ratio_cpu']:.3f} CPU (floor 0.05)")
    print(f"nothing new, resolve   {again['wall_seconds']:8.1f} s wall (ran: {again['ran']})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
