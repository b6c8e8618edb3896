"""The prefilter: a rule's need read off its converted condition, tested on a group's distinct
values, leaves out only rules that can match nothing, and the alerts are those of a run without it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import alerts, prefilter, run_sigma, scan
from wormsign.ingest.base import rows_to_table
from wormsign.detect.sigma.compiled import compile_rules

RULES = """
title: Certutil download
id: 30000000-0000-0000-0000-000000000001
logsource: {product: windows, category: process_creation}
detection:
  img:
    - Image|endswith: '\\certutil.exe'
    - OriginalFileName: 'CertUtil.exe'
  cli:
    CommandLine|contains|all: ['-urlcache', 'http']
  condition: img and cli
level: high
---
title: Never here
id: 30000000-0000-0000-0000-000000000002
logsource: {product: windows, category: process_creation}
detection:
  sel:
    Image|endswith: '\\nothere.exe'
    CommandLine|contains: 'x'
  condition: sel
level: high
---
title: Regex only
id: 30000000-0000-0000-0000-000000000003
logsource: {product: windows, category: process_creation}
detection:
  sel:
    CommandLine|re: '(?i)url.ache'
  condition: sel
level: low
---
title: Not notepad
id: 30000000-0000-0000-0000-000000000004
logsource: {product: windows, category: process_creation}
detection:
  sel:
    Image|endswith: '\\notepad.exe'
  condition: not sel
level: low
---
title: Wildcards inside
id: 30000000-0000-0000-0000-000000000005
logsource: {product: windows, category: process_creation}
detection:
  sel:
    CommandLine: 'cert*url?ache*http*'
  condition: sel
level: low
"""


def _case(path: Path) -> Any:
    rows = [
        event(1, "sysmon", 1, {"Image": "C:\\Windows\\System32\\CertUtil.exe",
                               "CommandLine": "certutil -URLcache -f HTTP://a/b",
                               "OriginalFileName": "CertUtil.exe"},
              at=timedelta(0), kind="process"),
        event(2, "sysmon", 1, {"Image": "C:\\Windows\\notepad.exe", "CommandLine": "notepad a.txt"},
              at=timedelta(minutes=1), kind="process"),
    ]
    return make_case(path, rows)


def _needs(tmp_path: Path) -> dict[str, prefilter.Need]:
    rules = tmp_path / "rules"
    write_rules(rules, RULES)
    rs = compile_rules([str(rules)], alerts.settings())
    return {r.info.title: r.need for r in rs.rules}


def test_needs_follow_the_condition(tmp_path: Path) -> None:
    needs = _needs(tmp_path)
    cert = needs["Certutil download"]
    assert cert is not None and cert[0] == "all"
    flat = str(cert)
    for atom in (["suf", "Image", "\\certutil.exe"], ["eq", "OriginalFileName", "certutil.exe"],
                 ["has", "CommandLine", "-urlcache"], ["has", "CommandLine", "http"]):
        assert str(atom) in flat
    regex = needs["Regex only"]
    assert regex is not None and "CommandLine" not in str(regex)  # the log source only
    assert "notepad" not in str(needs["Not notepad"])  # a negation needs nothing
    wild = str(needs["Wildcards inside"])
    for atom in (["pre", "CommandLine", "cert"], ["has", "CommandLine", "url"],
                 ["has", "CommandLine", "ache"], ["has", "CommandLine", "http"]):
        assert str(atom) in wild


def test_texts_answer_as_a_search_would() -> None:
    values = ["c:\\windows\\system32\\certutil.exe", "certutil -urlcache -f http://a/b", "notepad a.txt",
              "x\x00y"]
    t = prefilter.Texts({"commandline": values, "empty": []})
    plain = prefilter.Texts({"commandline": values})
    needles = [v[i:j] for v in values for i in range(len(v)) for j in range(i + 1, min(len(v), i + 9) + 1)]
    needles += ["nothere", "urlcache!", "zzzz", "-f htt", "a.txt\x00"]
    for n in needles:  # past SCREEN searches the substring screen answers; the answers never change
        for op in ("pre", "suf", "has", "eq"):
            want = (any(v.startswith(n) for v in values) if op == "pre" else
                    any(v.endswith(n) for v in values) if op == "suf" else
                    any(n in v for v in values) if op == "has" else n in values)
            got = t.atom(op, "CommandLine", n)
            assert got == plain.atom(op, "commandline", n)
            assert got or not want, (op, n)  # never absent when a value holds it
    assert t.atom("has", "Other", "abc")  # a field not fetched: not known, the rule runs
    assert not t.atom("has", "empty", "abc") and not t.atom("eq", "empty", "abc")
    assert t.holds(None) and t.holds(["any", [["eq", "empty", "a"], ["has", "commandline", "urlcache"]]])
    assert not t.holds(["all", [["has", "commandline", "urlcache"], ["eq", "empty", "a"]]])


def _passes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The rule titles of each scan pass, filled as the scan runs them (scan._match watched)."""
    passes: list[list[str]] = []
    match = scan._match

    def spy(case: Any, compiled: Any, keys: list[int], *a: Any, **k: Any) -> Any:
        passes.append(sorted(compiled[i].info.title for i in keys))
        return match(case, compiled, keys, *a, **k)

    monkeypatch.setattr(scan, "_match", spy)
    return passes


def test_left_out_rules_change_no_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORMSIGN_CACHE", str(tmp_path / "cache"))
    rules = tmp_path / "rules"
    write_rules(rules, RULES)
    ran = _passes(monkeypatch)
    case = _case(tmp_path / "c")
    got = run_sigma(case, [str(rules)], builtin=False)
    assert ran == [["Certutil download", "Not notepad", "Regex only", "Wildcards inside"]]
    assert sorted({a["title"] for a in got.alerts}) == [
        "Certutil download", "Not notepad", "Regex only", "Wildcards inside"]
    ran.clear()
    monkeypatch.setattr(prefilter.Texts, "holds", lambda self, n: True)  # every rule runs
    every = run_sigma(case, [str(rules)], builtin=False)
    assert len(ran[0]) == 5 and every.alerts == got.alerts
    case.close()


def test_guards_pick_rare_atoms_and_change_no_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    others = [f"c:\\a\\tool{i}.exe" for i in range(8)]
    t = prefilter.Texts({"image": ["c:\\a\\certutil.exe", "c:\\a\\cmd.exe", *others],
                         "commandline": ["certutil -urlcache x", "cmd /c y", *others]})
    col = {"image": '"~Image"', "commandline": '"~CommandLine"'}
    need = ["all", [["suf", "Image", "\\certutil.exe"], ["any", [["has", "CommandLine", "-urlcache"],
                                                                 ["has", "CommandLine", "nothere"]]]]]
    got = prefilter.guard(need, t, col)
    assert got in ("suffix(\"~Image\", '\\certutil.exe')", "contains(\"~CommandLine\", '-urlcache')")
    assert prefilter.guard(["has", "Image", "c:\\a\\"], t, col) is None  # in every value: no use
    assert prefilter.guard(["any", [["has", "Other", "x"]]], t, col) is None  # a field not fetched
    assert prefilter.guard(["has", "CommandLine", "it's"], t, col) is None  # absent: no guard needed
    monkeypatch.setenv("WORMSIGN_CACHE", str(tmp_path / "cache"))
    rules = tmp_path / "rules"
    write_rules(rules, RULES)
    case = _case(tmp_path / "c")
    plain = run_sigma(case, [str(rules)], builtin=False)
    written: list[dict[int, str]] = []
    match = scan._match

    def spy(*a: Any, **k: Any) -> Any:
        written.append(dict(a[-1]))
        return match(*a, **k)

    monkeypatch.setattr(scan, "_match", spy)
    monkeypatch.setattr(scan, "COSTLY", 0)  # every rule guarded where it can be
    monkeypatch.setattr(prefilter, "GUARD_SHARE", 1.0)
    guarded = run_sigma(case, [str(rules)], builtin=False)
    assert written and written[0] and guarded.alerts == plain.alerts
    case.close()


SYSTEM_RULE = """
title: Service installed
id: 30000000-0000-0000-0000-000000000009
logsource: {product: windows, service: system}
detection:
  sel:
    EventID: 7045
    ImagePath|contains: 'tmp'
  condition: sel
level: high
"""


def test_small_groups_share_a_pass_with_the_same_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORMSIGN_CACHE", str(tmp_path / "cache"))
    rules = tmp_path / "rules"
    write_rules(rules, RULES)
    write_rules(rules, SYSTEM_RULE, "system.yml")
    case = _case(tmp_path / "c")
    case.append_events(rows_to_table([event(3, "system", 7045, {"ImagePath": "C:\\tmp\\x.exe"},
                                            at=timedelta(minutes=2))]))
    passes = _passes(monkeypatch)
    shared = run_sigma(case, [str(rules)], builtin=False)
    assert len(passes) == 1 and "Service installed" in passes[0] and "Certutil download" in passes[0]
    passes.clear()
    monkeypatch.setattr(scan, "SMALL", 0)  # a pass per group
    apart = run_sigma(case, [str(rules)], builtin=False)
    assert len(passes) == 2 and apart.alerts == shared.alerts
    assert {a["title"] for a in shared.alerts} >= {"Service installed", "Certutil download"}
    case.close()
