"""``wormsign sigma`` on a small real case file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sigmacase import event, make_case, write_rules
from typer.testing import CliRunner

from wormsign.cli import app

RULE = """
title: Service [bold]installed[/bold]
id: 20000000-0000-0000-0000-000000000001
logsource: {product: windows, service: system}
detection:
  sel: {EventID: 7045}
  condition: sel
level: critical
"""


def test_cli_prints_fired_rules_and_writes_alerts(tmp_path: Path) -> None:
    rows = [
        event(
            1,
            "system",
            7045,
            {"ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe"},
            at=timedelta(0),
            kind="service",
        ),
        event(
            2,
            "system",
            7045,
            {"ServiceName": "x", "ImagePath": "C:\\x.exe"},
            at=timedelta(hours=1),
            host="ws-02",
            kind="service",
        ),
    ]
    make_case(tmp_path / "c.duckdb", rows).close()
    write_rules(tmp_path / "r", RULE)
    out = tmp_path / "alerts.ndjson"
    res = CliRunner().invoke(
        app,
        ["sigma", "--case", str(tmp_path / "c.duckdb"), "--rules", str(tmp_path / "r"), "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "17 rules loaded, 17 converted, 0 skipped" in res.output
    assert "[bold]" in res.output  # rule text is shown as text, not read as markup
    assert "critical" in res.output
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    rules = sorted(a["rule"] for a in alerts)
    assert rules.count("sigma:20000000-0000-0000-0000-000000000001") == 2
    assert "sigma:ea9fa704-2ea7-4f29-96ec-39577c671eb2" in rules  # in-house PsExec service rule
    assert "sigma:3f743abb-6f68-4312-98e3-b37c4127dfd3" in rules  # image in the ADMIN$ root


def test_cli_missing_case_is_an_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["sigma", "--case", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 1


def test_cli_strict_fails_on_a_rule_it_cannot_run(tmp_path: Path) -> None:
    make_case(
        tmp_path / "c.duckdb", [event(1, "system", 7045, {"ServiceName": "x"}, at=timedelta(0))]
    ).close()
    write_rules(tmp_path / "r", RULE.replace("product: windows", "product: linux"), "linux.yml")
    args = ["sigma", "--case", str(tmp_path / "c.duckdb"), "--rules", str(tmp_path / "r"), "--no-builtin"]
    lenient = CliRunner().invoke(app, args)
    assert lenient.exit_code == 0 and "1 rules loaded, 0 converted, 1 skipped" in lenient.output
    strict = CliRunner().invoke(app, [*args, "--strict", "--show-skipped"])
    assert strict.exit_code == 1
    assert "unsupported logsource product 'linux'" in strict.output
    assert "linux.yml" in strict.output
