"""Only the rows a rule can match are copied into sigma_events, and no rule matches otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import run_sigma, scope
from wormsign.detect.sigma.backend import DuckDBSigmaBackend
from wormsign.store import Case

S = timedelta(seconds=1)

RULE = """
title: {title}
id: 00000000-0000-0000-0000-{n:012d}
logsource: {{product: windows{ls}}}
detection:
{det}
level: high
"""

# Each rule with its condition; the log source is ', service: security' unless given.
RULES = {
    "one id": ("  sel: {EventID: 4625}\n  condition: sel", ", service: security"),
    "id as text": ("  sel: {EventID: '4625'}\n  condition: sel", ", service: security"),
    "lower-case field": ("  sel: {eventid: 4625, IpAddress: '10.0.0.9'}\n  condition: sel", ", service: security"),
    "list of ids": ("  sel: {EventID: [7045, 4697], Channel: [System, Security]}\n  condition: sel", ""),
    "channel in capitals": ("  sel: {Channel: SECURITY, EventID: 4625}\n  condition: sel", ""),
    "not an id": ("  sel: {IpAddress: '10.0.0.9'}\n  other: {EventID: 4625}\n  condition: sel and not other",
                  ", service: security"),
    "or across ids": ("  a: {EventID: 4625}\n  b: {ShareName|endswith: 'IPC$'}\n  condition: a or b",
                      ", service: security"),
    "id prefix": ("  sel: {EventID|startswith: '462'}\n  condition: sel", ", service: security"),
    "id regex": ("  sel: {EventID|re: '^462[45]$'}\n  condition: sel", ", service: security"),
    "category": ("  sel: {ParentImage|endswith: '\\services.exe'}\n  condition: sel", ", category: process_creation"),
    "product only": ("  sel: {Image|endswith: '\\cmd.exe'}\n  condition: sel", ""),
}


def _rule(n: int, det: str, ls: str) -> str:
    return RULE.format(title=f"rule {n}", n=n, ls=ls, det=det)


@pytest.fixture
def case(tmp_path: Path) -> Iterator[Case]:
    ip = {"IpAddress": "10.0.0.9"}
    rows = [
        event(1, "security", 4625, ip, at=0 * S, kind="auth"),
        event(2, "security", 4624, ip, at=1 * S, kind="auth"),
        event(3, "security", 5145, {"ShareName": "\\\\*\\IPC$", **ip}, at=2 * S, kind="share"),
        event(4, "security", 4697, {"ServiceName": "x", **ip}, at=3 * S, kind="service"),
        event(5, "system", 7045, {"ServiceName": "x"}, at=4 * S, kind="service"),
        event(6, "sysmon", 1, {"Image": "C:\\W\\cmd.exe", "ParentImage": "C:\\W\\services.exe"}, at=5 * S,
              kind="process"),
        event(7, "sysmon", 3, {"Image": "C:\\W\\cmd.exe", **ip}, at=6 * S, kind="network"),
        event(8, "security", 4625, ip, at=7 * S, kind="auth", **{"event.dataset": "SECURITY"}),
        event(9, "sysmon", 1, {"Image": "C:\\W\\cmd.exe"}, at=8 * S, kind="process", **{"event.code": "01"}),
    ]
    c = make_case(tmp_path / "case.duckdb", rows)
    yield c
    c.close()


def _copied(case: Case) -> set[int]:
    """The record numbers of the rows in sigma_events."""
    return {int(r.split(":")[1]) for (r,) in case.rows("SELECT wormsign_ref FROM sigma_events")}


def _outcome(run) -> tuple[str, dict[str, int]]:
    return json.dumps(run.alerts, sort_keys=True, default=str), dict(run.hits)


@pytest.mark.parametrize("name", sorted(RULES))
def test_same_matches_as_copying_every_row(case: Case, tmp_path: Path, name: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    det, ls = RULES[name]
    write_rules(tmp_path / "r", _rule(1, det, ls))
    scoped = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert scoped.converted == 1, scoped.skipped
    copied = _copied(case)
    monkeypatch.setattr(scope, "needed", lambda rules, pairs, system: {tuple(p) for p in pairs})
    full = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert _outcome(scoped) == _outcome(full)
    assert copied <= _copied(case)


def test_only_the_pairs_a_rule_names_are_copied(case: Case, tmp_path: Path) -> None:
    write_rules(tmp_path / "r", _rule(1, *RULES["one id"]))
    run = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert _copied(case) == {1, 8}
    assert run.hits["sigma:00000000-0000-0000-0000-000000000001"] == 2


def test_conditions_that_name_no_id_keep_their_whole_log_source(case: Case, tmp_path: Path) -> None:
    for n, name in enumerate(("not an id", "id prefix", "id regex"), 1):
        write_rules(tmp_path / "r", _rule(n, *RULES[name]))
        run_sigma(case, [str(tmp_path / "r")], builtin=False)
        assert _copied(case) == {1, 2, 3, 4, 8}, name
    write_rules(tmp_path / "r", _rule(9, *RULES["category"]))
    run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert _copied(case) == {6}  # 9 is EventID '01': no process_creation EventID
    write_rules(tmp_path / "r", _rule(10, *RULES["list of ids"]))
    run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert _copied(case) == {4, 5}


def test_several_rules_copy_the_union_and_each_matches_as_alone(case: Case, tmp_path: Path) -> None:
    text = "\n---\n".join(_rule(n, det, ls) for n, (det, ls) in enumerate(RULES.values(), 1))
    write_rules(tmp_path / "all", text)
    together = run_sigma(case, [str(tmp_path / "all")], builtin=False)
    assert together.converted == len(RULES), together.skipped
    for n, (det, ls) in enumerate(RULES.values(), 1):
        write_rules(tmp_path / f"r{n}", _rule(n, det, ls))
        alone = run_sigma(case, [str(tmp_path / f"r{n}")], builtin=False)
        key = f"sigma:00000000-0000-0000-0000-{n:012d}"
        assert alone.hits[key] == together.hits[key], key
    assert together.hits["sigma:00000000-0000-0000-0000-000000000001"] == 2


def test_backend_keeps_one_tree_per_condition_and_the_scope_reads_it() -> None:
    from sigma.collection import SigmaCollection

    from wormsign.detect.sigma import logsources

    text = _rule(1, "  a: {EventID: 4625}\n  b: {EventID: 4624}\n  condition: [a, b]", ", service: security")
    rule = SigmaCollection.from_yaml(text).rules[0]
    backend = DuckDBSigmaBackend(processing_pipeline=logsources.load().pipeline(), collect_errors=True)
    assert len(backend.convert_rule(rule)) == 2
    assert len(backend.trees) == 2
    pairs = [("Security", "4625", None, "|security|"), ("Security", "4624", None, "|security|"),
             ("Security", "4688", "|process_creation|", "|security|"), ("System", "4625", None, "|system|")]
    got = scope.needed([backend.trees], pairs, {"EventID": "event.code", "Channel": "event.dataset"})
    assert got == set(pairs[:2])
