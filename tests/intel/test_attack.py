"""Offline ATT&CK names: every id the detections use has a name, and the data file is well formed."""

from __future__ import annotations

import pytest

from wormsign.intel.attack import tactics, technique_name, techniques

USED = [
    "T1021.002",
    "T1570",
    "T1569.002",
    "T1543.003",
    "T1053.005",
    "T1047",
    "T1110.001",
    "T1110.003",
    "T1105",
    "T1071",
    "T1566.001",
    "T1204.002",
    "T1059.001",
    "T1547.001",
    "T1003.001",
    "T1210",
    "T1078",
    "T1110",
    "T1021",
    "T1569",
    "T1053",
]


@pytest.mark.parametrize("tid", USED)
def test_every_used_id_has_a_name(tid: str) -> None:
    assert technique_name(tid)
    assert tactics(tid)


def test_known_names() -> None:
    assert technique_name("T1021.002") == "SMB/Windows Admin Shares"
    assert technique_name("t1570") == "Lateral Tool Transfer"
    assert technique_name("T1110.003") == "Password Spraying"
    assert tactics("T1210") == ("lateral-movement",)


def test_unknown_subtechnique_falls_back_to_parent_and_unknown_is_none() -> None:
    assert technique_name("T1021.099") == "Remote Services (T1021.099)"
    assert technique_name("T9999") is None
    assert tactics("T9999") == ()


def test_the_file_has_a_few_dozen_techniques_each_with_tactics() -> None:
    known = techniques()
    assert len(known) >= 40
    assert all(t.name and t.tactics for t in known.values())
