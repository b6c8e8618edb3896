"""What a responder reads, from real hunts: every incident by severity, and false highs (high or
critical incidents none of whose hosts is in the truth) per 10,000 host-days."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.eval import load_incidents, load_truth, score
from wormsign.eval.suite import Run, load_hunt, load_simulator, run_one

runner = CliRunner()
HOSTS, DAYS = 24, 1


@pytest.fixture(scope="module")
def hunted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real spray and a real benign run (simulate, ingest, hunt), each kept as truth.json and
    incidents.json in its own folder."""
    simulate, known = load_simulator()
    hunt = load_hunt()
    assert hunt is not None and {"spray", "benign"} <= set(known)
    root = tmp_path_factory.mktemp("hunted")
    out = {}
    for name in ("spray", "benign"):
        run = run_one(Run(name, 1, HOSTS, DAYS), simulate, hunt, keep=root / name, workers=1)
        assert run.error is None, run.error
        out[name] = root / name
    return out


def _doc(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "incidents.json").read_text(encoding="utf-8"))


def _eval(tmp_path: Path, folder: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """``wormsign eval`` on the run's truth and ``doc`` written as incidents.json; the scores."""
    inc, out = tmp_path / "incidents.json", tmp_path / "scores.json"
    inc.write_text(json.dumps(doc), encoding="utf-8")
    res = runner.invoke(app, ["eval", "-t", str(folder / "truth.json"), "-i", str(inc),
                              "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "false highs / 10k host-days" in res.output and "incidents read" in res.output
    return json.loads(out.read_text(encoding="utf-8"))


def _truth_hosts(folder: Path) -> set[str]:
    return set().union(*load_truth(folder / "truth.json").host_sets().values())


def _incident(iid: str, severity: str, source: str, targets: list[str]) -> dict[str, Any]:
    hosts = [{"host": source, "state": "source"}] + [{"host": t, "state": "attacked"} for t in targets]
    return {"id": iid, "type": "lateral", "severity": severity, "title": f"lateral from {source}",
            "patient_zero": None, "hosts": hosts,
            "edges": [{"source": source, "target": t} for t in targets], "accounts": {}}


def test_every_incident_of_a_real_hunt_is_counted_by_severity(hunted):
    for folder in hunted.values():
        incidents = _doc(folder)["incidents"]
        s = score(load_truth(folder / "truth.json"), load_incidents(folder / "incidents.json"))
        assert s.incidents == len(incidents)
        for sev in ("critical", "high", "medium", "low"):
            assert s.incidents_by_severity[sev] == sum(1 for i in incidents if i["severity"] == sev)
        assert sum(s.incidents_by_severity.values()) == len(incidents)
        assert s.high_incidents == sum(1 for i in incidents if i["severity"] in ("critical", "high"))
        assert s.false_highs == len(s.false_high_incidents) <= s.high_incidents
        assert s.false_highs_per_10k_host_days == pytest.approx(s.false_highs / (HOSTS * DAYS) * 10_000)


def test_on_a_benign_network_every_high_incident_is_a_false_high(hunted):
    folder = hunted["benign"]
    assert _truth_hosts(folder) == set()
    s = score(load_truth(folder / "truth.json"), load_incidents(folder / "incidents.json"))
    highs = {i["id"] for i in _doc(folder)["incidents"] if i["severity"] in ("critical", "high")}
    assert {i["id"] for i in s.false_high_incidents} == highs


def test_the_real_spray_incident_is_not_a_false_high(hunted):
    folder = hunted["spray"]
    truth = load_truth(folder / "truth.json")
    assert len(truth.sources) == 1 and not truth.infections
    sprayer = truth.sources[0]
    s = score(truth, load_incidents(folder / "incidents.json"))
    false = {i["id"] for i in s.false_high_incidents}
    naming = [i for i in _doc(folder)["incidents"] if i["severity"] in ("critical", "high")
              and any(h["host"] == sprayer and h["state"] == "source" for h in i["hosts"])]
    assert naming, "the hunt raised no high incident with the sprayer as its source"
    assert not false & {i["id"] for i in naming}


def test_a_high_incident_on_hosts_outside_the_truth_is_a_false_high(tmp_path, hunted):
    folder = hunted["spray"]
    base = _eval(tmp_path, folder, _doc(folder))
    outside = ["kiosk-91", "kiosk-92", "kiosk-93"]
    assert not set(outside) & _truth_hosts(folder)
    doc = _doc(folder)
    doc["incidents"].append(_incident("INC-9001", "high", outside[0], outside[1:]))
    doc["incidents"].append(_incident("INC-9002", "medium", outside[0], outside[1:]))
    got = _eval(tmp_path, folder, doc)
    assert got["false_highs"] == base["false_highs"] + 1
    assert got["high_incidents"] == base["high_incidents"] + 1
    assert "INC-9001" in {i["id"] for i in got["false_high_incidents"]}
    assert got["incidents_by_severity"]["medium"] == base["incidents_by_severity"]["medium"] + 1
    assert got["incidents"] == base["incidents"] + 2
    assert got["false_highs_per_10k_host_days"] == pytest.approx(
        base["false_highs_per_10k_host_days"] + 10_000 / (HOSTS * DAYS))
    # the other figures keep their meaning: a lateral incident is no outbreak
    for key in ("recall", "precision", "false_incidents", "lockout_attribution", "patient_zero_right"):
        assert got[key] == base[key]


@pytest.mark.parametrize("where", ["source", "target", "edge-only", "patient-zero"])
def test_a_high_incident_touching_a_truth_host_is_not_a_false_high(tmp_path, hunted, where):
    folder = hunted["spray"]
    truth = load_truth(folder / "truth.json")
    base = _eval(tmp_path, folder, _doc(folder))
    sprayer, target = truth.sources[0], truth.attacked[0]
    if where == "source":  # the sprayer, as the incident's source
        inc = _incident("INC-9001", "critical", sprayer, ["kiosk-91"])
    elif where == "target":  # a host the truth says was attacked, as a target
        inc = _incident("INC-9001", "high", "kiosk-91", [target])
    elif where == "edge-only":  # named only by an edge
        inc = _incident("INC-9001", "high", "kiosk-91", ["kiosk-92"])
        inc["edges"].append({"source": sprayer.upper() + ".corp.example", "target": "kiosk-92"})
    else:
        inc = dict(_incident("INC-9001", "high", "kiosk-91", ["kiosk-92"]), patient_zero=sprayer)
    doc = _doc(folder)
    doc["incidents"].append(inc)
    got = _eval(tmp_path, folder, doc)
    assert got["high_incidents"] == base["high_incidents"] + 1
    assert got["false_highs"] == base["false_highs"]
    assert "INC-9001" not in {i["id"] for i in got["false_high_incidents"]}


def test_a_push_that_reaches_the_sprayer_as_a_target_is_still_false(tmp_path, hunted):
    """The sprayer is in the truth as an attacker: a deployer's push that lists it among its
    targets is not about the spray."""
    folder = hunted["spray"]
    sprayer = load_truth(folder / "truth.json").sources[0]
    base = _eval(tmp_path, folder, _doc(folder))
    doc = copy.deepcopy(_doc(folder))
    doc["incidents"].append(_incident("INC-9001", "high", "kiosk-91", [sprayer, "kiosk-92"]))
    got = _eval(tmp_path, folder, doc)
    assert got["false_highs"] == base["false_highs"] + 1


def test_suite_reports_severities_false_highs_and_the_floor(tmp_path):
    out = tmp_path / "suite"
    res = runner.invoke(app, ["eval", "--suite", "--scenarios", "benign,spray", "--seeds", "1",
                              "--sizes", str(HOSTS), "--days", str(DAYS), "--out", str(out), "-j", "1",
                              "--markdown"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    summary = doc["summary"]
    floor = summary["floors"]["false_highs_per_10k_host_days"]
    assert floor["max"] == 1.0 and set(floor["scenarios"]) == {"benign", "spray"}
    for name in ("benign", "spray"):
        p = summary["scenarios"][name]
        (run,) = [r for r in doc["runs"] if r["scenario"] == name]
        s = run["score"]
        assert p["incidents_by_severity"] == s["incidents_by_severity"]
        assert p["incidents_per_run_by_severity"] == {k: float(v)
                                                      for k, v in s["incidents_by_severity"].items()}
        assert p["false_highs"] == s["false_highs"] and p["host_days"] == HOSTS * DAYS
        assert p["false_highs_per_10k_host_days"] == pytest.approx(s["false_highs_per_10k_host_days"])
        assert floor["scenarios"][name] is (p["false_highs_per_10k_host_days"] <= 1.0)
        kept = _doc(out / "runs" / Run(name, 1, HOSTS, DAYS).name)
        assert p["incidents"] == len(kept["incidents"])
    overall = summary["overall"]
    assert overall["false_highs"] == sum(summary["scenarios"][n]["false_highs"] for n in ("benign", "spray"))
    # the Markdown table: a header, an alignment row, one row per scenario and overall
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[0] == "scenario" and "high/run" in head and "false highs /10k h-d" in head
    assert head[head.index("false highs /10k h-d") + 1] == "≤ 1 false high"
    rows = {r[0]: r for r in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:])}
    assert set(rows) == {"benign", "spray", "**overall**"}
    verdict = head.index("≤ 1 false high")
    for name in ("benign", "spray"):
        assert rows[name][verdict] == ("yes" if floor["scenarios"][name] else "NO")
        per_run = summary["scenarios"][name]["incidents_per_run_by_severity"]
        assert rows[name][head.index("high/run")] == f"{per_run['high']:.1f}"
    # --table prints the same table again from suite.json, without running anything
    again = runner.invoke(app, ["eval", "--table", str(out / "suite.json"), "--markdown"])
    assert again.exit_code == 0, again.output
    assert [ln for ln in again.stdout.splitlines() if ln.startswith("|")] == lines


def test_table_of_a_file_that_is_no_suite_is_a_clear_error(tmp_path):
    bad = tmp_path / "suite.json"
    bad.write_text(json.dumps({"runs": []}), encoding="utf-8")
    res = runner.invoke(app, ["eval", "--table", str(bad)])
    assert res.exit_code == 1 and "not a suite.json" in res.output
