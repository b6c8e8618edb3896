"""Deployments that enterprises do every day, through hunt() on real case files: the bundled demo
raises no false high, a first-day SCCM or PDQ push is low or medium, and a push that worm
evidence joins (brute force from the pusher, C2 or onward spread from its targets) stays high."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from detect.huntrows import copy_exec, ev, ip, make_case

from wormsign import demo
from wormsign.graph import deploy
from wormsign.hunt import hunt

HIGH = ("high", "critical")


def _hunt(tmp_path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with make_case(tmp_path / "c.duckdb", rows) as case:
        return hunt(case).document["incidents"]


def _push(minutes: float, src: str, targets: range, rel: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [ev(0, src, "generic", "0")]  # the pusher logs too (its address)
    for i, n in enumerate(targets):
        rows += copy_exec(minutes + i * 0.2, src, f"ws-{n:02d}", rel)
    return rows


def _beacon(minutes: float, host: str, image: str) -> list[dict[str, Any]]:
    return [ev(minutes + i * 5, host, "network", "3", **{"source.ip": ip(host), "destination.ip": "203.0.113.7",
               "destination.port": 8080, "process.executable": image}) for i in range(12)]


def _pushes(incs: list[dict[str, Any]], src: str) -> list[dict[str, Any]]:
    return [i for i in incs if i["type"] != "outbreak" and any(
        h["host"] == src and h["state"] == "source" for h in i["hosts"])]


def test_the_demo_shows_the_outbreak_and_no_false_high(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from wormsign.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["hunt", "--demo", "--case", str(tmp_path / "c.duckdb"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    truth = demo.truth()
    known = {i["host"] for i in truth["infections"]} | set(truth["attacked"])
    incs = json.loads((out / "incidents.json").read_text())["incidents"]
    assert [i["type"] for i in incs if i["severity"] == "critical"] == ["outbreak"]
    for inc in incs:
        if inc["severity"] in HIGH and inc["type"] != "outbreak":
            hosts = {h["host"] for h in inc["hosts"]}
            assert hosts <= known, (inc["title"], sorted(hosts - known))
    # The demo's SCCM and PDQ pushes are recognised as routine; the admin's PsExec is medium.
    titles = {i["title"].split(":")[0]: i["severity"] for i in incs}
    assert titles["routine deployment by sccm-01"] == "low"
    assert titles["routine deployment by pdq-01"] == "low"
    assert any(t.startswith("PsExec (Sysinternals) by adm-01") and s == "medium" for t, s in titles.items())
    # Routine pushes never put a host under attack: the outbreak's list is the truth's (and the DC,
    # which validated the guessed passwords).
    outbreak = next(i for i in incs if i["type"] == "outbreak")
    assert set(outbreak["under_attack"]) - {"dc-01"} <= set(truth["attacked"])


@pytest.mark.parametrize(("src", "rel", "tool"), [
    ("sccm-01", "ccmsetup\\ccmsetup.exe", "SCCM/ConfigMgr"),
    ("pdq-01", "AdminArsenal\\PDQDeployRunner\\service-1\\PDQDeployRunner-1.exe", "PDQ Deploy"),
])
def test_a_first_day_push_by_a_tool_is_low(tmp_path: Path, src: str, rel: str, tool: str) -> None:
    incs = _hunt(tmp_path, _push(300, src, range(10, 16), rel))
    assert [i for i in incs if i["severity"] in HIGH] == []
    (inc,) = _pushes(incs, src)
    assert inc["severity"] == "low"
    assert inc["title"].startswith(f"routine deployment by {src}: {tool} to 6 hosts (footprint and fan-out)")


def test_a_single_client_push_is_medium_and_an_unknown_fanout_too(tmp_path: Path) -> None:
    incs = _hunt(tmp_path, _push(300, "sccm-01", range(10, 11), "ccmsetup\\ccmsetup.exe"))
    (inc,) = _pushes(incs, "sccm-01")
    assert inc["severity"] == "medium" and inc["title"].startswith("possible SCCM/ConfigMgr push by sccm-01")
    # No footprint: a one-day push of the same file to many hosts is medium, not routine.
    (tmp_path / "b").mkdir()
    incs = _hunt(tmp_path / "b", _push(300, "sccm-01", range(10, 16), "setup-agent.exe"))
    assert [i["severity"] for i in _pushes(incs, "sccm-01")] == ["medium"]


def test_a_worm_named_ccmsetup_from_a_brute_forcing_workstation_stays_high(tmp_path: Path) -> None:
    guesses = [ev(i * 0.1, "ws-10", "auth", "4625", **{"source.ip": ip("ws-30"), "user.name": "admin",
               "event.outcome": "failure", "winlog.logon.type": 3}) for i in range(12)]
    rows = guesses + _push(30, "ws-30", range(10, 15), "ccmsetup\\ccmsetup.exe")
    incs = _hunt(tmp_path, rows)
    lateral = [i for i in _pushes(incs, "ws-30") if i["type"] == "lateral"]
    assert lateral and all(i["severity"] == "high" for i in lateral)
    assert "joined by worm evidence (ws-30 brute-forced" in lateral[0]["title"]
    # The same push without the guessing is taken for the tool (footprint and fan-out): the
    # guessing, not the name, is what tells them apart.
    (tmp_path / "b").mkdir()
    incs = _hunt(tmp_path / "b", _push(30, "ws-30", range(10, 15), "ccmsetup\\ccmsetup.exe"))
    assert [i["severity"] for i in _pushes(incs, "ws-30")] == ["low"]


def test_a_deployer_whose_targets_beacon_from_the_pushed_file_is_high(tmp_path: Path) -> None:
    rows = _push(300, "sccm-01", range(10, 16), "ccmsetup\\ccmsetup.exe")
    rows += _beacon(305, "ws-12", "C:\\Windows\\ccmsetup\\ccmsetup.exe")
    incs = _hunt(tmp_path, rows)
    (inc,) = [i for i in _pushes(incs, "sccm-01") if i["type"] == "lateral"]
    assert inc["severity"] == "high"
    assert "pushed host ws-12 beaconed" in inc["title"]


def test_a_deployer_whose_targets_spread_on_is_an_outbreak(tmp_path: Path) -> None:
    rows = _push(300, "sccm-01", range(10, 16), "ccmsetup\\ccmsetup.exe")
    rows += copy_exec(320, "ws-12", "ws-20", "ccmsetup\\ccmsetup.exe") + copy_exec(321, "ws-12", "ws-21",
                                                                                  "ccmsetup\\ccmsetup.exe")
    incs = _hunt(tmp_path, rows)
    outbreaks = [i for i in incs if i["type"] == "outbreak"]
    assert len(outbreaks) == 1 and outbreaks[0]["severity"] == "critical"
    infected = {h["host"] for h in outbreaks[0]["hosts"] if h["state"] == "infected"}
    assert {"sccm-01", "ws-12", "ws-20", "ws-21"} <= infected


def test_footprints_are_data_and_match_only_their_tool() -> None:
    ids = {t.id for t in deploy.tools()}
    assert {"sccm", "pdq", "intune", "manageengine", "ivanti", "tanium", "gpo", "psexec"} <= ids
    assert deploy.tool_of("C:\\Windows\\ccmsetup\\ccmsetup.exe").id == "sccm"  # type: ignore[union-attr]
    assert deploy.tool_of("PDQDeployRunner-3").id == "pdq"  # type: ignore[union-attr]
    assert deploy.tool_of("PSEXESVC").id == "psexec"  # type: ignore[union-attr]
    gpo = 'msiexec.exe /i "\\\\corp.example\\SYSVOL\\corp.example\\software\\7z.msi" /qn'
    assert deploy.tool_of(gpo).id == "gpo"  # type: ignore[union-attr]
    assert deploy.tool_of("C:\\Windows\\mssecsvc.exe", "ccmsetup-helper.exe", "perfc.dat") is None
