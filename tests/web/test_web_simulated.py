"""A real simulated outbreak (the bundled demo): hunt with --report, then open the report in Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from web_checks import graph_counts, shot, slide, wait_ready

from wormsign.cli import app


def _demo_logs() -> Path | None:
    """The bundled demo's telemetry, when the package ships it."""
    try:
        from wormsign import demo
    except ImportError:
        return None
    logs = demo.path() / "logs"
    return logs if logs.is_dir() else None


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The bundled demo hunted with --report; a small fresh simulation where no demo is bundled."""
    out = tmp_path_factory.mktemp("sim")
    runner = CliRunner()
    logs = _demo_logs()
    if logs is None:
        logs = out / "logs"
        args = ["simulate", "-s", "emotet", "-n", "20", "-d", "1", "--seed", "5", "-o", str(out)]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    args = [
        "hunt",
        str(logs),
        "--case",
        str(out / "case.duckdb"),
        "--out",
        str(out),
        "--report",
        str(out / "report.html"),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 3), res.output
    doc = json.loads((out / "incidents.json").read_text("utf-8"))
    return out, doc


def test_hunt_report_shows_the_simulated_outbreak(
    page: tuple[Any, Any], simulated: tuple[Path, dict[str, Any]]
) -> None:
    pg, watch = page
    out, doc = simulated
    outbreak = next(i for i in doc["incidents"] if i["type"] == "outbreak")
    infected = [h for h in outbreak["hosts"] if h["state"] == "infected"]
    assert len(infected) >= 5 and outbreak["edges"]
    pg.goto((out / "report.html").as_uri())
    wait_ready(pg)
    assert pg.locator("#incident-select").input_value() == outbreak["id"]
    ends = {e["source"] for e in outbreak["edges"]} | {e["target"] for e in outbreak["edges"]}
    assert graph_counts(pg) == (len({h["host"] for h in outbreak["hosts"]} | ends), len(outbreak["edges"]))
    assert pg.locator("#card-patient-zero .v").inner_text() == outbreak["patient_zero"]
    assert pg.locator("#card-infected .v").inner_text() == str(len(infected))
    start, _ = slide(pg, 0)
    assert start < len(infected)  # the replay starts before the spread
    assert slide(pg, 1000) == (len(infected), len(outbreak["edges"]))
    # The last infection's evidence: real events of the case, with their original records.
    last = max(outbreak["edges"], key=lambda e: e["ts"])
    pg.locator("#timeline tbody tr", has_text=f"{last['source']} → {last['target']}").first.click()
    pg.wait_for_selector("#evidence-list .event")
    assert pg.locator("#evidence-list .event").count() == min(len(last["evidence"]), 50)
    assert "not in the case" not in pg.locator("#evidence-list").inner_text()
    assert pg.locator("#details pre.raw").count() >= 1
    shot(pg, "simulated-report")
    assert watch.errors == [] and watch.dialogs == []
