"""``wormsign eval`` from the command line, and clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.eval import EvalError, load_incidents, load_truth

runner = CliRunner()


def _write(path: Path, doc: Any) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_cli_scores_and_writes_json(tmp_path, truth, incidents):
    t, i = _write(tmp_path / "truth.json", truth), _write(tmp_path / "incidents.json", incidents)
    out = tmp_path / "out" / "scores.json"
    res = runner.invoke(app, ["eval", "--truth", str(t), "--incidents", str(i), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "recall (infected hosts)" in res.output and "5 of 5 found" in res.output
    doc = json.loads(out.read_text())
    assert doc["recall"] == 1.0 and doc["precision"] == 1.0 and doc["patient_zero_right"] is True
    assert doc["time_to_first_alert_s"] == 300.0 and doc["lockout_attribution"] == 1.0


def test_cli_empty_incidents_file_is_zero_recall(tmp_path, truth):
    t, i = _write(tmp_path / "truth.json", truth), _write(tmp_path / "incidents.json", "")
    out = tmp_path / "scores.json"
    res = runner.invoke(app, ["eval", "-t", str(t), "-i", str(i), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "0 of 5 found" in res.output
    assert json.loads(out.read_text())["recall"] == 0.0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ({"format": "wormsign.incidents/2", "incidents": []}, "wormsign.incidents/2"),
        ({"incidents": {"id": "INC-0001"}}, "incidents: expected a list"),
        ({"incidents": [{"id": "INC-0001", "type": "outbreak", "hosts": [{"state": "infected"}]}]},
         "incident 0 (INC-0001): hosts[0] has no host"),
        ({"incidents": [{"id": "INC-0001", "type": "outbreak", "first_alert": "yesterday"}]},
         "first_alert: 'yesterday' is not an ISO 8601 time"),
        ({"incidents": [{"id": "INC-7", "accounts": {"locked": [{"account": "a", "ts": 5}]}}]},
         "accounts.locked[0].ts: time 5 is not a string"),
    ],
)
def test_malformed_incidents_name_the_file_and_record(tmp_path, truth, content, says):
    i = _write(tmp_path / "bad-incidents.json", content)
    with pytest.raises(EvalError) as exc:
        load_incidents(i)
    assert str(i) in str(exc.value) and says in str(exc.value)
    t = _write(tmp_path / "truth.json", truth)
    res = runner.invoke(app, ["eval", "--truth", str(t), "--incidents", str(i)])
    assert res.exit_code == 1
    assert "bad-incidents.json" in res.output and "error" in res.output


def test_missing_files_are_clear_errors(tmp_path, truth):
    with pytest.raises(EvalError, match="nowhere.json: cannot read the incidents file"):
        load_incidents(tmp_path / "nowhere.json")
    with pytest.raises(EvalError, match="truth.json: the truth file is empty"):
        load_truth(_write(tmp_path / "truth.json", "  \n"))
    bad = dict(truth, infections=[{"host": "ws-0001", "time": "noon"}])
    with pytest.raises(EvalError, match=r"infections\[0\]: 'noon' is not an ISO 8601 time"):
        load_truth(_write(tmp_path / "t2.json", bad))
    res = runner.invoke(app, ["eval", "--truth", str(tmp_path / "t2.json")])
    assert res.exit_code == 1 and "--incidents" in res.output


def test_truth_file_round_trip(tmp_path, truth):
    t = load_truth(_write(tmp_path / "truth.json", truth))
    assert (t.scenario, t.hosts, t.days, t.patient_zero) == ("emotet", 100, 2.0, "ws-0001")
    assert [i.infector for i in t.infections] == [None, "ws-0001", "ws-0001", "ws-0002", "ws-0003"]
    assert t.lockouts[1].account == "asmith" and t.lockouts[1].source_host == "ws-0002"


def test_host_names_are_printed_literally_not_as_markup(tmp_path, truth, incidents):
    incidents["incidents"][0]["patient_zero"] = "[bold]evil[/bold]"
    t, i = _write(tmp_path / "truth.json", truth), _write(tmp_path / "incidents.json", incidents)
    res = runner.invoke(app, ["eval", "-t", str(t), "-i", str(i)])
    assert res.exit_code == 0, res.output
    assert "found [bold]evil[/bold]" in res.output.replace("\n", " ") or "[bold]evil[/bold]" in res.output
