"""``wormsign report`` and ``wormsign export`` from the command line, on a real case file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.store import Case

runner = CliRunner()


def squash(text: str) -> str:
    """The output without whitespace: rich wraps long lines at the terminal width."""
    return "".join(text.split())


def test_report_command_writes_the_page(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _ = outbreak
    out = tmp_path / "report.html"
    res = runner.invoke(app, ["report", "--case", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "reportwritten" in squash(res.output)
    assert 'id="wormsign-data"' in out.read_text("utf-8")


def test_report_without_hunt_fails_clearly(case_path: Path, tmp_path: Path) -> None:
    Case.open(str(case_path)).close()
    res = runner.invoke(app, ["report", "--case", str(case_path), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 1
    assert "nohuntresult" in squash(res.output)


def test_report_on_missing_case_fails_clearly(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["report", "--case", str(tmp_path / "nope.duckdb"), "-o", str(tmp_path / "r.html")]
    )
    assert res.exit_code == 1
    assert "nosuchcase" in squash(res.output)


def test_export_command(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _ = outbreak
    res = runner.invoke(app, ["export", "--case", str(path), "--format", "csv", "-o", str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "csv" / "hosts.csv").is_file()
    res = runner.invoke(app, ["export", "--case", str(path), "--format", "pdf", "-o", str(tmp_path / "x")])
    assert res.exit_code == 1
    assert "unknownformat" in squash(res.output)
