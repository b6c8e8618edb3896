"""Benchmark ``wormsign serve`` under 50 concurrent clients, with and without event search, as
ratios to one client's p50 measured in the same run (issue 17, defect 9).

    .venv/bin/python bench/bench_api.py                   # simulates, ingests and hunts a case
    .venv/bin/python bench/bench_api.py --case /tmp/c     # a case already hunted (made if missing)

The case is ``wormsign simulate --scenario emotet --hosts 340 --days 3 --benign-volume 3 --seed 1``
(about 533k events; ``--hosts``/``--days`` change it), ingested and hunted. ``wormsign serve`` runs
as its own process; each phase runs its clients (httpx, asyncio) for ``--seconds`` and prints p50,
p99 (seconds and as ratios to the baseline) and the count of each status (a 429 is the search gate
turning a request away); then p50/p95/p99 per endpoint (a search is ``/api/events?q``) in the
``--clients`` phase with search. The load average is printed before and after: the machine may be
shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from wormsign.store import Case

WORMSIGN = Path(sys.executable).with_name("wormsign")
READS = ["/api/incidents", "/api/alerts?limit=50", "/api/hosts?limit=50", "/api/view",
         "/api/events?host=ws-0040&limit=50", "/api/incidents/INC-0001"]
SEARCHES = ["powershell", "ws-0040", "rundll32", "admin", "zz-not-there", ".dll"]


def build(case: Path, hosts: int, days: int) -> None:
    sim = case.parent / "sim"
    subprocess.run([str(WORMSIGN), "simulate", "--scenario", "emotet", "--hosts", str(hosts), "--days", str(days),
                    "--benign-volume", "3", "--seed", "1", "--out", str(sim)], check=True)
    subprocess.run([str(WORMSIGN), "ingest", str(sim), "--case", str(case)], check=False)
    subprocess.run([str(WORMSIGN), "hunt", "--case", str(case), "--out", str(case.parent)], check=True,
                   stdout=subprocess.DEVNULL)


def serve(case: Path) -> tuple[subprocess.Popen[str], int, str]:
    log = case.parent / "serve.log"  # serve's messages (a full pipe would stall it)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([str(WORMSIGN), "serve", "--case", str(case), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"), text=True,  # noqa: SIM115
                            env={**os.environ, "COLUMNS": "300"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.2)
    from wormsign.api import load_or_create

    token, _ = load_or_create(case)
    return proc, port, token


def endpoint(url: str) -> str:
    """The endpoint a URL asks for: its path, ``?q`` for a free-text search."""
    path, _, query = url.partition("?")
    return path + ("?q" if query.startswith("q=") or "&q=" in query else "")


async def phase(
    base: str, token: str, clients: int, seconds: float, search: bool, uncached: bool = False
) -> tuple[list[float], Counter[int], dict[str, list[float]]]:
    times: list[float] = []
    per: dict[str, list[float]] = {}
    codes: Counter[int] = Counter()
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as http:
        async def one(seed: int) -> None:
            rnd = random.Random(seed)
            while time.monotonic() < stop:
                url = (f"/api/events?q={rnd.choice(SEARCHES)}&limit=50" if search and rnd.random() < 0.5
                       else rnd.choice(READS))
                if uncached and url.startswith("/api/events?"):  # another page: no answer kept serves it
                    url += f"&offset={rnd.randrange(0, 1000)}"
                t = time.perf_counter()
                try:
                    status = (await http.get(url)).status_code
                except httpx.TransportError:  # counted as status 0: the server closed or failed
                    status = 0
                took = time.perf_counter() - t
                times.append(took)
                per.setdefault(endpoint(url), []).append(took)
                codes[status] += 1

        await asyncio.gather(*(one(i) for i in range(clients)))
    return times, codes, per


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[p - 1] if len(xs) > 1 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", type=Path)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--uncached", action="store_true",
                    help="each event search and read asks a random page (offset 0-999): serve has kept no answer")
    ap.add_argument("--hosts", type=int, default=340)
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    case = args.case
    if case is None or not case.exists():
        case = case or Path(tempfile.mkdtemp(prefix="wormsign-bench-api-")) / "case"
        build(case, args.hosts, args.days)
    proc, port, token = serve(case)
    base = f"http://127.0.0.1:{port}"
    with Case.open(str(case), read_only=True) as c:
        print(f"case {case}: {c.count():,} events", flush=True)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    try:
        rows = []
        base_t, _, _ = asyncio.run(phase(base, token, 1, args.seconds / 2, search=False))
        ref = pct(base_t, 50)
        for name, clients, search in (("1 client, search", 1, True),
                                      (f"{args.clients} clients, no search", args.clients, False),
                                      (f"{args.clients} clients, search", args.clients, True)):
            t, codes, per = asyncio.run(phase(base, token, clients, args.seconds, search, args.uncached))
            rows.append((name, t, codes, per))
        print(f"baseline (1 client, no search): p50 {ref * 1000:.1f} ms over {len(base_t)} requests")
        for name, t, codes, _ in rows:
            p50, p99 = pct(t, 50), pct(t, 99)
            print(f"{name:28} n={len(t):6} p50 {p50:7.3f} s ({p50 / ref:6.1f}x)  p99 {p99:7.3f} s "
                  f"({p99 / ref:6.1f}x)  status {dict(sorted(codes.items()))}")
        for name, _, _, per in rows[1:]:
            print(f"per endpoint, {name}:")
            for url, t in sorted(per.items()):
                print(f"  {url:28} n={len(t):6} p50 {pct(t, 50):7.3f} s  p95 {pct(t, 95):7.3f} s  "
                      f"p99 {pct(t, 99):7.3f} s")
        if proc.poll() is not None:
            print(f"serve exited with status {proc.returncode} (see {case.parent / 'serve.log'})")
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
