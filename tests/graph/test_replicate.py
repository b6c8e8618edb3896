"""A worm's first generation (graph/replicate.py) against an administrator's installer: a host
whose own chain shows two stages of files written and run, that then pushes the program by name
to a few hosts and starts it there, is a worm only when the second stage is another program."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from detect.huntrows import ev, ip, make_case

import wormsign
from wormsign.graph.replicate import unpacked
from wormsign.hunt import hunt
from wormsign.simulate import simulate

EXPLORER = "C:\\Windows\\explorer.exe"
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
SETUP = "C:\\Users\\dscott\\Downloads\\Git-2.43.0-64-bit.exe"
#: Inno Setup unpacks its engine under the setup's name and starts it with the setup's path
ENGINE = "C:\\Users\\dscott\\AppData\\Local\\Temp\\is-4F2KQ.tmp\\Git-2.43.0-64-bit.tmp"
ENGINE_CMD = f'"{ENGINE}" /SL5="$A0B2C,57011712,832512,{SETUP}"'
#: what a dropper runs second: another program, started without its dropper's path
DROPPED = "C:\\Users\\dscott\\AppData\\Local\\Temp\\x7q1.exe"
ADMIN_HOST = "ws-04"
NAME = "Git-2.43.0-64-bit.exe"


def _proc(minutes: float, exe: str, pid: int, parent: str, ppid: int, cmd: str = "") -> dict[str, Any]:
    return ev(minutes, ADMIN_HOST, "process", "1", **{
        "process.executable": exe, "process.pid": pid, "process.parent.executable": parent,
        "process.parent.pid": ppid, "process.command_line": cmd or f'"{exe}"', "user.name": "adm-dscott"})


def _write(minutes: float, writer: str, pid: int, path: str) -> dict[str, Any]:
    return ev(minutes, ADMIN_HOST, "file", "11", **{"process.executable": writer, "process.pid": pid,
                                                     "file.path": path})


def _rows(second: str, second_cmd: str) -> list[dict[str, Any]]:
    """The admin downloads the setup, runs it from Explorer, the setup writes and starts its second
    stage; 20 minutes later the admin copies the setup to ADMIN$ of four hosts and starts it there
    as a service (no deployment tool's footprint)."""
    rows = [_proc(0, CHROME, 100, EXPLORER, 1), _write(1, CHROME, 100, SETUP),
            _proc(2, SETUP, 200, EXPLORER, 1), _write(2.1, SETUP, 200, second),
            _proc(2.2, second, 300, SETUP, 200, second_cmd)]
    for i, n in enumerate(range(10, 14)):
        dst = f"ws-{n:02d}"
        rows.append(ev(20 + 2 * i, dst, "share", "5145", **{
            "source.ip": ip(ADMIN_HOST), "share.name": "\\\\*\\ADMIN$", "share.path": "Temp\\" + NAME,
            "share.access_mask": "0x2", "user.name": "adm-dscott",
            "file.path": "C:\\Windows\\Temp\\" + NAME}))
        rows.append(ev(20.5 + 2 * i, dst, "service", "7045", **{
            "service.name": "GitInstall", "service.image": f"%SystemRoot%\\Temp\\{NAME} /VERYSILENT",
            "user.name": "LocalSystem"}))
    return rows


def _incidents(tmp: Path, rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    with make_case(tmp / "c.duckdb", rows) as case:
        doc = hunt(case).document
    return [(i["type"], i["severity"], i["patient_zero"]) for i in doc["incidents"]]


def test_an_admins_installer_pushed_by_name_is_no_outbreak(tmp_path: Path) -> None:
    """Inno Setup's engine, unpacked and started by the setup with the setup's path, is the
    installer's second stage, not a dropper's: the admin's push is a deployment to look at
    (medium), not a critical outbreak from the admin's workstation."""
    got = _incidents(tmp_path, _rows(ENGINE, ENGINE_CMD))
    assert [t for t in got if t[0] == "outbreak"] == []
    assert [s for _, s, _ in got if s in ("high", "critical")] == []


def test_a_droppers_second_program_pushed_by_name_is_the_first_generation(tmp_path: Path) -> None:
    """The same download, run and push, but the setup wrote and started another program: two
    stages of an intrusion, and the pushed file is the one it delivered, so the outbreak stands."""
    got = _incidents(tmp_path, _rows(DROPPED, f'"{DROPPED}" -k 7'))
    assert [t for t in got if t[0] == "outbreak"] == [("outbreak", "critical", ADMIN_HOST)]


def _chain(*stages: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    """(file, writer, program that ran it, its command line) -> a chain of file and process steps."""
    out: list[dict[str, Any]] = []
    for path, writer, ran, cmd in stages:
        out += [{"step": "file", "file": path, "process": writer},
                {"step": "process", "process": ran, "command_line": cmd}]
    return out


def test_unpacked_is_an_installer_starting_its_own_unpacked_copy() -> None:
    setup = (SETUP, CHROME, SETUP, f'"{SETUP}"')
    assert unpacked(_chain(setup, (ENGINE, SETUP, ENGINE, ENGINE_CMD)))
    bundle = "C:\\Users\\u\\Downloads\\tool-setup.exe"
    clean = "C:\\Users\\u\\AppData\\Local\\Temp\\{A1}\\.cr\\tool-setup.exe"
    assert unpacked(_chain((bundle, CHROME, bundle, f'"{bundle}"'),
                           (clean, bundle, clean, f'"{clean}" -burn.clean.room="{bundle}"')))
    # NotPetya: perfc.dat run by rundll32, which writes and runs its credential dumper
    perfc, rundll = "C:\\Windows\\perfc.dat", "C:\\Windows\\System32\\rundll32.exe"
    dumper = "C:\\Windows\\TEMP\\AB12.tmp"
    ezvit = "C:\\ProgramData\\Medoc\\Medoc\\ezvit.exe"
    assert not unpacked(_chain((perfc, ezvit, rundll, f'{rundll} "{perfc}",#1 30'),
                               (dumper, rundll, dumper, f"{dumper} \\\\.\\pipe\\{{1234}}")))
    # a dropper that hands its second program its own path (to delete it): another name
    loader = "C:\\Users\\dscott\\AppData\\Local\\Temp\\is-4F2KQ.tmp\\svc.tmp"
    assert not unpacked(_chain(setup, (loader, SETUP, loader, f'"{loader}" /SL5="$A0B2C,1,2,{SETUP}"')))
    # the setup's path on another program's command line, but another program wrote it
    assert not unpacked(_chain(setup, (ENGINE, CHROME, ENGINE, ENGINE_CMD)))
    assert not unpacked(_chain(setup))  # one stage: nothing unpacked


def test_a_simulated_admins_git_push_is_no_outbreak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """benign, seed 27, 40 hosts, 3 days, with the admins' own installs and started copies on
    (realism.yaml, off in the suite): adm-jhall downloads Git for Windows on ws-0027, runs it (Inno
    Setup's engine is the second stage), then copies it to ADMIN$ of four hosts and starts each with
    a scheduled task. Before, 'Outbreak from ws-0027: 17 hosts infected over 2 generations'
    (critical) in a network with no worm; now the push is a deployment outside its baseline."""
    import wormsign.simulate.chores as chores

    c = {**chores.config(), "admin_install_first": 0.5, "admin_copy_start": 0.4}
    monkeypatch.setattr(chores, "config", lambda: c)
    sim = tmp_path / "benign-27"
    truth = simulate("benign", 40, 3, 27, sim)
    assert truth["infections"] == []
    with wormsign.open_case(sim / "case") as case:
        wormsign.ingest(case, sim / "logs")
        incidents = list(wormsign.hunt(case).document["incidents"])
    assert [i["title"] for i in incidents if i["type"] == "outbreak"] == []
    assert [i["title"] for i in incidents if i["severity"] in ("high", "critical")] == []
    (push,) = [i for i in incidents if "git-2.43.0-64-bit.exe" in i["title"]]
    assert push["title"].startswith("deployment by ws-0027 outside its baseline")
    assert push["severity"] == "medium"
