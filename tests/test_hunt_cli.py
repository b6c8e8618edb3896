"""``wormsign hunt`` end to end on a small case: valid incidents.json and alerts.ndjson, saved into the case."""

from __future__ import annotations

import json
from pathlib import Path

from detect.huntrows import make_case, outbreak_rows
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.store import Case

INCIDENT_KEYS = {"id", "type", "title", "severity", "first_seen", "last_seen", "first_alert", "patient_zero",
                 "initial_access", "hosts", "edges", "generations", "spread_rate_per_hour", "r_estimate",
                 "under_attack", "accounts", "families", "deliveries", "c2", "containment", "actions", "files",
                 "next_hops", "alerts"}
ALERT_KEYS = {"id", "rule", "title", "severity", "attack", "ts", "first_seen", "last_seen", "host", "source_host",
              "target_hosts", "summary", "evidence", "fields"}


def test_hunt_cli_on_a_case(tmp_path: Path) -> None:
    case_path = tmp_path / "c.duckdb"
    make_case(case_path, outbreak_rows()).close()
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["hunt", "--case", str(case_path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "patient zero: ws-01" in res.output and "Containment order" in res.output
    assert "alice" in res.output  # the locked accounts, for the helpdesk
    doc = json.loads((out / "incidents.json").read_text())
    assert doc["format"] == "wormsign.incidents/1" and doc["incidents"]
    for inc in doc["incidents"]:
        assert set(inc) == INCIDENT_KEYS
        assert inc["type"] in {"outbreak", "bruteforce", "spray", "lateral", "beacon", "sigma"}
    alerts = [json.loads(line) for line in (out / "alerts.ndjson").read_text().splitlines()]
    assert alerts and all(set(a) == ALERT_KEYS for a in alerts)
    ids = {a["id"] for a in alerts}
    assert all(i in ids for inc in doc["incidents"] for i in inc["alerts"])
    with Case.open(str(case_path), read_only=True) as case:
        assert case.get_meta("hunt")["incidents"] == doc["incidents"]
        assert case.rows("SELECT count(*) FROM alerts")[0][0] == len(alerts)


def test_hunt_cli_without_input_fails_clearly(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["hunt", "--case", str(tmp_path / "missing.duckdb")])
    assert res.exit_code == 1 and "no case file" in res.output


def test_hunt_cli_writes_the_report(tmp_path: Path) -> None:
    case_path = tmp_path / "c.duckdb"
    make_case(case_path, outbreak_rows()).close()
    report = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["hunt", "--case", str(case_path), "--out", str(tmp_path), "--no-sigma",
                                   "--report", str(report)])
    assert res.exit_code == 0, res.output
    html = report.read_text()
    assert "<html" in html.lower() and "ws-01" in html


def test_hunt_cli_prints_hostile_names_as_text(tmp_path: Path) -> None:
    """Host and account names are attacker-written: rich markup in them is shown, not run."""
    rows = [r for r in outbreak_rows()]
    for r in rows:
        if r.get("user.name") == "alice":
            r["user.name"] = "[/x][bold]mallory"
    case_path = tmp_path / "c.duckdb"
    make_case(case_path, rows).close()
    res = CliRunner().invoke(app, ["hunt", "--case", str(case_path), "--out", str(tmp_path), "--no-sigma"])
    assert res.exit_code == 0, res.output
    assert "[/x][bold]mallory" in res.output
