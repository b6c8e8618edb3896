"""Correlation rules (value_count, event_count, temporal) with window merging, on tiny real cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import run_sigma
from wormsign.detect.sigma.correlate import Hit, evaluate

M = timedelta(minutes=1)

BASE = """
title: failed logon
id: 10000000-0000-0000-0000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
level: low
"""

SPRAY = """
title: spray
id: 10000000-0000-0000-0000-000000000002
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {gte: 5, field: TargetUserName}
level: high
tags: [attack.t1110.003]
"""

BRUTE = """
title: brute
id: 10000000-0000-0000-0000-000000000003
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress, TargetUserName]
  timespan: 5m
  condition: {gte: 4}
level: medium
"""


def failed(n: int, at: timedelta, ip: str, user: str, host: str = "dc-01") -> dict:
    data = {"IpAddress": ip, "TargetUserName": user, "LogonType": "3"}
    return event(
        n, "security", 4625, data, at=at, host=host, kind="auth", **{"source.ip": ip, "user.name": user}
    )


def test_value_count_two_bursts_two_alerts_and_one_long_burst_one(tmp_path: Path) -> None:
    rows = []
    n = 0
    # 10.0.0.5: 6 users in 3 minutes, then 2 hours later 6 users again -> two alerts
    for burst in (timedelta(0), timedelta(hours=2)):
        for i in range(6):
            n += 1
            rows.append(failed(n, burst + i * 30 * timedelta(seconds=1), "10.0.0.5", f"user{i}"))
    # 10.0.0.9: a new user every 2 minutes for an hour -> one long burst, one alert
    for i in range(30):
        n += 1
        rows.append(failed(n, i * 2 * M, "10.0.0.9", f"acct{i}"))
    # 10.0.0.7: 4 users only -> nothing
    for i in range(4):
        n += 1
        rows.append(failed(n, i * M, "10.0.0.7", f"x{i}"))
    case = make_case(tmp_path / "c.duckdb", rows)
    write_rules(tmp_path / "r", BASE + "---" + SPRAY)
    run = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert run.converted == 2 and run.skipped == []
    spray = [a for a in run.alerts if a["rule"] == "sigma:10000000-0000-0000-0000-000000000002"]
    by_ip: dict[str, list[dict]] = {}
    for a in spray:
        by_ip.setdefault(a["fields"]["group"]["IpAddress"], []).append(a)
    assert sorted(by_ip) == ["10.0.0.5", "10.0.0.9"]
    assert len(by_ip["10.0.0.5"]) == 2
    assert [a["fields"]["distinct"] for a in by_ip["10.0.0.5"]] == [6, 6]
    assert [len(a["evidence"]) for a in by_ip["10.0.0.5"]] == [6, 6]
    long = by_ip["10.0.0.9"]
    assert len(long) == 1 and long[0]["fields"]["count"] == 30
    assert long[0]["first_seen"] == "2026-03-02T09:00:00.000000Z"
    assert long[0]["last_seen"] == "2026-03-02T09:58:00.000000Z"
    assert long[0]["attack"] == ["T1110.003"] and long[0]["severity"] == "high"
    # a base rule referenced without generate: true raises no alerts of its own
    assert all(a["rule"] != "sigma:10000000-0000-0000-0000-000000000001" for a in run.alerts)
    case.close()


def test_event_count_groups_by_two_fields(tmp_path: Path) -> None:
    rows = [failed(i + 1, i * 20 * timedelta(seconds=1), "10.0.0.5", "alice") for i in range(5)]
    rows += [failed(10 + i, i * 20 * timedelta(seconds=1), "10.0.0.5", f"u{i}") for i in range(5)]
    rows += [failed(20 + i, timedelta(hours=1) + i * 3 * M, "10.0.0.6", "bob") for i in range(5)]  # too slow
    case = make_case(tmp_path / "c.duckdb", rows)
    write_rules(tmp_path / "r", BASE + "---" + BRUTE)
    run = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert len(run.alerts) == 1
    a = run.alerts[0]
    assert a["fields"]["group"] == {"IpAddress": "10.0.0.5", "TargetUserName": "alice"}
    assert a["fields"]["count"] == 5 and a["fields"]["peak"] == 5
    assert a["severity"] == "medium" and a["host"] == "dc-01"
    case.close()


def test_temporal_ordered_needs_the_order(tmp_path: Path) -> None:
    rules = """
title: pipe
id: 10000000-0000-0000-0000-000000000011
name: pipe
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 5145, RelativeTargetName: atsvc}
  condition: sel
---
title: task
id: 10000000-0000-0000-0000-000000000012
name: task
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4698}
  condition: sel
---
title: remote task
id: 10000000-0000-0000-0000-000000000013
correlation:
  type: temporal_ordered
  rules: [pipe, task]
  group-by: [Computer]
  timespan: 2m
level: high
"""
    rows = [
        event(1, "security", 5145, {"RelativeTargetName": "atsvc"}, at=timedelta(0), host="a"),
        event(2, "security", 4698, {"TaskName": "\\t"}, at=timedelta(seconds=30), host="a"),
        event(3, "security", 4698, {"TaskName": "\\t"}, at=timedelta(0), host="b"),  # task first: no
        event(4, "security", 5145, {"RelativeTargetName": "atsvc"}, at=timedelta(seconds=30), host="b"),
        event(5, "security", 5145, {"RelativeTargetName": "atsvc"}, at=timedelta(0), host="c"),
        event(6, "security", 4698, {"TaskName": "\\t"}, at=timedelta(minutes=5), host="c"),  # too late
    ]
    case = make_case(tmp_path / "c.duckdb", rows)
    write_rules(tmp_path / "r", rules)
    run = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert [a["host"] for a in run.alerts] == ["a"]
    assert run.alerts[0]["evidence"] == ["d" * 64 + ":1", "d" * 64 + ":2"]
    case.close()


def test_evaluate_merges_overlapping_windows() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    hits = [Hit(t0 + i * M, ("g",), "r", f"x:{i}", "h") for i in range(10)]
    hits += [Hit(t0 + timedelta(hours=1) + i * M, ("g",), "r", f"y:{i}", "h") for i in range(3)]
    bursts = evaluate(hits, "event_count", timedelta(minutes=3), "gte", 3)
    assert [len(b.hits) for b in bursts] == [10, 3]
    assert evaluate(hits, "event_count", timedelta(minutes=3), "gte", 5) == []


def test_unsupported_correlations_are_skipped_with_a_reason(tmp_path: Path) -> None:
    extra = """
title: sum
id: 10000000-0000-0000-0000-000000000021
correlation:
  type: value_sum
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {gte: 5, field: LogonType}
---
title: dangling
id: 10000000-0000-0000-0000-000000000022
correlation:
  type: event_count
  rules: [no_such_rule]
  timespan: 10m
  condition: {gte: 5}
"""
    case = make_case(tmp_path / "c.duckdb", [failed(1, timedelta(0), "10.0.0.1", "a")])
    write_rules(tmp_path / "r", BASE + "---" + SPRAY + "---" + extra)
    run = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    reasons = {s["rule"]: s["reason"] for s in run.skipped}
    assert "unsupported correlation type 'value_sum'" in reasons["10000000-0000-0000-0000-000000000021"]
    assert "unresolved rule reference" in reasons["10000000-0000-0000-0000-000000000022"]
    assert (run.loaded, run.converted, len(run.skipped)) == (4, 2, 2)
    case.close()
