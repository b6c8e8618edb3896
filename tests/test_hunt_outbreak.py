"""Reconstruction of a constructed three-generation outbreak, end to end through hunt()."""

from __future__ import annotations

from pathlib import Path

from detect.huntrows import deployer_rows, make_case, outbreak_rows

from wormsign.hunt import hunt


def test_three_generation_outbreak(tmp_path: Path) -> None:
    with make_case(tmp_path / "c.duckdb", outbreak_rows() + deployer_rows()) as case:
        doc = hunt(case).document
    outbreaks = [i for i in doc["incidents"] if i["type"] == "outbreak"]
    assert len(outbreaks) == 1
    inc = outbreaks[0]
    assert inc["patient_zero"] == "ws-01"
    assert inc["generations"] == [["ws-01"], ["ws-02", "ws-03"], ["ws-04", "ws-05"], ["ws-06"]]
    infectors = {h["host"]: h["infector"] for h in inc["hosts"] if h["state"] == "infected"}
    assert infectors == {"ws-01": None, "ws-02": "ws-01", "ws-03": "ws-01", "ws-04": "ws-02",
                         "ws-05": "ws-02", "ws-06": "ws-04"}
    assert [c["host"] for c in inc["containment"][:3]] == ["ws-01", "ws-02", "ws-04"]
    assert inc["containment"][0]["downstream"] == 5
    assert inc["under_attack"] == ["ws-07"]
    assert {lk["account"] for lk in inc["accounts"]["locked"]} == {"alice", "bob", "carol"}
    assert all(lk["source_host"] == "ws-04" for lk in inc["accounts"]["locked"])
    assert [r["process"].rsplit("\\", 1)[-1] for r in inc["initial_access"]][:2] == ["WINWORD.EXE", "powershell.exe"]
    pz = next(h for h in inc["hosts"] if h["host"] == "ws-01")
    assert pz["infected_at"] == "2026-03-02T09:00:00.000000Z"  # when the lure ran, before any spread
    edge = next(e for e in inc["edges"] if e["target"] == "ws-05")
    assert edge["source"] == "ws-02" and "T1021.002" in edge["techniques"] and edge["method"] == "service"
    assert len(edge["evidence"]) == 2 and all(r.startswith("d" * 64 + ":") for r in edge["evidence"])
    # The routine deployer is not part of any outbreak.
    assert not any(h["host"].startswith("sccm") for i in outbreaks for h in i["hosts"])


def test_deployer_alone_is_no_outbreak(tmp_path: Path) -> None:
    with make_case(tmp_path / "c.duckdb", deployer_rows()) as case:
        doc = hunt(case).document
    assert [i for i in doc["incidents"] if i["type"] == "outbreak"] == []
