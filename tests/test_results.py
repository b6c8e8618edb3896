"""The hunt's results are typed records (wormsign.results) with datetimes inside, and every time in
its JSON outputs has the one ISO form: checked on the bundled demo outbreak, hunted for real."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign import results as r
from wormsign.cli import app

TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
ONE_FORM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(app, ["hunt", "--demo", "--case", str(tmp / "case"), "--out", str(tmp / "out"),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    return tmp / "case", tmp / "out"


def _times(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in ``value`` that reads as a time, with where it is."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _times(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) and TIME_TEXT.match(value) else []


def test_every_time_in_the_outputs_has_the_one_form(demo: tuple[Path, Path]) -> None:
    _, out = demo
    doc = json.loads((out / "incidents.json").read_text())
    alerts = [json.loads(line) for line in (out / "alerts.ndjson").read_text().splitlines()]
    found = _times(doc) + _times(alerts)
    assert len(found) > 1000  # incidents, hosts, edges, deliveries, lockouts, alerts
    assert [(p, t) for p, t in found if not ONE_FORM.match(t)] == []


def test_the_outputs_are_the_typed_records(demo: tuple[Path, Path]) -> None:
    _, out = demo
    doc = json.loads((out / "incidents.json").read_text())
    typed = r.IncidentsDocument.model_validate(doc)  # declared keys only (extra="forbid")
    assert typed.to_json() == doc
    outbreak = next(i for i in typed.incidents if i.type == "outbreak")
    assert isinstance(outbreak.first_seen, datetime) and outbreak.first_seen.utcoffset().total_seconds() == 0
    assert all(isinstance(e.ts, datetime) for e in outbreak.edges)
    assert all(e.ts >= outbreak.hosts[0].infected_at for e in outbreak.edges)  # compared as times
    for line in (out / "alerts.ndjson").read_text().splitlines():
        a = json.loads(line)
        assert r.Alert.model_validate(a).to_json() == a
    assert "tactics" in a or any("tactics" in json.loads(x) for x in (out / "alerts.ndjson").read_text().splitlines())


def test_the_library_hunt_returns_the_records(demo: tuple[Path, Path]) -> None:
    import wormsign

    case_path, out = demo
    with wormsign.open_case(case_path) as case:
        res = wormsign.hunt(case)
    assert isinstance(res.records, r.IncidentsDocument)
    assert [i.to_json() for i in res.records.incidents] == res.document["incidents"]
    assert [a.to_json() for a in res.alert_records] == res.alerts
    assert len(res.alert_records) == len((out / "alerts.ndjson").read_text().splitlines())
