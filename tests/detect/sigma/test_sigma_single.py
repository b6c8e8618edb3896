"""Single-event Sigma rules on a tiny real case: matching, modifiers, case, SQL safety."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import run_sigma
from wormsign.detect.sigma.backend import DuckDBSigmaBackend
from wormsign.store import Case

S = timedelta(seconds=1)

RULE = """
title: {title}
id: {id}
logsource: {{product: windows, {ls}}}
detection:
{det}
level: high
tags: [attack.lateral-movement, attack.t1021.002]
"""


def rule(title: str, rid: str, det: str, ls: str = "service: security") -> str:
    return RULE.format(title=title, id=rid, ls=ls, det=det)


@pytest.fixture
def case(tmp_path: Path) -> Case:
    rows = [
        event(
            1,
            "security",
            5145,
            {
                "ShareName": "\\\\*\\ADMIN$",
                "RelativeTargetName": "Temp\\Evil.EXE",
                "IpAddress": "10.1.2.3",
                "AccessList": "%%4417",
            },
            at=0 * S,
            kind="share",
        ),
        event(
            2,
            "security",
            5145,
            {
                "ShareName": "\\\\*\\IPC$",
                "RelativeTargetName": "svcctl",
                "IpAddress": "192.168.7.9",
                "AccessList": "%%4416",
            },
            at=1 * S,
            kind="share",
        ),
        event(
            3,
            "security",
            4688,
            {"NewProcessName": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami"},
            at=2 * S,
            kind="process",
            **{
                "process.executable": "C:\\Windows\\System32\\cmd.exe",
                "process.parent.executable": "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
            },
        ),
        event(
            4,
            "sysmon",
            1,
            {"Image": "C:\\Tools\\a_b.exe", "CommandLine": "a_b.exe --x", "ParentImage": "C:\\x\\p.exe"},
            at=3 * S,
            kind="process",
            host="ws-02",
        ),
        event(
            5,
            "system",
            7045,
            {"ServiceName": "svc1", "ImagePath": "%SystemRoot%\\abc.exe"},
            at=4 * S,
            kind="service",
        ),
    ]
    c = make_case(tmp_path / "case.duckdb", rows)
    yield c
    c.close()


def run(case: Case, tmp_path: Path, text: str):
    write_rules(tmp_path / "r", text)
    return run_sigma(case, [str(tmp_path / "r")], builtin=False)


def refs(run) -> set[str]:
    return {r.split(":")[1] for a in run.alerts for r in a["evidence"]}


def test_equality_is_case_insensitive_and_alert_has_format_keys(case: Case, tmp_path: Path) -> None:
    r = run(
        case,
        tmp_path,
        rule(
            "share",
            "00000000-0000-0000-0000-000000000001",
            "  sel:\n    EventID: 5145\n    ShareName: '\\\\*\\admin$'\n  condition: sel",
        ),
    )
    assert (r.loaded, r.converted, r.skipped) == (1, 1, [])
    assert refs(r) == {"1"}
    a = r.alerts[0]
    assert a["rule"] == "sigma:00000000-0000-0000-0000-000000000001"
    assert a["severity"] == "high" and a["attack"] == ["T1021.002"]
    assert a["host"] == "ws-01" and a["first_seen"] == "2026-03-02T09:00:00.000000Z"
    assert a["evidence"] == ["d" * 64 + ":1"] and a["fields"]["count"] == 1
    assert a["id"] == "ALR-000001" and "share" in a["summary"]


@pytest.mark.parametrize(
    ("det", "want"),
    [
        ("RelativeTargetName|contains: 'evil'", {"1"}),
        ("RelativeTargetName|startswith: 'TEMP\\'", {"1"}),
        ("RelativeTargetName|endswith: '.exe'", {"1"}),
        ("RelativeTargetName|contains|all: ['temp', 'evil']", {"1"}),
        ("RelativeTargetName|contains|all: ['temp', 'nothere']", set()),
        ("RelativeTargetName|re: '^svc[a-z]+$'", {"2"}),
        ("IpAddress|cidr: '10.0.0.0/8'", {"1"}),
        ("IpAddress|cidr: '192.168.0.0/16'", {"2"}),
        ("AccessList: '%%4417'", {"1"}),  # a literal % is not a LIKE wildcard
        ("RelativeTargetName: 'svc*'", {"2"}),
        ("RelativeTargetName: 'svc?tl'", {"2"}),
        ("RelativeTargetName: 'svc_tl'", set()),  # a literal _ is not a LIKE wildcard
        ("RelativeTargetName|cased: 'SVCCTL'", set()),
        # lists of three or more become one regular expression: same answers
        ("RelativeTargetName|endswith: ['.dll', '.EXE', '.sys']", {"1"}),
        ("RelativeTargetName|contains: ['nothing', 'VCCT', 'zzz']", {"2"}),
        ("RelativeTargetName|startswith: ['temp\\', 'x', 'y']", {"1"}),
        ("RelativeTargetName: ['svcctl', 'a', 'b']", {"2"}),
        ("RelativeTargetName: ['svc?tl', 'q*', 'r']", {"2"}),
        ("RelativeTargetName: ['svc_tl', 'svc.tl', 'svc(tl', '(x|svcctl)']", set()),
        ("RelativeTargetName|contains: ['p\\evil.', 'a|b', '$x']", {"1"}),
        ("AccessList|contains: ['%%4417', '%%9999', 'x']", {"1"}),
        ('RelativeTargetName|contains: ["it\'s", "\') OR 1=1 --", "\'"]', set()),
    ],
)
def test_modifiers(case: Case, tmp_path: Path, det: str, want: set[str]) -> None:
    r = run(
        case,
        tmp_path,
        rule("m", "00000000-0000-0000-0000-000000000002", f"  sel:\n    {det}\n  condition: sel"),
    )
    assert r.converted == 1, r.skipped
    assert refs(r) == want


def test_process_creation_spans_sysmon_and_4688(case: Case, tmp_path: Path) -> None:
    det = "  sel:\n    Image|endswith: ['\\cmd.exe', '\\a_b.exe']\n  condition: sel"
    r = run(
        case, tmp_path, rule("p", "00000000-0000-0000-0000-000000000003", det, "category: process_creation")
    )
    assert refs(r) == {"3", "4"}  # 4688 has no Image: process.executable stands in
    assert {a["host"] for a in r.alerts} == {"ws-01", "ws-02"}
    det2 = "  sel:\n    ParentImage|endswith: '\\WmiPrvSE.exe'\n  condition: sel"
    r2 = run(
        case, tmp_path, rule("p", "00000000-0000-0000-0000-000000000004", det2, "category: process_creation")
    )
    assert refs(r2) == {"3"}


def test_logsource_restricts_events(case: Case, tmp_path: Path) -> None:
    # CommandLine exists on events 3 and 4, but only 4 is in the sysmon service
    r = run(
        case,
        tmp_path,
        rule(
            "s",
            "00000000-0000-0000-0000-000000000005",
            "  sel:\n    CommandLine|contains: ' '\n  condition: sel",
            "service: sysmon",
        ),
    )
    assert refs(r) == {"4"}


def test_not_filter_on_absent_field_still_matches(case: Case, tmp_path: Path) -> None:
    det = "  sel:\n    EventID: 5145\n  f:\n    NoSuchField: 'x'\n  condition: sel and not f"
    r = run(case, tmp_path, rule("n", "00000000-0000-0000-0000-000000000006", det))
    assert refs(r) == {"1", "2"}


def test_hostile_value_stays_a_value(case: Case, tmp_path: Path) -> None:
    evil = "x' OR 1=1 OR 'a'='a"
    det = f'  sel:\n    RelativeTargetName: "{evil}"\n    ShareName|contains: "\'); DROP TABLE events; --"\n  condition: sel'
    r = run(case, tmp_path, rule("h", "00000000-0000-0000-0000-000000000007", det))
    assert r.converted == 1 and r.alerts == []
    assert case.count() == 5
    q = DuckDBSigmaBackend().convert_rule(
        __import__("sigma.collection", fromlist=["SigmaCollection"])
        .SigmaCollection.from_yaml(rule("h", "00000000-0000-0000-0000-000000000008", det))
        .rules[0]
    )[0]
    assert "'x'' or 1=1 or ''a''=''a'" in q  # compared lower-cased, still one literal


def test_hostile_field_name_is_skipped_not_run(case: Case, tmp_path: Path) -> None:
    det = "  sel:\n    'Image\" = Image OR 1=1 --': x\n  condition: sel"
    r = run(case, tmp_path, rule("f", "00000000-0000-0000-0000-000000000009", det))
    assert r.converted == 0 and r.alerts == []
    assert "unsupported field name" in r.skipped[0]["reason"]


def test_bad_rules_are_counted_not_fatal(case: Case, tmp_path: Path) -> None:
    good = rule(
        "g",
        "00000000-0000-0000-0000-00000000000a",
        "  sel:\n    EventID: 7045\n  condition: sel",
        "service: system",
    )
    zeek = rule("z", "00000000-0000-0000-0000-00000000000b", "  sel:\n    x: 1\n  condition: sel").replace(
        "product: windows", "product: zeek"
    )
    kw = rule("k", "00000000-0000-0000-0000-00000000000c", "  kw:\n    - evil\n  condition: kw")
    broken = "title: broken\nlogsource: {product: windows}\ndetection:\n  condition: nothere\n"
    write_rules(tmp_path / "r", "---\n".join([good, zeek, kw]), "a.yml")
    write_rules(tmp_path / "r", broken, "b.yml")
    write_rules(tmp_path / "r", "title: [unclosed", "c.yml")
    r = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert r.converted == 1 and refs(r) == {"5"}
    reasons = " | ".join(s["reason"] for s in r.skipped)
    assert "unsupported logsource product 'zeek'" in reasons
    assert "Value-only string expressions" in reasons
    assert "parse error" in reasons or "cannot load" in reasons
    assert any(s["file"].endswith("c.yml") for s in r.skipped)
    assert len(r.skipped) == 4


def test_compiled_sql_uses_one_regex_for_a_list() -> None:
    from sigma.collection import SigmaCollection

    det = "  sel:\n    Image|endswith: ['\\a.exe', '\\b.exe', 'it''s.exe']\n  condition: sel"
    r = SigmaCollection.from_yaml(rule("l", "00000000-0000-0000-0000-00000000000d", det)).rules[0]
    (q,) = DuckDBSigmaBackend().convert_rule(r)
    assert q == """regexp_matches("~Image", '(?s)(?:\\\\a\\.exe$)|(?:\\\\b\\.exe$)|(?:it''s\\.exe$)')"""


def test_hits_and_evidence_are_bounded(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.detect.sigma import alerts

    monkeypatch.setitem(alerts.settings(), "max_hits_per_rule", 1)
    monkeypatch.setitem(alerts.settings(), "max_evidence", 0)
    r = run(
        case,
        tmp_path,
        rule("b", "00000000-0000-0000-0000-00000000000e", "  sel:\n    EventID: 5145\n  condition: sel"),
    )
    assert r.truncated == ["00000000-0000-0000-0000-00000000000e"]
    assert [a["fields"]["count"] for a in r.alerts] == [1] and r.alerts[0]["evidence"] == []


def test_field_names_match_whatever_their_case(case: Case, tmp_path: Path) -> None:
    r = run(
        case,
        tmp_path,
        rule(
            "c",
            "00000000-0000-0000-0000-00000000000f",
            "  sel:\n    eventid: 7045\n  condition: sel",
            "service: system",
        ),
    )
    assert refs(r) == {"5"}


def test_tuning_disables_rules_and_overrides_levels(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wormsign.detect.sigma import alerts

    rid = "00000000-0000-0000-0000-000000000010"
    off = "00000000-0000-0000-0000-000000000011"
    text = rule("t", rid, "  sel:\n    EventID: 5145\n  condition: sel") + "---\n"
    text += rule("u", off, "  sel:\n    EventID: 5145\n  condition: sel")
    monkeypatch.setitem(alerts.settings(), "disabled", [off])
    monkeypatch.setitem(alerts.settings(), "level_override", {rid: "low"})
    r = run(case, tmp_path, text)
    assert {a["rule"] for a in r.alerts} == {f"sigma:{rid}"}
    assert {a["severity"] for a in r.alerts} == {"low"}
    assert r.skipped[0]["rule"] == off and r.skipped[0]["reason"] == "disabled in settings.yaml"
