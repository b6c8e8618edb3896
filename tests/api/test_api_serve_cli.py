"""``wormsign serve`` as a real process: binds 127.0.0.1, prints the token once, refuses calls without it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from outbreak_fixture import build

WORMSIGN = Path(sys.executable).with_name("wormsign")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def _serve(case: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [str(WORMSIGN), "serve", "--case", str(case), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    lines.append(proc.stdout.readline())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, lines
        except OSError:
            if proc.poll() is not None:
                raise AssertionError("serve exited: " + "".join(lines) + proc.stdout.read()) from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("serve did not start")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_serve_prints_the_token_once_and_guards_the_api(tmp_path: Path) -> None:
    case = tmp_path / "c.duckdb"
    build(case)
    port = _port()
    proc, lines = _serve(case, port)
    try:
        m = re.search(r"API token \(shown once, kept in .*\): (\S+)", lines[0])
        assert m, lines
        token = m.group(1)
        assert (tmp_path / "c.duckdb.token").read_text().strip() == token
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/api/incidents")[0] == 401
        status, body = _get(base + "/api/incidents", token)
        assert status == 200 and body["total"] == 2
        assert _get(base + "/api/incidents/INC-0404", token)[0] == 404
        assert _get(base + "/openapi.json")[0] == 200
    finally:
        _stop(proc)
    proc, lines = _serve(case, port)
    try:
        assert token not in lines[0] and "API token: in" in lines[0]
        assert _get(f"http://127.0.0.1:{port}/api/cases", token)[0] == 200
    finally:
        _stop(proc)


def _refused(case: Path, port: int) -> str:
    """Run ``serve`` on a case whose token file must be refused: it exits 1 and never binds."""
    p = subprocess.run(
        [str(WORMSIGN), "serve", "--case", str(case), "--port", str(port)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"},
    )
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "API token" not in p.stdout
    return " ".join(p.stderr.split())


def test_serve_refuses_a_token_file_open_to_others(tmp_path: Path) -> None:
    case = tmp_path / "c.duckdb"
    build(case)
    token = tmp_path / "c.duckdb.token"
    token.write_text("z" * 43 + "\n", encoding="ascii")
    token.chmod(0o640)
    msg = _refused(case, _port())
    assert f"error: {token}: token file is open to group or others (mode 640); chmod 600 it" in msg


def test_serve_refuses_a_token_file_planted_by_another_user(tmp_path: Path) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("only root can make a file owned by another user")
    case = tmp_path / "c.duckdb"
    build(case)
    token = tmp_path / "c.duckdb.token"
    token.write_text("planted-" + "z" * 40 + "\n", encoding="ascii")
    token.chmod(0o600)
    os.chown(token, 54321, 54321)
    msg = _refused(case, _port())
    assert f"error: {token}: token file is owned by uid 54321, not by you (uid 0)" in msg
    assert "planted-" not in msg
