"""Live ingest: the latency from POST to an alert visible in the API, on replayed simulator output
(issue 15, "under 1 s at the median").

    .venv/bin/python bench/bench_live.py                       # emotet, 40 hosts, 1 day, 200 events/s
    .venv/bin/python bench/bench_live.py --rate 500 --interval 1 --hosts 80

``wormsign simulate`` writes a run; its Winlogbeat documents, in time order, are posted to a fresh
``wormsign serve --create`` (its own process) as Winlogbeat posts them (``_bulk``, gzip), one
request each ``--interval`` seconds holding ``rate x interval`` documents, so the run's day is
replayed at ``--rate`` events a second. A poller reads ``/api/alerts`` every 50 ms (the total,
and every page when it changes). An alert's latency is the time from the POST of the request that
held its last evidence (the first posted document at or after its ``last_seen``, as the API first
showed it) to the moment the API first showed it, whether as an early alert (``EAR-``, the
in-house single-event Sigma rules on what arrived, before the hunt: api/early.py) or a hunt's. Another thread reads ``/api/hosts`` (the case itself, not the published result) every
50 ms and counts its answers by status (503 while the live writer holds the case). Alerts are told apart by (rule, host, first
seen, first evidence record): an early alert and the hunt's alert that replaces it are one finding
(the hunt may name its source host where the early one could not). One whose evidence was all
posted before is counted once, when first seen. Printed: all alerts, those first shown early,
those first shown by a hunt, and each host's first alert (the one whose evidence starts first).
Incidents are timed the same way (by type, patient zero, first seen). The load average is
printed before and after: the machine may be shared. The Zeek logs of the run are not sent.
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import httpx
import orjson

WORMSIGN = [sys.executable, "-c", "import sys; from wormsign.cli import main; sys.exit(main())"]


def docs_of(sim: Path) -> list[tuple[str, bytes]]:
    """The run's Winlogbeat documents as (@timestamp, line), in time order."""
    out = []
    for f in sorted((sim / "logs" / "winlogbeat").glob("*.ndjson.gz")):
        with gzip.open(f, "rb") as fh:
            for line in fh:
                if line.strip():
                    line = line.rstrip(b"\r\n")
                    out.append((str(orjson.loads(line)["@timestamp"]), line))
    out.sort(key=lambda t: t[0])
    return out


def _norm(ts: str | None) -> str:
    """A timestamp as the documents write it (``...Z``, milliseconds) for comparison."""
    if not ts:
        return ""
    ts = ts.replace("+00:00", "Z")
    if "." in ts:
        head, frac = ts.split(".", 1)
        frac = frac.rstrip("Z")[:3].ljust(3, "0")
        return f"{head}.{frac}Z"
    return ts.rstrip("Z") + ".000Z"


#: ``wormsign`` with the early alerts off (live.yaml's ``early_alerts``, set before the server reads it).
NO_EARLY = [sys.executable, "-c", "import sys; from wormsign.api import live; live.settings()['early_alerts'] = False; "
            "from wormsign.cli import main; sys.exit(main())"]


def serve(case: Path, log: Path, early: bool = True) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with open(log, "wb") as out:
        proc = subprocess.Popen([*(WORMSIGN if early else NO_EARLY), "serve", "--create", "--case", str(case),
                                 "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("serve did not start: " + log.read_text(errors="replace")) from None
            time.sleep(0.1)


class Poller(threading.Thread):
    """Reads the alerts and incidents the API shows, every ``step`` seconds; keeps when each was first seen."""

    def __init__(self, url: str, token: str, step: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})
        self.step = step
        self.stop = threading.Event()
        self.alerts: dict[tuple[Any, ...], tuple[float, str]] = {}  # key -> (seen at, last_seen then)
        self.early: set[tuple[Any, ...]] = set()  # keys first shown as early alerts (api/early.py)
        self.hunted: set[tuple[Any, ...]] = set()  # keys a hunt's alert has shown
        self.incidents: dict[tuple[Any, ...], tuple[float, str]] = {}
        self.polls = 0
        self.reads: dict[int, int] = {}  # status of each /api/hosts read (the case itself) -> count

    def run(self) -> None:
        last: Any = None
        published = None
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                r = self.client.get("/api/alerts", params={"limit": 1})
                if r.status_code == 200:
                    n = r.json()["total"]
                    # the total, and the last alert (early alerts come last): a hunt that replaces
                    # early alerts by as many of its own changes the last one
                    tail = self.client.get("/api/alerts", params={"limit": 1, "offset": max(n - 1, 0)}).json()
                    now = (n, orjson.dumps(tail.get("alerts")))
                    if now != last:
                        self._alerts(t, n)
                        last = now
                inc = self.client.get("/api/incidents")
                if inc.status_code == 200 and inc.content != published:
                    published = inc.content
                    for i in inc.json()["incidents"]:
                        key = (i["type"], i.get("patient_zero"), i.get("first_seen"), i.get("title", "")[:20])
                        self.incidents.setdefault(key, (t, _norm(i.get("last_seen"))))
            except httpx.HTTPError:
                pass
            self.polls += 1
            self.stop.wait(max(0.0, self.step - (time.monotonic() - t)))

    def read_case(self) -> None:
        """A dashboard's reads of the case (hosts), one after another, in a thread of their own."""
        with httpx.Client(base_url=str(self.client.base_url), timeout=30, headers=self.client.headers) as cl:
            while not self.stop.is_set():
                try:
                    code = cl.get("/api/hosts", params={"limit": 5}).status_code
                except httpx.HTTPError:
                    code = 0
                self.reads[code] = self.reads.get(code, 0) + 1
                self.stop.wait(self.step)

    def _alerts(self, t: float, total: int) -> None:
        for off in range(0, total, 1000):
            page = self.client.get("/api/alerts", params={"limit": 1000, "offset": off}).json()["alerts"]
            for a in page:
                # one finding: its rule, host, first time and first evidence record (an early
                # alert's source host may be named later, by the hunt: the same finding)
                key = (a.get("rule"), a.get("host"), a.get("first_seen") or a.get("ts"), (a.get("evidence") or [None])[0])
                if not str(a.get("id", "")).startswith("EAR-"):
                    self.hunted.add(key)
                if key not in self.alerts:
                    self.alerts[key] = (t, _norm(a.get("last_seen") or a.get("ts")))
                    if str(a.get("id", "")).startswith("EAR-"):
                        self.early.add(key)


def latencies(seen: dict[tuple[Any, ...], tuple[float, str]], stamps: list[str], posted: list[float]) -> list[float]:
    """For each finding: when the API first showed it less when the request with its last evidence was posted."""
    out = []
    for t, last in seen.values():
        i = min(bisect_left(stamps, last), len(stamps) - 1)
        out.append(t - posted[i])
    return out


def show(name: str, xs: list[float]) -> None:
    if not xs:
        print(f"{name}: none seen")
        return
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    print(f"{name}: {len(xs)} | median {statistics.median(xs):.3f} s | p90 {p90:.3f} s | "
          f"min {xs[0]:.3f} s | max {xs[-1]:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="emotet")
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--rate", type=float, default=200.0, help="events a second")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between requests")
    ap.add_argument("--work", type=Path, default=None, help="folder for the run and the case (a temporary one)")
    ap.add_argument("--no-early", action="store_true", help="the server without early alerts (the baseline)")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-live-"))
    sim = work / "sim"
    if not (sim / "truth.json").exists():
        subprocess.run([*WORMSIGN, "simulate", "--scenario", args.scenario, "--hosts", str(args.hosts),
                        "--days", str(args.days), "--seed", str(args.seed), "--out", str(sim)],
                       check=True, stdout=subprocess.DEVNULL)
    docs = docs_of(sim)
    case = work / f"case-{int(time.time())}"
    from wormsign.api import load_or_create

    token, _ = load_or_create(case)
    proc, port = serve(case, work / "serve.log", early=not args.no_early)
    url = f"http://127.0.0.1:{port}"
    per = max(1, round(args.rate * args.interval))
    print(f"{len(docs)} Winlogbeat documents ({args.scenario}, {args.hosts} hosts, {args.days} day(s)); "
          f"{per} a request every {args.interval} s = {per / args.interval:.0f} events/s; "
          f"replay {len(docs) / per * args.interval:.0f} s")
    print(f"load average before: {os.getloadavg()}")
    poller = Poller(url, token)
    poller.start()
    reader = threading.Thread(target=poller.read_case, daemon=True)
    reader.start()
    stamps = [ts for ts, _ in docs]
    posted = [0.0] * len(docs)
    action = b'{"create":{"_index":"winlogbeat-8.12.2"}}\n'
    post_s: list[float] = []
    try:
        with httpx.Client(base_url=url, timeout=60, auth=("elastic", token)) as cl:
            start = time.monotonic()
            for n, i in enumerate(range(0, len(docs), per)):
                due = start + n * args.interval
                time.sleep(max(0.0, due - time.monotonic()))
                batch = docs[i:i + per]
                body = gzip.compress(b"".join(action + d + b"\n" for _, d in batch), 1)
                t = time.monotonic()
                for k in range(i, i + len(batch)):
                    posted[k] = t
                while True:
                    r = cl.post("/_bulk", content=body, headers={"Content-Encoding": "gzip",
                                                                  "Content-Type": "application/x-ndjson"})
                    if r.status_code != 429:
                        break
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                post_s.append(time.monotonic() - t)
                if r.status_code != 200 or r.json()["errors"]:
                    raise SystemExit(f"bulk refused: {r.status_code} {r.text[:300]}")
            behind = time.monotonic() - start - len(post_s) * args.interval
            deadline = time.monotonic() + 300
            while not cl.get("/api/live").json().get("idle") and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            live = cl.get("/api/live").json()
    finally:
        poller.stop.set()
        poller.join(10)
        reader.join(10)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    print(f"load average after: {os.getloadavg()}")
    print(f"requests: {len(post_s)}; POST answered in median {statistics.median(post_s) * 1000:.1f} ms, "
          f"max {max(post_s) * 1000:.1f} ms; the sender ended {max(behind, 0):.1f} s behind its schedule")
    w = live.get("writer") or {}
    print(f"writer: {w.get('commits')} commits, {w.get('hunts')} hunts (last {w.get('last_hunt_s')} s), "
          f"{w.get('events_stored')} events stored, throttled {live.get('throttled')}; "
          f"API polled {poller.polls} times")
    cyc = max(int(w.get("cycles") or 0), 1)
    print("writer, mean seconds a cycle: " + ", ".join(f"{k} {v / cyc:.3f}" for k, v in (w.get("seconds") or {}).items())
          + f" ({cyc} cycles; hunt: in the cycles that hunted, spread over all)")
    e = live.get("early") or {}
    print(f"early lane: {e.get('batches')} batches, {e.get('events')} events, {e.get('matches')} matches, "
          f"{e.get('seconds')} CPU-s" if e else "early lane: off")
    print(f"/api/hosts (a read of the case) during the replay, by status: {dict(sorted(poller.reads.items()))}")
    show("alerts, POST -> visible in /api/alerts", latencies(poller.alerts, stamps, posted))
    first = {k: v for k, v in poller.alerts.items() if k in poller.early}
    show("  of which shown first as early alerts", latencies(first, stamps, posted))
    lone = sorted(poller.early - poller.hunted, key=str)
    print(f"  early alerts no hunt showed (the same rule, host, first time and record): {len(lone)}"
          + "".join(f"\n    {k}" for k in lone[:10]))
    show("  of which shown first by a hunt", latencies({k: v for k, v in poller.alerts.items() if k not in first},
                                                      stamps, posted))
    by_host: dict[Any, tuple[Any, ...]] = {}  # each host's first alert: the one whose evidence starts first
    for k in poller.alerts:
        if k[1] and (k[1] not in by_host or str(k[2]) < str(by_host[k[1]][2])):
            by_host[k[1]] = k
    show("each host's first alert (by evidence time)", latencies({k: poller.alerts[k] for k in by_host.values()},
                                                                 stamps, posted))
    show("incidents, POST -> visible in /api/incidents", latencies(poller.incidents, stamps, posted))


if __name__ == "__main__":
    main()
