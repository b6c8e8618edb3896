"""Sigma's case-insensitive matching on the lower-cased columns of a group pass: plain values, lists,
wildcards in the middle, values with characters that have no case (dashes) and values with
non-ASCII letters (matched on the column as recorded) all match whatever the case of either side."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sigmacase import event, make_case, write_rules

from wormsign.detect.sigma import run_sigma

RULES = """
title: plain
id: 30000000-0000-0000-0000-000000000001
logsource: {product: windows, service: sysmon}
detection:
  sel: {EventID: 1, Image: 'C:\\WINDOWS\\system32\\CERTUTIL.exe'}
  condition: sel
---
title: list
id: 30000000-0000-0000-0000-000000000002
logsource: {product: windows, service: sysmon}
detection:
  sel:
    OriginalFileName: [CertUtil.exe, bitsadmin.exe, 'Wscript.exe']
  condition: sel
---
title: middle wildcard
id: 30000000-0000-0000-0000-000000000003
logsource: {product: windows, service: sysmon}
detection:
  sel:
    CommandLine: '*-URLCACHE*HTTP*'
  condition: sel
---
title: dashes
id: 30000000-0000-0000-0000-000000000004
logsource: {product: windows, service: sysmon}
detection:
  sel:
    CommandLine|contains: ['-decode ', '/decode ', '–decode ', '—decode ']
  condition: sel
---
title: umlaut
id: 30000000-0000-0000-0000-000000000005
logsource: {product: windows, service: sysmon}
detection:
  sel:
    CommandLine|contains: 'ÄRGER'
  condition: sel
---
title: not on a field the event lacks
id: 30000000-0000-0000-0000-000000000006
logsource: {product: windows, service: sysmon}
detection:
  sel: {EventID: 1}
  f: {NoSuchField|startswith: 'x'}
  condition: sel and not f
"""


def test_matching_ignores_case_on_both_sides(tmp_path: Path) -> None:
    rows = [
        event(1, "sysmon", 1, {"Image": "c:\\windows\\System32\\certutil.EXE", "OriginalFileName": "CERTUTIL.EXE",
                               "CommandLine": "certutil -urlcache -f http://x/a.exe"}, at=timedelta(0)),
        event(2, "sysmon", 1, {"Image": "C:\\Tools\\b.exe", "OriginalFileName": "other.exe",
                               "CommandLine": "certutil –DECODE a b && echo ärger"}, at=timedelta(seconds=1)),
        event(3, "sysmon", 1, {"Image": "C:\\Tools\\c.exe", "OriginalFileName": "WSCRIPT.EXE",
                               "CommandLine": "notepad"}, at=timedelta(seconds=2)),
    ]
    case = make_case(tmp_path / "c", rows)
    write_rules(tmp_path / "r", RULES)
    run = run_sigma(case, [str(tmp_path / "r")], builtin=False)
    assert run.skipped == [] and run.converted == 6
    fired: dict[str, set[str]] = {}
    for a in run.alerts:
        fired.setdefault(a["title"], set()).update(e.split(":")[1] for e in a["evidence"])
    assert fired == {
        "plain": {"1"},
        "list": {"1", "3"},
        "middle wildcard": {"1"},
        "dashes": {"2"},
        "umlaut": {"2"},
        "not on a field the event lacks": {"1", "2", "3"},
    }
    case.close()
