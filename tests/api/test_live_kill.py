"""Crash test of live ingest: ``kill -9`` on a real ``wormsign serve`` while a Winlogbeat-shaped
stream comes in (the writer paused inside a commit, right after one, or nowhere in particular),
then a restart: every event answered 2xx is in the case, none twice, and a client that sends
again what it got no answer for (as Beats do) adds nothing twice either.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from livekit import bulk_body, demo_docs, event_id, free_port

from wormsign.api import load_or_create
from wormsign.store import Case

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform")

WORMSIGN = [sys.executable, "-c", "import sys; from wormsign.cli import main; sys.exit(main())"]
BATCH = 100


def _serve(case: Path, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORMSIGN_TEST_")}
    with open(log, "ab") as out:
        proc = subprocess.Popen([*WORMSIGN, "serve", "--create", "--case", str(case), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env={**clean, **env})
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("serve did not start: " + log.read_text(errors="replace")) from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def _wait_idle(client: httpx.Client) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while True:
        st = client.get("/api/live").json()
        if st.get("idle"):
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.1)


def _case_ids(case: Path) -> list[str]:
    with Case.open(str(case), read_only=True) as c:
        return [r[0] for r in c.rows('SELECT "event.id" FROM events')]


@pytest.mark.parametrize("pause", ["commit:2", "committed:2", None])
def test_kill_during_a_stream_loses_no_accepted_event_and_duplicates_none(tmp_path: Path, pause: str | None) -> None:
    docs = demo_docs()[:2500]
    batches = [docs[i:i + BATCH] for i in range(0, len(docs), BATCH)]
    case = tmp_path / "case"
    token, _ = load_or_create(case)
    port = free_port()
    log = tmp_path / "serve.log"
    flag = tmp_path / "paused"
    env = {"WORMSIGN_TEST_PAUSE": pause, "WORMSIGN_TEST_PAUSE_FILE": str(flag)} if pause else {}
    proc = _serve(case, port, log, **env)
    acked: set[int] = set()
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"ApiKey {token}"}) as cl:
        killer: threading.Timer | None = None
        held = 0 if pause is None else 4  # batches sent only once the writer sits at its pause

        def send(i: int) -> None:
            try:
                r = cl.post("/_bulk", content=bulk_body(batches[i]))
            except httpx.TransportError:
                return  # no answer: the client will send it again
            if r.status_code == 200 and not r.json()["errors"]:
                acked.add(i)

        for i in range(len(batches) - held):
            if pause is None and i == 12:  # kill while this request is under way
                killer = threading.Timer(0.005, os.kill, (proc.pid, signal.SIGKILL))
                killer.start()
            send(i)
            if pause:
                time.sleep(0.02)  # a stream, not one burst: the writer commits between batches
        if killer is not None:
            killer.join()
        if pause:
            deadline = time.monotonic() + 60
            while not flag.exists():  # the writer has not reached its pause yet
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.05)
            for i in range(len(batches) - held, len(batches)):
                send(i)  # answered while the writer is stuck: only the spool has them
            assert set(range(len(batches) - held, len(batches))) <= acked
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 8, acked

    # Restart: what was accepted is committed from the spool, once.
    con = duckdb.connect(str(case / "catalog.duckdb"), read_only=True)  # not Case.open: no recovery here
    before = (f"before the restart: {con.execute('SELECT * FROM meta').fetchall()}, "
              f"{con.execute('SELECT id, rows FROM shards').fetchall()}; "
              f"spool {sorted((p.name, p.stat().st_size) for p in (case / 'live').glob('*.wsp'))}")
    con.close()
    proc = _serve(case, port, log)
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as cl:
        st = _wait_idle(cl)
    _stop(proc)
    if pause:  # the batches answered while the writer was stuck came back from the spool
        assert st["writer"]["frames"] >= 4 and st["writer"]["events_stored"] >= 4 * BATCH, (before, st)  # type: ignore[index]
    ids = _case_ids(case)
    assert len(ids) == len(set(ids)), "an event was stored twice"
    want = {event_id(d) for i in acked for d in batches[i]}
    assert want <= set(ids), f"{len(want - set(ids))} accepted events lost"

    # The client sends again every batch it got no answer for, and the rest: nothing twice.
    proc = _serve(case, port, log)
    try:
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as cl:
            for i, batch in enumerate(batches):
                if i not in acked:
                    r = cl.post("/_bulk", content=bulk_body(batch))
                    assert r.status_code == 200 and not r.json()["errors"]
            _wait_idle(cl)
    finally:
        _stop(proc)
    ids = _case_ids(case)
    assert sorted(ids) == sorted(event_id(d) for d in docs)
