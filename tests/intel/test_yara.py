"""YARA scan with the project's own test rules over files the tests create; hits land in the store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from intel_cases import DATA

from wormsign.intel.store import IntelStore
from wormsign.intel.yarascan import RulesError, compile_rules, scan

RULES = DATA / "rules"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "collected" / "ws-01"
    root.mkdir(parents=True)
    out = {
        "emotet": root / "emo.dll",
        "emotet_wide": root / "emo_wide.bin",
        "qakbot": root / "qb.exe",
        "qakbot_late": root / "qb_late.exe",
        "trickbot": root / "tb.exe",
        "clean": root / "notepad.exe",
    }
    out["emotet"].write_bytes(b"MZ\x90\x00" + b"\x00" * 64 + b"WORMSIGN-TEST-EMOTET-LOADER" + b"\xcc" * 32)
    out["emotet_wide"].write_bytes("xx WORMSIGN-TEST-EMOTET-LOADER yy".encode("utf-16-le"))
    out["qakbot"].write_bytes(b"WS-QAK-TEST" + bytes(range(256)))
    out["qakbot_late"].write_bytes(b"MZ" + b"WS-QAK-TEST")  # the rule wants the marker at offset 0
    out["trickbot"].write_bytes(b"header WS-TRICK-TEST footer")
    out["clean"].write_bytes(b"MZ just a program")
    return out


def test_scan_maps_hits_to_families_by_metadata_or_rule_name(files: dict[str, Path]) -> None:
    rep = scan([str(files["emotet"].parent)], compile_rules(str(RULES)))
    assert rep.scanned == 6 and rep.skipped == []
    got = sorted((Path(h.path).name, h.rule, h.family) for h in rep.hits)
    assert got == [
        ("emo.dll", "WS_Test_Emotet_Marker", "emotet"),
        ("emo_wide.bin", "WS_Test_Emotet_Marker", "emotet"),
        ("qb.exe", "WS_Test_Qakbot_Marker", "qakbot"),
        ("tb.exe", "trickbot", "trickbot"),
    ]
    assert rep.families() == {"emotet": 2, "qakbot": 1, "trickbot": 1}
    qb = next(h for h in rep.hits if h.family == "qakbot")
    assert qb.sha256 == hashlib.sha256(files["qakbot"].read_bytes()).hexdigest()
    assert qb.namespace == "test_families.yar"


def test_hits_go_into_the_store_as_hash_indicators(files: dict[str, Path], tmp_path: Path) -> None:
    rep = scan(
        [str(files["qakbot"]), str(files["clean"]), str(tmp_path / "missing.exe")], compile_rules(str(RULES))
    )
    assert rep.scanned == 2 and rep.skipped[0][1] == "no such file"
    with IntelStore.open(str(tmp_path / "i.duckdb")) as s:
        s.add(rep.indicators())
        got = {(i.type, i.value, i.family, i.source) for i in s.indicators()}
    data = files["qakbot"].read_bytes()
    src = "yara:test_families.yar:WS_Test_Qakbot_Marker"
    assert got == {
        ("sha256", hashlib.sha256(data).hexdigest(), "qakbot", src),
        ("md5", hashlib.md5(data).hexdigest(), "qakbot", src),
    }


def test_bad_rules_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yar").write_text("rule ok { condition: true }")
    (tmp_path / "broken.yar").write_text("rule broken { condition: $nothere }")
    with pytest.raises(RulesError, match=r"broken\.yar"):
        compile_rules(str(tmp_path))
    assert compile_rules(str(tmp_path / "ok.yar")).match(data=b"x")[0].rule == "ok"  # one file will do
    with pytest.raises(RulesError, match="no such folder"):
        compile_rules(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RulesError, match="no .yar or .yara files"):
        compile_rules(str(empty))
