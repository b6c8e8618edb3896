"""Rules that spell one field differently (SigmaHQ: ``Payload`` and ``payload``) share one column
of sigma_events, which reads the record's value under every spelling: each rule finds the events
written its way, whatever order the field names reach the table in (in a run, a set's order)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import fields, run_sigma

RULES = """
title: Upper
id: 0c8a3b57-1f55-4d4e-9b8e-3a1f0c1d2e01
logsource: {product: windows, service: security}
detection:
  selection: {Payload|contains: evil}
  condition: selection
level: high
---
title: Lower
id: 0c8a3b57-1f55-4d4e-9b8e-3a1f0c1d2e02
logsource: {product: windows, service: security}
detection:
  selection: {payload|contains: evil}
  condition: selection
level: high
"""


@pytest.mark.parametrize("order", [sorted, lambda names: sorted(names, reverse=True)], ids=["asc", "desc"])
def test_each_spelling_is_read_in_any_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: Callable[[Iterable[str]], list[str]]
) -> None:
    rows = [
        event(1, "security", 4103, {"Payload": "an evil cmdlet"}, at=timedelta(0)),
        event(2, "security", 4103, {"payload": "evil on port 22"}, at=timedelta(hours=1)),
        event(3, "security", 4103, {"Payload": "benign"}, at=timedelta(hours=2)),
    ]
    build = fields.build
    monkeypatch.setattr(fields, "build", lambda case, names, *a, **k: build(case, order(names), *a, **k))
    with make_case(tmp_path / "c.duckdb", rows) as case:
        run = run_sigma(case, [str(write_rules(tmp_path / "rules", RULES))], builtin=False)
    found = {(a["title"], ref.split(":")[1]) for a in run.alerts for ref in a["evidence"]}
    # One column per field whatever its case (DuckDB's identifiers are case-insensitive): both
    # rules see both events, and neither sees the benign one.
    assert found == {("Upper", "1"), ("Upper", "2"), ("Lower", "1"), ("Lower", "2")}
    assert run.skipped == []
