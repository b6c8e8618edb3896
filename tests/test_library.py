"""``import wormsign``: open a case, ingest, hunt with the command line's defaults; the example
in docs/examples runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import wormsign
from wormsign import demo
from wormsign.cli import app
from wormsign.hunt import HuntResult

ROOT = Path(__file__).resolve().parents[1]


def _keys(alerts: list[dict]) -> list[tuple]:
    return sorted((a["rule"], a.get("host") or "", a.get("ts") or "", tuple(a["evidence"])) for a in alerts)


def test_hunt_has_the_command_lines_defaults(tmp_path: Path) -> None:
    case_dir = tmp_path / "case"
    with wormsign.open_case(case_dir) as case:
        report = wormsign.ingest(case, demo.logs())
        assert report.stats.stored > 0 and report.stats.rejected == 0
        result = wormsign.hunt(case)
        bare = wormsign.hunt.hunt(case)  # the engine's own function: no Sigma rule unless told
    assert isinstance(result, HuntResult)
    assert any(a["rule"].startswith("sigma:") for a in result.alerts)
    assert not any(a["rule"].startswith("sigma:") for a in bare.alerts)
    assert len(result.alerts) > len(bare.alerts)

    res = CliRunner().invoke(app, ["hunt", "--case", str(case_dir), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    cli = [json.loads(line) for line in (tmp_path / "out" / "alerts.ndjson").read_text().splitlines()]
    assert _keys(cli) == _keys(result.alerts)
    doc = json.loads((tmp_path / "out" / "incidents.json").read_text())
    assert [i["title"] for i in doc["incidents"]] == [i["title"] for i in result.incidents]

    alerts = result.alerts_table()
    assert alerts.num_rows == len(result.alerts)
    assert alerts.column("id").to_pylist() == [a["id"] for a in result.alerts]
    incidents = result.incidents_table()
    assert incidents.column("type").to_pylist() == [i["type"] for i in result.incidents]
    assert "outbreak" in incidents.column("type").to_pylist()


def test_modules_stay_modules() -> None:
    """Calling them does not hide what they hold."""
    from wormsign import hunt, ingest

    assert callable(hunt) and callable(ingest)
    assert hunt.HuntResult is HuntResult and ingest.ingest_paths is not None
    assert wormsign.hunt is hunt and wormsign.ingest is ingest


def test_example_script_runs(tmp_path: Path) -> None:
    script = ROOT / "docs" / "examples" / "hunt_demo.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "case")], capture_output=True, text=True,
                         check=True, timeout=600)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("stored ") and lines[0].endswith("rejected 0")
    assert any(line.startswith("outbreak: patient zero ") for line in lines)
    assert any(line.startswith("isolate first: ") for line in lines)
    assert (tmp_path / "case" / "catalog.duckdb").is_file()
