"""Attacker-written text on the console: rich markup in host names, times, paths is printed as written.

Rich reads ``[...]`` in printed strings and table cells as markup; ``[/x]`` (a closing tag that
matches nothing) makes it raise, and ``[bold]x[/bold]`` would print as ``x``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.intel.store import IntelStore

runner = CliRunner()

HOSTS = (
    '{"@timestamp":"2026-03-01T10:00:00Z","host":{"name":"[/x]"},'
    '"event":{"category":"process","type":"start"},"process":{"pid":1}}\n'
    '{"@timestamp":"2026-03-01T10:00:01Z","host":{"name":"[bold]x[/bold]"},'
    '"event":{"category":"process","type":"start"},"process":{"pid":2}}\n'
)
# A Zeek conn.log whose first record has the time "[/x]" (rejected: bad-timestamp).
CONN = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"
    "[/x]\tCa1\t10.9.0.1\t50000\t10.9.0.2\t445\ttcp\n"
    "1772359200.5\tCa2\t10.9.0.1\t50001\t10.9.0.2\t445\ttcp\n"
)


def flat(text: str) -> str:
    return " ".join(text.split())


def make_case(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "logs"
    src.mkdir()
    (src / "hosts.ndjson").write_text(HOSTS, encoding="utf-8")
    (src / "conn.log").write_text(CONN, encoding="utf-8")
    return src, tmp_path / "case.duckdb"


def test_ingest_prints_a_reject_whose_value_is_markup(tmp_path: Path) -> None:
    src, case = make_case(tmp_path)
    r = runner.invoke(app, ["ingest", str(src), "--case", str(case), "-j", "1"])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 3, r.output
    assert "3 stored" in r.output and "1 rejected" in r.output
    assert f"rejected {src / 'conn.log'} record 8: bad-timestamp: ts is not a time: '[/x]'" in flat(r.output)


def test_stats_shows_hosts_named_like_markup_literally(tmp_path: Path) -> None:
    src, case = make_case(tmp_path)
    runner.invoke(app, ["ingest", str(src), "--case", str(case), "-j", "1"])
    r = runner.invoke(app, ["stats", "--case", str(case)])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert any(line.split() == ["│", "[/x]", "│", "1", "│"] for line in lines), r.output
    assert any(line.split() == ["│", "[bold]x[/bold]", "│", "1", "│"] for line in lines), r.output
    assert "1 records rejected" in r.output and '{"bad-timestamp": 1}' in flat(r.output)


@pytest.mark.parametrize(
    "command",
    [["stats"], ["report"], ["export", "--output", "o.json"], ["sigma"]],
    ids=lambda c: c[0],
)
def test_error_messages_print_paths_with_markup_literally(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "[" / "x]" / "[bold]c[/bold].duckdb"  # the path holds "[/x]"
    r = runner.invoke(app, [*command, "--case", str(missing)])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 1, r.output
    assert str(missing) in flat(r.output), r.output


def test_intel_tables_show_feed_text_literally(tmp_path: Path) -> None:
    feed = tmp_path / "[bold]feed.txt"
    feed.write_text("203.0.113.50:443\nhttp://c2.ex/[/x]\n", encoding="utf-8")
    store = tmp_path / "i.duckdb"
    r = runner.invoke(app, ["intel", "import", str(feed), "--store", str(store), "--family", "emotet",
                            "--source", "[/x]src"])
    assert r.exit_code == 0, r.output
    assert f"{feed}: read as list" in flat(r.output)
    with IntelStore.open(str(store), read_only=True) as s:
        assert {i.source for i in s.indicators()} == {"[/x]src"}
    r = runner.invoke(app, ["intel", "list", "--store", str(store), "--family", "emotet"])
    assert r.exit_code == 0, r.output
    assert "http://c2.ex/[/x]" in r.output
    assert "[/x]src" in r.output and "2 indicators" in r.output
