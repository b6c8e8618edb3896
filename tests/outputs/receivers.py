"""Real receivers for the forwarding tests, each on a free port of 127.0.0.1 in a thread.

- :class:`HttpReceiver`: an HTTP server that keeps every request (path, headers, body) and
  answers as Elasticsearch ``_bulk``, Splunk HEC or a chat webhook would; it can fail the first
  requests (``fail_first`` times with ``fail_status``) to test the retries.
- :class:`SyslogTcp` / :class:`SyslogUdp`: syslog servers that split RFC 6587 octet-counted
  frames (TCP) or take one message a datagram (UDP), and parse each as RFC 5424 with
  ``syslog-rfc5424-parser``.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from syslog_rfc5424_parser import SyslogMessage


class HttpReceiver:
    def __init__(self, kind: str, *, fail_first: int = 0, fail_status: int = 503, auth: str | None = None) -> None:
        self.kind, self.fail_first, self.fail_status, self.auth = kind, fail_first, fail_status, auth
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []  # documents or messages taken
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = outer.handle(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            if self.auth is not None and headers.get("Authorization") != self.auth:
                return 401, {"error": "unauthorized"}
            if self.fail_first > 0:
                self.fail_first -= 1
                return self.fail_status, {"error": "busy"}
            if self.kind == "bulk":
                return self._bulk(path, headers, body)
            if self.kind == "hec":
                return self._hec(path, body)
            msg = json.loads(body)
            assert set(msg) == {"text"} and isinstance(msg["text"], str)
            self.accepted.append(msg)
            return 200, {"ok": True}

    def _bulk(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        assert path == "/_bulk" and headers["Content-Type"] == "application/x-ndjson"
        assert body.endswith(b"\n")  # _bulk needs the final newline
        lines = body.decode("utf-8").split("\n")[:-1]
        assert len(lines) % 2 == 0
        items = []
        for action_line, doc_line in zip(lines[::2], lines[1::2], strict=True):
            action = json.loads(action_line)
            (op, meta), = action.items()
            assert op == "index" and meta["_index"] and meta["_id"]
            self.accepted.append({"_id": meta["_id"], "_index": meta["_index"], "doc": json.loads(doc_line)})
            items.append({op: {"_id": meta["_id"], "status": 201}})
        return 200, {"took": 1, "errors": False, "items": items}

    def _hec(self, path: str, body: bytes) -> tuple[int, Any]:
        assert path == "/services/collector/event"
        text, dec, pos = body.decode("utf-8"), json.JSONDecoder(), 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                break
            ev, pos = dec.raw_decode(text, pos)
            assert isinstance(ev["event"], dict) and isinstance(ev["time"], float)
            self.accepted.append(ev)
        return 200, {"text": "Success", "code": 0}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Syslog:
    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.messages: list[SyslogMessage] = []
        self.lock = threading.Lock()

    def take(self, data: bytes) -> None:
        with self.lock:
            self.raw.append(data)
            self.messages.append(SyslogMessage.parse(data.decode("utf-8")))


class SyslogTcp(_Syslog):
    def __init__(self) -> None:
        super().__init__()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                buf = self.rfile.read()
                while buf:
                    size, _, rest = buf.partition(b" ")
                    n = int(size)
                    outer.take(rest[:n])
                    buf = rest[n:]

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SyslogUdp(_Syslog):
    def __init__(self) -> None:
        super().__init__()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def drain(self, expected: int, timeout: float = 5.0) -> None:
        self.sock.settimeout(timeout)
        while len(self.messages) < expected:
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                return
            self.take(data)

    def close(self) -> None:
        self.sock.close()
