"""The compiled rule set kept on disk: read back for the same rules, never for changed ones."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import run_sigma

RULE = """
title: Write to ADMIN$
id: 20000000-0000-0000-0000-000000000001
logsource: {{product: windows, service: security}}
detection:
  sel:
    EventID: 5145
    ShareName|endswith: '{share}'
  condition: sel
level: medium
tags: [attack.lateral-movement]
"""


def test_the_kept_set_serves_the_same_rules_and_a_changed_file_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("WORMSIGN_CACHE", str(cache))
    case = make_case(tmp_path / "c", [event(1, "security", 5145, {"ShareName": "\\\\*\\ADMIN$"},
                                            at=timedelta(0), kind="share")])
    rules = tmp_path / "rules"
    write_rules(rules, RULE.format(share="\\ADMIN$"))
    first = run_sigma(case, [str(rules)], builtin=False)
    assert [a["title"] for a in first.alerts] == ["Write to ADMIN$"]
    assert first.alerts[0]["tactics"] == ["lateral-movement"]
    kept = list(cache.glob("sigma-rules-*.json"))
    assert len(kept) == 1
    again = run_sigma(case, [str(rules)], builtin=False)  # read back, same alerts
    assert again.alerts == first.alerts and list(cache.glob("sigma-rules-*.json")) == kept
    write_rules(rules, RULE.format(share="\\C$"))  # the same file, another rule: not served stale
    changed = run_sigma(case, [str(rules)], builtin=False)
    assert changed.alerts == [] and changed.converted == 1
    assert len(list(cache.glob("sigma-rules-*.json"))) == 2
    monkeypatch.setenv("WORMSIGN_CACHE", "off")  # none kept
    off = tmp_path / "off"
    monkeypatch.setenv("HOME", str(off))
    assert run_sigma(case, [str(rules)], builtin=False).alerts == []
    assert not off.exists() and len(list(cache.glob("sigma-rules-*.json"))) == 2
    case.close()


def test_a_run_from_the_kept_set_imports_no_pysigma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pySigma takes 0.12-0.15 CPU s to import: a run whose rules are compiled already does without."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("WORMSIGN_CACHE", str(cache))
    path = tmp_path / "c"
    case = make_case(path, [event(1, "security", 5145, {"ShareName": "\\\\*\\ADMIN$"}, at=timedelta(0),
                                  kind="share")])
    rules = tmp_path / "rules"
    write_rules(rules, RULE.format(share="\\ADMIN$"))
    assert len(run_sigma(case, [str(rules)], builtin=False).alerts) == 1  # compiled and kept
    case.close()
    code = ("import sys; from wormsign.store import Case; from wormsign.detect.sigma import run_sigma; "
            "c = Case.open(sys.argv[1]); n = len(run_sigma(c, [sys.argv[2]], builtin=False).alerts); "
            "c.close(); "
            "print(n, any(m == 'sigma' or m.startswith('sigma.') for m in sys.modules))")
    got = subprocess.run([sys.executable, "-c", code, str(path), str(rules)], capture_output=True, text=True,
                         env={**os.environ, "WORMSIGN_CACHE": str(cache)}, check=True, timeout=120)
    assert got.stdout.split() == ["1", "False"], got.stderr[-2000:]
