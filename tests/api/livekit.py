"""Shared by the live-ingest tests: the demo outbreak as Winlogbeat documents, _bulk bodies, a
real uvicorn server in a thread, and waiting for the live writer to catch up."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from wormsign import demo

WINLOGBEAT = Path(demo.logs()) / "winlogbeat"

#: The exceptions the last :func:`serving` server answered 500 for (type and message, bounded):
#: an assertion on status codes names them, where the log of a long CI run is cut.
SERVER_ERRORS: list[str] = []


class _KeepErrors(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            SERVER_ERRORS.append(repr(record.exc_info[1])[:400])


def demo_docs() -> list[bytes]:
    """The demo outbreak's Winlogbeat documents, one JSON line each, in file order."""
    out: list[bytes] = []
    for f in sorted(WINLOGBEAT.glob("*.ndjson.gz")):
        with gzip.open(f, "rb") as fh:
            out += [line.rstrip(b"\r\n") for line in fh if line.strip()]
    return out


def bulk_body(docs: list[bytes], index: str = "winlogbeat-8.12.2") -> bytes:
    """A _bulk body as Winlogbeat sends it (a create action before each document)."""
    action = orjson.dumps({"create": {"_index": index}})
    return b"".join(action + b"\n" + d + b"\n" for d in docs)


def event_id(doc: bytes) -> str:
    return str(orjson.loads(doc)["event"]["id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(case: Path, token: str) -> Iterator[str]:
    """``wormsign serve``'s app (live ingest on) in a real uvicorn on 127.0.0.1: its base URL."""
    import uvicorn

    from wormsign.api import create_app

    port = free_port()
    SERVER_ERRORS.clear()
    server = uvicorn.Server(uvicorn.Config(create_app(case, token), host="127.0.0.1", port=port,
                                           log_level="error"))
    keep = _KeepErrors()  # after the Config, whose logging setup drops the logger's handlers
    logging.getLogger("uvicorn.error").addHandler(keep)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
        logging.getLogger("uvicorn.error").removeHandler(keep)
        assert not thread.is_alive(), "the server did not stop"


def wait_idle(client: httpx.Client, token: str, timeout: float = 120) -> dict[str, Any]:
    """The live status once every spooled event is committed and hunted."""
    deadline = time.monotonic() + timeout
    while True:
        st = client.get("/api/live", headers={"Authorization": f"Bearer {token}"}).json()
        if st.get("idle"):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"the live writer did not catch up: {st}")
        time.sleep(0.1)
