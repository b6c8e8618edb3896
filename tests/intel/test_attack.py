"""Offline ATT&CK names: every id the detections use has a name, and the data file is well formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from wormsign.detect import config
from wormsign.detect.rules import load_rules
from wormsign.detect.sigma.loader import BUILTIN, load
from wormsign.graph.outbreak import COPY_TECHNIQUES, METHOD_TECHNIQUES
from wormsign.intel.attack import data_version, lookup, tactics, technique_name, techniques

SIGMA = Path(__file__).resolve().parents[2].parent / "shared" / "sigma"  # SigmaHQ's rules
_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.I)


def _sigma_ids(tags: list[str]) -> set[str]:
    return {m.group(1).upper() for t in tags if (m := _TAG.match(str(t)))}


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


def test_the_data_is_mitres_enterprise_release_with_every_technique() -> None:
    """attack.json is one ATT&CK Enterprise release (version, source and commit recorded): every
    technique and sub-technique, each with a name and a tactic, revoked ones pointing at a live one."""
    v = data_version()
    assert v["domain"] == "enterprise-attack" and re.fullmatch(r"\d+\.\d+", v["attack_version"])
    assert v["source"] == "https://github.com/mitre/cti" and re.fullmatch(r"[0-9a-f]{40}", v["source_commit"])
    known = techniques()
    live = [t for t in known.values() if not t.revoked_by and not t.deprecated]
    assert len(live) > 600 and sum("." in t.id for t in live) > 400  # techniques and sub-techniques
    assert all(t.name and t.tactics for t in known.values())
    for t in known.values():
        if t.revoked_by:
            assert known[t.revoked_by].revoked_by is None, t.id
        if "." in t.id and not t.revoked_by:
            assert t.id.split(".")[0] in known, t.id
    assert technique_name("T1531") == "Account Access Removal" and tactics("T1531") == ("impact",)
    assert technique_name("T1566") == "Phishing" and tactics("T1566") == ("initial-access",)
    assert technique_name("T1566.001") == "Spearphishing Attachment"
    assert technique_name("T1486") == "Data Encrypted for Impact"
    # an id SigmaHQ still tags that ATT&CK revoked keeps its name and says what replaced it
    old = lookup("T1086")
    assert old is not None and old.name == "PowerShell" and old.revoked_by == "T1059.001"


def _shipped_ids() -> dict[str, set[str]]:
    """Technique ids by where the project tags them: its rules, Sigma rules, graph and config."""
    cfg = config.load()
    spec = cfg["initial_access_attack"]
    loaded = load([str(BUILTIN)])
    assert loaded.rules
    return {
        "detect/rules": {a for r in load_rules() for a in r.attack},
        "detect/sigma": set().union(*(_sigma_ids([str(t) for t in r.tags]) for r in loaded.rules)),
        "graph": set(COPY_TECHNIQUES).union(*METHOD_TECHNIQUES.values()),
        "initial access": {*spec["from_mail"], *spec["from_lure"], *spec["exploit"]}.union(*spec["child"].values()),
    }


def test_every_technique_the_project_tags_has_its_own_name() -> None:
    for where, ids in _shipped_ids().items():
        assert ids, where
        known = techniques()
        assert {t for t in ids if t not in known} == set(), where  # its own entry, not a parent's
        assert all(tactics(t) for t in ids), where


def test_every_technique_sigmahq_tags_has_a_name() -> None:
    """The public rule set users point wormsign at: every technique id its rules tag is named."""
    if not SIGMA.is_dir():
        pytest.skip("../shared/sigma is not beside the repository")
    ids: set[str] = set()
    files = sorted(SIGMA.rglob("*.yml"))
    for f in files:
        for doc in yaml.load_all(f.read_text(encoding="utf-8", errors="replace"), Loader=yaml.CSafeLoader):
            if isinstance(doc, dict):
                ids |= _sigma_ids(doc.get("tags") or [])
    assert len(files) > 3000 and len(ids) > 350
    known = techniques()
    assert sorted(t for t in ids if t not in known) == []
    assert all(technique_name(t) and tactics(t) for t in ids)
