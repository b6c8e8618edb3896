"""The initial-access chain on every simulated scenario holds only the truth's attack events:
each step's event (its reference) carries an ``event.id`` the simulator listed in
``attack_event_ids``. Real runs: simulate, ingest, hunt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import wormsign
from wormsign.simulate import SCENARIOS, simulate

#: (scenario, seed, benign volume): every scenario, the outbreaks on two seeds, one with the
#: everyday background of a real network (thousands of records a host-day).
RUNS = [(s, 1, None) for s in SCENARIOS] + [(s, 2, None) for s in ("emotet", "emotet-qakbot", "wannacry", "notpetya")]
RUNS += [("emotet", 3, 8.0), ("wannacry", 3, 8.0)]


def _hunt(tmp: Path, scenario: str, seed: int, volume: float | None) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                              dict[str, str | None]]:
    truth = simulate(scenario, 40, 1, seed, tmp / "sim", benign_volume=volume)
    with wormsign.open_case(tmp / "case") as case:
        wormsign.ingest(case, tmp / "sim" / "logs")
        doc = wormsign.hunt(case, sigma=None).document
        outbreaks = [i for i in doc["incidents"] if i["type"] == "outbreak"]
        refs = [s["ref"] for i in outbreaks for s in i["initial_access"]]
        ids = dict(case.rows(
            """SELECT "src.digest" || ':' || "src.record", "event.id" FROM events
               WHERE ("src.digest", "src.record") IN (SELECT (split_part(r, ':', 1), split_part(r, ':', 2)::BIGINT)
                                                   FROM unnest(?::VARCHAR[]) t(r))""", [refs]))
    return truth, outbreaks, ids


@pytest.mark.parametrize(("scenario", "seed", "volume"), RUNS, ids=[f"{s}-{n}-{v or 1}" for s, n, v in RUNS])
def test_every_step_of_the_chain_is_an_attack_event(tmp_path: Path, scenario: str, seed: int,
                                                    volume: float | None) -> None:
    truth, outbreaks, ids = _hunt(tmp_path, scenario, seed, volume)
    attack = set(truth["attack_event_ids"])
    for inc in outbreaks:
        chain = inc["initial_access"]
        wrong = [(s["step"], s["process"] or s["file"] or s["source"], s["ts"]) for s in chain
                 if ids.get(s["ref"]) not in attack]
        assert wrong == [], (inc["patient_zero"], wrong)
        assert [s["ts"] for s in chain] == sorted(s["ts"] for s in chain)
        assert all(s["host"] == inc["patient_zero"] for s in chain)
        if inc["edges"]:
            assert all(s["ts"] <= min(e["ts"] for e in inc["edges"]) for s in chain)
    if not truth["patient_zero"]:
        return
    main = next((i for i in outbreaks if i["patient_zero"] == truth["patient_zero"]), None)
    if main is None:  # the hunt missed patient zero on this run (outside this test); on seed 1 it does not
        assert seed != 1, [(i["patient_zero"], i["title"]) for i in outbreaks]
        return
    chain = main["initial_access"]
    steps = {s["step"] for s in chain}
    # the chain reaches the payload: a file written, then run
    assert "file" in steps and chain[-1]["step"] == "process", chain
    assert any(s["file"] and s["file"].lower() == (chain[-1]["process"] or "").lower() for s in chain)
    entry = truth["infections"][0]["technique"]
    if entry == "phishing":
        assert any("T1566" in s["attack"] for s in chain)
    if entry == "smb-exploit":  # the inbound exploit session from outside opens the chain
        assert chain[0]["step"] == "exploit" and chain[0]["port"] == 445 and chain[0]["attack"] == ["T1190"]
        assert not chain[0]["source"].startswith(("10.", "192.168.", "172."))


def test_the_chain_has_no_step_off_the_lineage(tmp_path: Path) -> None:
    """Emotet's patient zero: the user also opened other documents and shells (benign, not in the
    truth); the chain holds the attachment, Office, the shell, the payload written and the payload."""
    truth, outbreaks, _ = _hunt(tmp_path, "emotet", 1, None)
    main = next(i for i in outbreaks if i["patient_zero"] == truth["patient_zero"])
    names = [(s["step"], (s["process"] if s["step"] == "process" else s["file"] or "").rsplit("\\", 1)[-1].lower())
             for s in main["initial_access"]]
    assert [k for k, _ in names] == ["file", "process", "process", "file", "process"], names
    assert names[1][1] in ("excel.exe", "winword.exe") and names[2][1] in ("cmd.exe", "powershell.exe")
    assert names[3][1] == names[4][1]
    assert json.dumps(main["initial_access"]).count("explorer.exe") == 0
