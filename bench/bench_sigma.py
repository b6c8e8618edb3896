"""Benchmark ``wormsign hunt --sigma`` with SigmaHQ's Windows rules against Zircolite with its own
generic rule set, on hayabusa-sample-evtx and on a 10x copy of it, wall and CPU, as ratios measured
in the same run (issue 13, part 5).

    .venv/bin/python bench/bench_sigma.py --samples /tmp/hayabusa-sample-evtx \\
        --zircolite /tmp/zircolite --zircolite-python /tmp/zvenv/bin/python

Nothing of the other projects is in this repository; the bench takes them where you put them
(the options, or the environment variables ``WORMSIGN_BENCH_SAMPLES``, ``WORMSIGN_BENCH_ZIRCOLITE``
and ``WORMSIGN_BENCH_ZIRCOLITE_PYTHON``):

    git clone https://github.com/Yamato-Security/hayabusa-sample-evtx /tmp/hayabusa-sample-evtx
    git clone https://github.com/wagga40/Zircolite /tmp/zircolite
    python3 -m venv /tmp/zvenv && /tmp/zvenv/bin/pip install -r /tmp/zircolite/requirements.txt

Each tool runs as a user would run it, in its own process, from the folder of EVTX files to its
results: wormsign ``hunt PATHS --case NEW --out DIR --sigma RULES`` (ingest, resolution, the
analytics, the in-house and SigmaHQ rules, incidents), Zircolite ``-e PATHS -r
rules/rules_windows_generic.json -o FILE`` (its rules come converted to SQL in that file). CPU is
the children's user + system time. The 10x copy stamps each copy's number in the EVTX header's
unused padding (bytes 4000-4007), and both tools read ten times the records (wormsign ingests the
copy with ``--keep-copies`` in a process of its own first, then hunts the case: its record
identity would store each record once else). The runs alternate (wormsign, Zircolite, ...) so
that a change of the machine's load falls on both; the load average is printed before and after,
and the best of ``--runs`` runs of each is compared. wormsign's compiled-rule cache
(``detect/sigma/compiled.py``) is emptied before its first run, whose time is printed apart
("cold"): a user pays it once per rule set.
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

ROOT = Path(__file__).resolve().parents[1]
WORMSIGN = Path(sys.executable).with_name("wormsign")
SIGMAHQ = ROOT.parent / "shared" / "sigma" / "rules" / "windows"
#: Floor of issue 13: wormsign at least this many times faster than Zircolite, wall and CPU.
FLOOR = 3.0


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (the child's user + system) seconds of one command; it must succeed (wormsign's
    exit status 3 says some records were rejected: the folders hold a few files that are no logs)."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})}, check=False)
    wall = time.perf_counter() - t0
    after = os.times()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def replicate(src: Path, copies: int, dest: Path) -> Path:
    """``copies`` copies of the tree ``src``, each EVTX file stamped with its copy's number."""
    for k in range(copies):
        for f in sorted(src.rglob("*.evtx")):
            out = dest / f"copy-{k:02d}" / f.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            data = bytearray(f.read_bytes())
            if len(data) >= 4096:
                data[4000:4008] = k.to_bytes(8, "little")
            out.write_bytes(data)
    return dest


def wormsign(samples: Path, rules: Path, work: Path, cache: Path, *, copies: bool = False,
             ) -> tuple[float, float, dict[str, int]]:
    """``hunt PATHS --case NEW --out DIR --sigma RULES``; with ``copies``, ``ingest PATHS --case NEW
    --keep-copies`` first and then ``hunt --case``, both processes timed (the record identity of
    ingest/identity.py stores one copy of a log's records else, and hunt has no --keep-copies)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = {"WORMSIGN_CACHE": str(cache)}
    case = ["--case", str(work / "case")]
    wall = cpu = 0.0
    if copies:
        wall, cpu = run([str(WORMSIGN), "ingest", str(samples), *case, "--keep-copies", "-q"], env=env)
    w, c = run([str(WORMSIGN), "hunt", *([] if copies else [str(samples)]), *case, "--out", str(work),
                "--sigma", str(rules)], env=env)
    wall, cpu = wall + w, cpu + c
    doc = json.loads((work / "incidents.json").read_text(encoding="utf-8"))
    with (work / "alerts.ndjson").open(encoding="utf-8") as fh:
        alerts = sum(1 for _ in fh)
    return wall, cpu, {"alerts": alerts, "incidents": len(doc["incidents"])}


def zircolite(samples: Path, home: Path, python: str, work: Path) -> tuple[float, float, dict[str, int]]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out = work / "detected.json"
    cmd = [python, str(home / "zircolite.py"), "-e", str(samples), "-r",
           str(home / "rules" / "rules_windows_generic.json"), "-o", str(out), "-l", str(work / "z.log"), "-q"]
    cwd = os.getcwd()
    os.chdir(home)  # it reads its config/ and templates/ beside it
    try:
        wall, cpu = run(cmd)
    finally:
        os.chdir(cwd)
    found = json.loads(out.read_text(encoding="utf-8")) if out.exists() else []
    return wall, cpu, {"rules matched": len(found), "detections": sum(int(r.get("count", 0)) for r in found)}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", default=os.environ.get("WORMSIGN_BENCH_SAMPLES"),
                    help="hayabusa-sample-evtx checkout")
    ap.add_argument("--zircolite", default=os.environ.get("WORMSIGN_BENCH_ZIRCOLITE"), help="Zircolite checkout")
    ap.add_argument("--zircolite-python", default=os.environ.get("WORMSIGN_BENCH_ZIRCOLITE_PYTHON"),
                    help="Python of a venv with Zircolite's requirements")
    ap.add_argument("--sigma", default=str(SIGMAHQ), help="SigmaHQ rules/windows")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--runs", type=int, default=2, help="runs of each tool on each corpus (the best counts)")
    ap.add_argument("--only", choices=["1x", "copies"], help="one corpus only")
    args = ap.parse_args(argv)
    if not (args.samples and args.zircolite and args.zircolite_python):
        ap.error("--samples, --zircolite and --zircolite-python (or their environment variables) are needed")
    samples, home = Path(args.samples), Path(args.zircolite)
    print(f"load average before: {load()}  (cores: {os.cpu_count()})")
    with tempfile.TemporaryDirectory(prefix="bench-sigma-") as tmp:
        t = Path(tmp)
        cache = t / "wormsign-cache"
        corpora = []
        if args.only != "copies":
            corpora.append(("hayabusa-sample-evtx", samples))
        if args.only != "1x":
            corpora.append((f"{args.copies}x copy", replicate(samples, args.copies, t / "copies")))
        n_files = len(list(samples.rglob("*.evtx")))
        print(f"{n_files} EVTX files in {samples}; rules: SigmaHQ {args.sigma} against Zircolite "
              f"{home / 'rules' / 'rules_windows_generic.json'}")
        cold = wormsign(samples, Path(args.sigma), t / "w-cold", cache)
        print(f"wormsign, rule cache cold, hayabusa-sample-evtx: wall {cold[0]:.2f} s, cpu {cold[1]:.2f} s, {cold[2]}")
        rows = []
        for name, path in corpora:
            best: dict[str, tuple[float, float, dict[str, int]]] = {}
            for i in range(args.runs):
                for tool in ("wormsign", "zircolite"):
                    got = (wormsign(path, Path(args.sigma), t / f"w{i}", cache, copies=path != samples)
                           if tool == "wormsign"
                           else zircolite(path, home, args.zircolite_python, t / f"z{i}"))
                    print(f"  {name:22s} {tool:9s} run {i + 1}: wall {got[0]:7.2f} s  cpu {got[1]:7.2f} s  {got[2]}"
                          f"  (load {load()})")
                    if tool not in best or got[0] < best[tool][0]:
                        best[tool] = got
            rows.append((name, best["wormsign"], best["zircolite"]))
    print(f"load average after: {load()}")
    print()
    print("| corpus | wormsign wall s | Zircolite wall s | wall ratio | wormsign cpu s | Zircolite cpu s | cpu ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ok = True
    for name, w, z in rows:
        rw, rc = z[0] / w[0], z[1] / w[1]
        ok &= rw >= FLOOR and rc >= FLOOR
        print(f"| {name} | {w[0]:.2f} | {z[0]:.2f} | {rw:.2f}x | {w[1]:.2f} | {z[1]:.2f} | {rc:.2f}x |")
    print()
    print(f"floor: wormsign >= {FLOOR:.0f}x faster than Zircolite on both corpora, wall and cpu: "
          f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
