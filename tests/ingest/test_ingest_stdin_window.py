"""``wormsign ingest -`` (standard input, the format picked or given) and ``ingest --from/--to``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.store import Case

LM = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples" / "Lateral Movement"
EVTX = LM / "LM_5145_Remote_FileCopy.evtx"


@pytest.fixture
def evtx() -> Path:
    if not EVTX.is_file():
        pytest.skip("../shared/corpus is not beside the repository")
    return EVTX


def _ingest(args: list[str], stdin: bytes | None = None) -> dict:
    res = CliRunner().invoke(app, ["ingest", *args, "--json", "-j", "1"], input=stdin)
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def _events(case: Path) -> list[tuple]:
    with Case.open(str(case), read_only=True) as c:
        return c.rows('SELECT ts, "event.code", "src.record", "host.name" FROM events ORDER BY "src.record"')


def test_stdin_gives_the_events_of_the_file(evtx: Path, tmp_path: Path) -> None:
    from_file = _ingest([str(evtx), "--case", str(tmp_path / "a")])
    piped = _ingest(["-", "--case", str(tmp_path / "b")], stdin=evtx.read_bytes())
    assert piped["stored"] == from_file["stored"] == 869 and piped["by_format"] == {"evtx": 1}
    assert _events(tmp_path / "a") == _events(tmp_path / "b")
    with Case.open(str(tmp_path / "b"), read_only=True) as c:
        assert c.rows('SELECT DISTINCT "src.file" FROM events') == [("<stdin>",)]
        assert c.rows("SELECT file FROM sources") == [("<stdin>",)]
    again = _ingest(["-", "--case", str(tmp_path / "b")], stdin=evtx.read_bytes())
    assert again["skipped"] == 1 and again["stored"] == 0  # the same content: nothing added


def test_stdin_json_lines_with_a_given_format(tmp_path: Path) -> None:
    lines = [json.dumps({"@timestamp": f"2026-03-02T09:00:0{i}Z", "event": {"code": "4624"},
                         "host": {"name": "ws-1"}, "user": {"name": "bob"}, "source": {"ip": "10.0.0.9"}})
             for i in range(5)]
    doc = _ingest(["-", "--case", str(tmp_path / "c"), "--format", "ecs"], stdin="\n".join(lines).encode())
    assert doc["stored"] == 5 and doc["by_format"] == {"ecs": 1}
    res = CliRunner().invoke(app, ["ingest", "-", "--case", str(tmp_path / "d"), "--format", "nope"], input=b"x")
    assert res.exit_code == 1 and "no reader named 'nope'" in res.output


def test_from_to_keeps_the_window_and_counts_the_rest(evtx: Path, tmp_path: Path) -> None:
    _ingest([str(evtx), "--case", str(tmp_path / "all")])
    times = sorted(r[0] for r in _events(tmp_path / "all"))
    lo, hi = times[100], times[700]
    inside = sum(lo <= t < hi for t in times)
    assert 0 < inside < len(times)
    doc = _ingest([str(evtx), "--case", str(tmp_path / "w"), "--from", lo.isoformat(), "--to", hi.isoformat()])
    assert doc["stored"] == inside and doc["outside_window"] == len(times) - inside
    assert doc["records"] == len(times) and doc["rejected"] == 0
    kept = [r[0] for r in _events(tmp_path / "w")]
    assert min(kept) >= lo and max(kept) < hi
    # a window in another zone is the same instant
    later = _ingest([str(evtx), "--case", str(tmp_path / "z"), "--from",
                     (lo + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"])
    assert later["stored"] == sum(t >= lo for t in times)
    res = CliRunner().invoke(app, ["ingest", str(evtx), "--case", str(tmp_path / "x"), "--from", hi.isoformat(),
                                   "--to", lo.isoformat()])
    assert res.exit_code == 1 and "--from must be before --to" in res.output


def test_verbose_lists_each_file(evtx: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["ingest", str(evtx), "--case", str(tmp_path / "v"), "-v", "-j", "1"],
                             env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "Files read" in res.output and "LM_5145_Remote_FileCopy" in res.output and "869" in res.output


def test_progress_bar_shows_totals_and_time_left(evtx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    import wormsign.cli.ingest as cli_ingest

    buf = io.StringIO()
    monkeypatch.setattr(cli_ingest, "err", Console(file=buf, force_terminal=True, width=200, color_system=None))
    files = [evtx, *sorted(LM.glob("LM_REMCOM*.evtx")), *sorted(LM.glob("LM_WMIC*.evtx"))]
    with Case.open(str(tmp_path / "p")) as case:
        run = cli_ingest.run_ingest(files, case, strict=False, workers=1, summary=False)
    shown = buf.getvalue()
    assert run.report.files == 3
    assert "0/3 files" in shown and "3/3 files" in shown  # the total is known from the start
    assert f"{run.report.stats.read:,} records" in shown and "ETA" in shown


def test_hunt_verbose_lists_each_file(evtx: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["hunt", str(evtx), "--case", str(tmp_path / "h"), "-o", str(tmp_path), "-v",
                                   "--no-sigma"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "Files read" in res.output and "LM_5145_Remote_FileCopy" in res.output
