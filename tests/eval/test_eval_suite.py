"""The suite's plumbing: simulate, ingest into a real case, hunt, score; and end to end."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.eval.suite import Run, run_one
from wormsign.store import Case

from eval_docs import TRUTH, perfect_incidents


def _truth_only(scenario: str, hosts: int, days: float, seed: int, out_dir: Path) -> dict[str, Any]:
    """A simulator that writes only truth.json (no telemetry): the hunt's input is empty."""
    out_dir.mkdir(parents=True)
    doc = dict(TRUTH, scenario=scenario, hosts=hosts, days=days, seed=seed)
    (out_dir / "truth.json").write_text(json.dumps(doc))
    return doc


def test_missing_hunt_scores_zero_recall_not_an_error(tmp_path):
    run = run_one(Run("emotet", 3, 100, 2), _truth_only, None, keep=tmp_path / "kept")
    assert run.error is None
    assert run.score is not None and run.score.recall == 0.0 and run.score.true_infected == 5
    assert run.events == 0 and set(run.seconds) == {"simulate", "ingest", "hunt"}
    assert json.loads((tmp_path / "kept" / "truth.json").read_text())["seed"] == 3


def test_hunt_gets_the_case_and_its_document_is_scored(tmp_path):
    seen: list[str] = []

    def hunt(case: Case) -> SimpleNamespace:
        seen.append(case.path)
        assert case.count() == 0
        return SimpleNamespace(document=perfect_incidents(), alerts=[])

    run = run_one(Run("emotet", 1, 100, 2), _truth_only, hunt)
    assert run.error is None and len(seen) == 1 and seen[0].endswith("case.duckdb")
    assert run.score is not None and run.score.recall == 1.0 and run.score.patient_zero_right is True


def test_a_failing_run_is_reported_and_the_suite_goes_on(tmp_path):
    def broken(case: Case) -> dict[str, Any]:
        raise RuntimeError("hunt blew up")

    run = run_one(Run("emotet", 1, 100, 2), _truth_only, broken)
    assert run.score is None and run.error == "RuntimeError: hunt blew up"
    bad = run_one(Run("emotet", 1, 100, 2), _truth_only, lambda case: {"incidents": "nope"})
    assert bad.error is not None and "incidents of emotet-s1-h100" in bad.error


def _simulator_ready() -> bool:
    try:
        mod = importlib.import_module("wormsign.simulate")
    except ImportError:
        return False
    return hasattr(mod, "simulate") and hasattr(mod, "SCENARIOS")


@pytest.mark.skipif(not _simulator_ready(), reason="the simulator (wormsign.simulate) is not there yet")
def test_suite_end_to_end_smallest(tmp_path):
    from wormsign.simulate import SCENARIOS

    scenario = "emotet" if "emotet" in SCENARIOS else next(iter(SCENARIOS))
    res = CliRunner().invoke(app, ["eval", "--suite", "--scenarios", scenario, "--seeds", "1",
                                   "--sizes", "20", "--days", "1", "--out", str(tmp_path), "-j", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "suite.json").read_text())
    (run,) = doc["runs"]
    assert run["error"] is None and run["rejected"] == 0 and run["events"] > 0
    assert run["score"]["true_infected"] > 0
    assert doc["summary"]["overall"]["runs"] == 1
    assert scenario in res.output and "overall" in res.output


def test_suite_passes_the_benign_volume_to_the_simulator(tmp_path):
    seen: list[dict[str, Any]] = []

    def sim(scenario: str, hosts: int, days: float, seed: int, out_dir: Path, **opts: Any) -> dict[str, Any]:
        seen.append(opts)
        return _truth_only(scenario, hosts, days, seed, out_dir)

    run_one(Run("emotet", 1, 100, 2), sim, None, sim_opts={"benign_volume": 4.0})
    run_one(Run("emotet", 1, 100, 2), sim, None)
    assert seen == [{"benign_volume": 4.0}, {}]


def test_a_scenario_whose_runs_all_failed_keeps_its_row_in_the_table():
    from wormsign.eval import summarise, table

    ok = run_one(Run("emotet", 1, 100, 2), _truth_only, lambda case: perfect_incidents())
    bad = run_one(Run("benign", 1, 100, 2), _truth_only, lambda case: {"incidents": "nope"})
    assert ok.score is not None and bad.error is not None
    result = {"runs": [ok.to_dict(), bad.to_dict()], "days": 2, "errors": 1, "summary": summarise([ok.score])}
    rows = {r[0]: r for r in table.rows(result)}
    assert list(rows) == ["emotet", "benign", "overall"]
    assert all(len(r) == len(table.headers(result)) for r in rows.values())
    assert rows["benign"][1] == "0" and rows["benign"][-1] == "1" and rows["overall"][-1] == "1"
    assert rows["emotet"][2] == "1.000" and rows["emotet"][-1] == "0"
