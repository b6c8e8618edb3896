"""Log content on the terminal: escape sequences, C1 and bidi controls from the data are shown escaped
(``\\x1b[2J``), never sent raw, in ``ingest``, ``stats``, ``hunt``, error lines and logging."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from detect.huntrows import make_case, outbreak_rows
from hostile import (
    BIDI,
    C1,
    CLEAR_SCREEN,
    OSC8_LINK,
    PAYLOADS,
    RICH_MARKUP,
    TERMINAL_HOST,
    raw_control_bytes,
    raw_controls,
)
from rich.text import Text
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.cli import _excepthook
from wormsign.cli.app import SafeConsole, SafeFormatter, console, err
from wormsign.store import Case
from wormsign.text import printable

runner = CliRunner()
WORMSIGN = Path(sys.executable).with_name("wormsign")
# The escaped forms a responder sees instead of the raw sequences.
SHOWN = {
    CLEAR_SCREEN: r"\x1b[2J\x1b[H",
    OSC8_LINK: r"\x1b]8;;http://evil.example/\x1b\click\x1b]8;;\x1b\ ".strip(),
    C1: r"\x9b2J\x9d8;;http://evil.example/\x9c",
    BIDI: r"exe.\u202etxt.doc",
}
BAD_FILE = "bad" + CLEAR_SCREEN + OSC8_LINK.replace("/", "|") + ".ndjson"
BAD_SHOWN = "bad" + SHOWN[CLEAR_SCREEN] + SHOWN[OSC8_LINK].replace("/", "|") + ".ndjson"


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide terminal, so that no escaped name is folded across table lines."""
    # the private width, not the property: undoing the property's set fixed the width measured
    # then (80) on the shared consoles for every later test (their -v tables came out folded)
    monkeypatch.setattr(console, "_width", 1000)
    monkeypatch.setattr(err, "_width", 1000)


def clean(stream: bytes) -> str:
    """The stream as text, after asserting that no control character from the data is in it."""
    assert raw_control_bytes(stream) == set(), stream
    return stream.decode("utf-8")


def ndjson(hosts: dict[str, str]) -> str:
    return "".join(
        json.dumps({"@timestamp": f"2026-03-01T10:00:{i:02d}Z", "host": {"name": "ws-" + payload},
                    "event": {"category": "process", "type": "start"}, "process": {"pid": i}}) + "\n"
        for i, payload in enumerate(hosts.values())
    )


def hostile_logs(tmp_path: Path) -> Path:
    src = tmp_path / "logs"
    src.mkdir()
    (src / "hosts.ndjson").write_text(ndjson(PAYLOADS), encoding="utf-8")
    # A record that is rejected, in a file whose name is hostile (an archive member's, say).
    bad = {"@timestamp": "yesterday", "host": {"name": "ws-x"},
           "event": {"category": "process", "type": "start"}, "process": {"pid": 99}}
    (src / BAD_FILE).write_text(json.dumps(bad) + "\n", encoding="utf-8")
    return src


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_printable_shows_every_payload_escaped(name: str) -> None:
    shown = printable(PAYLOADS[name])
    assert raw_controls(shown) == set()
    assert shown.isprintable()
    if PAYLOADS[name].isprintable():
        assert shown == PAYLOADS[name]  # text that is already safe is left as written


def test_printable_forms() -> None:
    for raw, shown in SHOWN.items():
        assert printable(raw) == shown
    assert printable("a\nb\tc\r") == r"a\nb\tc\r"
    assert printable("bad\udcff.ndjson") == r"bad\xff.ndjson"  # a file name's undecodable byte
    assert printable(None) == "" and printable(12) == "12"
    assert printable("C:\\Windows\\System32") == "C:\\Windows\\System32"
    assert printable("über-ws [01]") == "über-ws [01]"


def test_ingest_and_stats_show_hostile_hosts_escaped(tmp_path: Path) -> None:
    src = hostile_logs(tmp_path)
    case = tmp_path / "c.duckdb"
    r = runner.invoke(app, ["ingest", str(src), "--case", str(case), "-j", "1"])
    assert r.exit_code == 3, r.output
    out, errs = clean(r.stdout_bytes), clean(r.stderr_bytes)
    assert f"{len(PAYLOADS)} stored" in out and "1 rejected" in out
    assert BAD_SHOWN + " record 1: no-timestamp" in errs  # the reject line, its file named escaped
    with Case.open(str(case), read_only=True) as c:
        hosts = [h for (h,) in c.rows("SELECT DISTINCT host FROM events")]
    assert sum(bool(raw_controls(h)) for h in hosts) >= 8  # the case keeps them (the reader's case folding)
    r = runner.invoke(app, ["stats", "--case", str(case)])
    assert r.exit_code == 0, r.output
    out = clean(r.stdout_bytes)
    for host in hosts:
        assert printable(host) in out, host
    assert r"ws-\x1b[2j\x1b[h" in out and r"ws-ws-01\nrejected: forged line" in out
    assert "ws-" + RICH_MARKUP in out  # markup shown as written


def test_ingest_error_line_is_escaped(tmp_path: Path) -> None:
    src = hostile_logs(tmp_path)
    r = runner.invoke(app, ["ingest", str(src / BAD_FILE), "--case", str(tmp_path / "c.duckdb"),
                            "--strict", "-j", "1"])
    assert r.exit_code == 1, r.output
    errs = clean(r.stderr_bytes)
    assert "error: " in errs and BAD_SHOWN + " record 1: no-timestamp" in errs


def test_error_line_with_a_hostile_path_is_escaped(tmp_path: Path) -> None:
    missing = tmp_path / ("case" + CLEAR_SCREEN + "\x9b2J" + BIDI + ".duckdb")
    for command in (["stats"], ["report"], ["hunt"], ["export", "-o", str(tmp_path / "o.json")]):
        r = runner.invoke(app, [*command, "--case", str(missing)])
        assert r.exit_code == 1, r.output
        errs = clean(r.stderr_bytes + r.stdout_bytes)
        assert "case" + SHOWN[CLEAR_SCREEN] + r"\x9b2J" + SHOWN[BIDI] + ".duckdb" in errs, (command, errs)


def hostile_hunt_case(path: Path) -> None:
    rows = outbreak_rows()
    for r in rows:
        if r["host"] == "ws-06":
            r["host"] = TERMINAL_HOST
        if r.get("user.name") == "alice":
            r["user.name"] = "alice" + OSC8_LINK
    make_case(path, rows).close()


def test_hunt_shows_hostile_hosts_and_accounts_escaped(tmp_path: Path) -> None:
    case = tmp_path / "c.duckdb"
    hostile_hunt_case(case)
    r = runner.invoke(app, ["hunt", "--case", str(case), "--out", str(tmp_path), "--no-sigma"])
    assert r.exit_code == 0, r.output
    out = clean(r.stdout_bytes)
    clean(r.stderr_bytes)
    assert "patient zero: ws-01" in out
    assert printable(TERMINAL_HOST) in out  # the infected host, as its escaped name
    assert "alice" + SHOWN[OSC8_LINK] in out  # the locked account
    doc = json.loads((tmp_path / "incidents.json").read_text("utf-8"))
    assert TERMINAL_HOST in {h["host"] for h in doc["incidents"][0]["hosts"]}  # JSON keeps the name exact


# Rich's own colours, and its progress bar's cursor hide/show, line erase, line up and carriage
# return: the only escapes allowed on a colour terminal. Neither ESC[2J nor OSC is among them.
def test_log_lines_are_escaped() -> None:
    """--verbose logs every rejected record (file name and values) through this formatter."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("wormsign.test.hostile")
    log.addHandler(handler)
    try:
        log.warning("%s record 1: %s", BAD_FILE, OSC8_LINK + "\nforged")
    finally:
        log.removeHandler(handler)
    line = f"WARNING wormsign.test.hostile: {BAD_SHOWN} record 1: {SHOWN[OSC8_LINK]}\\nforged\n"
    assert buf.getvalue() == line


SGR = re.compile(rb"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r")


def test_colour_terminal_and_verbose_log_get_no_escapes_from_data(tmp_path: Path) -> None:
    """As a process on a colour terminal (FORCE_COLOR), with --verbose logging every rejected record."""
    src = hostile_logs(tmp_path)
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "1000"}
    env.pop("NO_COLOR", None)
    command = [str(WORMSIGN), "-v", "ingest", str(src), "--case", str(tmp_path / "c.duckdb"), "-j", "1"]
    p = subprocess.run(command, capture_output=True, env=env, timeout=120)
    assert p.returncode == 3, p.stderr
    assert SGR.search(p.stdout), "rich did not colour its output: the test would prove nothing"
    out, errs = clean(SGR.sub(b"", p.stdout)), clean(SGR.sub(b"", p.stderr))
    assert "1 rejected" in out and BAD_SHOWN + " record 1: no-timestamp" in errs
    p = subprocess.run([str(WORMSIGN), "stats", "--case", str(tmp_path / "c.duckdb")],
                       capture_output=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    out = clean(SGR.sub(b"", p.stdout))
    assert r"ws-\x1b]8;;http://evil" in out  # the reader lowercases and cuts at the first "."
    assert r"ws-\x9b2j\x9d8;;http://evil" in out


def test_console_escapes_what_a_call_site_forgot() -> None:
    """The net under the call sites: a raw control in any text segment is escaped, rich's styles kept."""
    buf = io.StringIO()
    c = SafeConsole(file=buf, force_terminal=True, color_system="standard", width=200)
    c.print(Text("host " + CLEAR_SCREEN + "\nnext " + OSC8_LINK, style="red"))
    out = buf.getvalue().encode("utf-8")
    assert SGR.search(out)
    assert clean(SGR.sub(b"", out)) == "host " + SHOWN[CLEAR_SCREEN] + "\nnext " + SHOWN[OSC8_LINK] + "\n"


def test_uncaught_error_traceback_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise ValueError("bad host " + CLEAR_SCREEN)
    except ValueError as e:
        _excepthook(type(e), e, e.__traceback__)
    errs = capsys.readouterr().err
    assert raw_controls(errs) == set()
    assert "ValueError: bad host " + SHOWN[CLEAR_SCREEN] in errs and "Traceback" in errs
