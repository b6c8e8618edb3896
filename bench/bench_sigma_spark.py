"""The Sigma pass on Apache Spark against DuckDB, and Spark on two cores against one, in one run.

    .venv/bin/python bench/bench_sigma_spark.py ../shared/corpus/otrf-lateral \\
        --sigma ../shared/sigma/rules/windows

The evidence is ingested and resolved once (not timed) and the case copied once per engine.
Each copy runs the Sigma engine (``run_sigma``: the in-house rules and ``--sigma``) in a fresh
child process, twice: on DuckDB, on Spark ``local[1]`` and ``local[2]`` (the session is started
before the clock). The first run on DuckDB builds the case's field table (``sigma_cache``), as
every run on Spark builds its own (a cached view); the second reads DuckDB's kept table, and on
Spark has the rules' translations of the first. The rule set is compiled (and kept) before. The
engines alternate for ``--rounds`` rounds; printed: each run's wall time, the ratios
``local[1] / local[2]`` and Spark / DuckDB, whether the alerts are the same, and the load
average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = (("duckdb", None), ("spark", "local[1]"), ("spark", "local[2]"))


def child(case: str, engine: str, master: str | None, rules: list[str]) -> None:
    from wormsign.detect.sigma import run_sigma
    from wormsign.engine.setup import open_case

    with open_case(case, engine=engine, master=master) as c:
        times, alerts = [], None
        for _ in range(2):
            t = time.perf_counter()
            got = run_sigma(c, rules)
            times.append(round(time.perf_counter() - t, 2))
            alerts = [json.dumps(a, sort_keys=True, default=str) for a in got.alerts]
    print(json.dumps({"times": times, "alerts": len(alerts or []), "digest": hash(tuple(alerts or []))}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("evidence", nargs="+")
    ap.add_argument("--sigma", action="append", default=[], help="a SigmaHQ rule folder (repeatable)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        case, engine, master = args.child
        child(case, engine, None if master == "-" else master, args.sigma)
        return
    from wormsign import library
    from wormsign.detect.sigma import alerts, compiled

    compiled.rule_set([str(compiled.loader.BUILTIN), *args.sigma], alerts.settings())  # kept, not timed
    tmp = Path(tempfile.mkdtemp(prefix="wormsign-sigma-spark-"))
    try:
        base = tmp / "base"
        with library.open_case(base) as case:
            library.ingest(case, [Path(p) for p in args.evidence])
            events = case.count()
        print(f"{events} events; load {os.getloadavg()}", flush=True)
        results: dict[str, list[list[float]]] = {}
        digests = set()
        os.environ["PYTHONHASHSEED"] = "0"
        for r in range(args.rounds):
            for engine, master in ENGINES:
                copy = tmp / f"{engine}-{(master or '').strip('local[]')}-{r}"  # no [ ]: a glob in Spark's paths
                shutil.copytree(base, copy)
                rules = [x for s in args.sigma for x in ("--sigma", s)]
                cmd = [sys.executable, __file__, *args.evidence, *rules,
                       "--child", str(copy), engine, master or "-"]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{engine} {master}: failed\n{done.stderr[-3000:]}")
                out = done.stdout
                got = json.loads(out.strip().splitlines()[-1])
                name = master or engine
                results.setdefault(name, []).append(got["times"])
                digests.add((got["alerts"], got["digest"]))
                print(f"{name}: {got['times']} s, {got['alerts']} alerts; load {os.getloadavg()}", flush=True)
                shutil.rmtree(copy)
        best = {k: [min(t[i] for t in v) for i in range(2)] for k, v in results.items()}
        for i, what in enumerate(("first run", "second run")):
            d, one, two = best["duckdb"][i], best["local[1]"][i], best["local[2]"][i]
            print(f"{what}: duckdb {d} s, local[1] {one} s, local[2] {two} s; "
                  f"local[1]/local[2] {one / two:.2f}, local[2]/duckdb {two / d:.1f}")
        print("same alerts on every engine:", len(digests) == 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
