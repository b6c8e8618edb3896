"""The command line's conventions: --version, --json summaries, --quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wormsign import __version__
from wormsign.cli import app

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"


@pytest.fixture(scope="module")
def discovery() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return SAMPLES / "Discovery"


def test_version() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"wormsign {__version__}"


def test_ingest_and_stats_json(discovery: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    res = CliRunner().invoke(app, ["ingest", str(discovery), "--case", str(case), "-j", "1", "--json"])
    assert res.exit_code == 0, res.output
    ingest = json.loads(res.stdout)  # stdout holds the document alone
    files = sorted(p for p in discovery.rglob("*") if p.is_file())
    assert ingest["files"] == len(files) and ingest["skipped"] == 0 and ingest["exit_status"] == 0
    assert ingest["records"] == ingest["stored"] > 0 and ingest["rejected"] == 0
    assert ingest["by_format"] == {"evtx": len(files)}

    res = CliRunner().invoke(app, ["stats", "--case", str(case), "--json"])
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)
    assert stats["events"] == ingest["stored"] and stats["sources"] == len(files) and stats["rejected"] == 0
    assert sum(n for _, n in stats["by_kind"]) == stats["events"] == sum(n for _, n in stats["by_host"])
    assert stats["by_format"] == [["evtx", stats["events"]]]
    assert stats["first"] <= stats["last"]

    # Again: nothing new, and --quiet prints nothing at all.
    res = CliRunner().invoke(app, ["ingest", str(discovery), "--case", str(case), "--quiet"])
    assert res.exit_code == 0 and res.output == ""
    res = CliRunner().invoke(app, ["--quiet", "stats", "--case", str(case)])
    assert res.exit_code == 0 and res.output == ""
    res = CliRunner().invoke(app, ["stats", "--case", str(case)])  # the console speaks again
    assert res.exit_code == 0 and f"{stats['events']:,} events" in res.output


def test_hunt_json(discovery: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["hunt", str(discovery), "--case", str(tmp_path / "c"), "--out",
                                   str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    incidents = json.loads((tmp_path / "incidents.json").read_text())["incidents"]
    assert [i["id"] for i in doc["incidents"]] == [i["id"] for i in incidents]
    assert doc["alerts"] == len((tmp_path / "alerts.ndjson").read_text().splitlines())
    assert doc["ingest"]["stored"] > 0 and doc["window"] is None and doc["exit_status"] == 0
    assert doc["files"]["incidents"] == str(tmp_path / "incidents.json")
