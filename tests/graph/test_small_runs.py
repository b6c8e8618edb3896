"""Small simulated organisations (40 hosts), hunted whole and hunted early, scored against the
truth: software deployment and administration is never an outbreak's root nor one of its hosts,
the infection edges carry the hash of the file they carried or none, and a worm is an outbreak
while its first generation spreads. A 40-host organisation has a deployer that pushes its client
to one to three workstations a day: the eval suite's 50 and 200 hosts show fan-outs of a day."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import wormsign
from wormsign.simulate import simulate

HOSTS, DAYS = 40, 3
#: The roles whose pushes are administration: never an outbreak's host unless the truth says so.
ADMIN = ("sccm-", "pdq-", "adm-", "bak-", "scan-")
#: (scenario, seed): each run showed one of the defects (emotet-qakbot seed 2: a phished host that
#: guessed passwords and infected no one was no outbreak, its chain cut where its payload was written).
#: Seeds 6 and 7: an infected admin's installer copy "explained" a server's svchost.exe start, and an
#: admin's PsExec to the host whose user PsExec'd to 12 hosts an hour later looked like PSEXESVC.exe
#: travelling on (an outbreak from adm-01 in a network with no worm at all).
RUNS = [("emotet", 2), ("notpetya", 1), ("notpetya", 2), ("wannacry", 1), ("emotet-qakbot", 2), ("emotet", 6)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], tuple[dict[str, Any], Path]]:
    """(scenario, seed) -> (truth, case folder): simulated and ingested once for the module."""
    root = tmp_path_factory.mktemp("small")
    out = {}
    for scenario, seed in [*RUNS, ("benign", 7)]:
        sim = root / f"{scenario}-{seed}"
        truth = simulate(scenario, HOSTS, DAYS, seed, sim)
        with wormsign.open_case(sim / "case") as case:
            wormsign.ingest(case, sim / "logs")
        out[(scenario, seed)] = (truth, sim / "case")
    return out


def _hunt(case_dir: Path, end: datetime | None = None) -> list[dict[str, Any]]:
    with wormsign.open_case(case_dir) as case:
        return list(wormsign.hunt(case, sigma=None, end=end).document["incidents"])


def _outbreaks(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in incidents if i["type"] == "outbreak"]


def _time(t: str) -> datetime:
    return datetime.fromisoformat(t.replace("Z", "+00:00"))


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r[0]}-{r[1]}")
def test_deployers_are_no_outbreak_host_and_the_infections_are_the_truths(
        runs: dict[tuple[str, int], tuple[dict[str, Any], Path]], run: tuple[str, int]) -> None:
    """The deployer's client pushes (a few hosts a day) neither root the outbreak (emotet seed 2:
    it was sccm-01's, the truth's patient zero ws-0002 its child) nor infect a host the worm
    reached later (notpetya: a host pushed the client in the morning was lost to the outbreak)
    nor join it when the deployer is infected itself (wannacry seed 1: its later pushes); a lured
    host that attacked others is an outbreak of its own."""
    truth, case_dir = runs[run]
    incidents = _hunt(case_dir)
    outbreaks = _outbreaks(incidents)
    infected = {i["host"]: i["infector"] for i in truth["infections"]}
    assert [o["patient_zero"] for o in outbreaks] == [truth["patient_zero"]]
    found = {h["host"]: h["infector"] for h in outbreaks[0]["hosts"] if h["state"] == "infected"}
    assert found == infected
    admin = {h for h in found if h.startswith(ADMIN)} - set(infected)
    assert not admin
    # the deployments are routine: never high
    pushes = [i for i in incidents if i["type"] == "lateral" and i["title"].startswith(
        ("routine deployment by sccm-", "possible SCCM", "deployment by sccm-"))]
    assert all(i["severity"] == "low" for i in pushes), [(i["severity"], i["title"]) for i in pushes]


def test_an_edge_carries_its_files_hash_or_none(
        runs: dict[tuple[str, int], tuple[dict[str, Any], Path]]) -> None:
    """NotPetya's .dat runs in rundll32 (under PSEXESVC or WMI): the execution's hash is another
    program's, never the hash of the file the edge names."""
    for key in (("notpetya", 1), ("notpetya", 2)):
        truth, case_dir = runs[key]
        hashes = {h for i in truth["infections"] for h in i["hashes"]}
        edges = [e for o in _outbreaks(_hunt(case_dir)) for e in o["edges"]]
        assert edges
        wrong = {(e["file"]["name"], e["file"]["sha256"]) for e in edges
                 if e["file"] and e["file"]["sha256"] and e["file"]["sha256"] not in hashes}
        assert not wrong, wrong


@pytest.mark.parametrize("seed", [1, 2])
def test_notpetya_hunted_early_is_an_outbreak_of_the_truths_hosts(
        runs: dict[tuple[str, int], tuple[dict[str, Any], Path]], seed: int) -> None:
    """Hunted while its first generation spreads (before any copy travelled on; its patient zero
    neither guessed passwords nor beaconed), NotPetya is an outbreak: patient zero pushed the
    program its own intrusion delivered (seed 1: random names, the same rundll32 launch; seed 2:
    perfc.dat on every host, which was a 'deployment outside its baseline'), and a host the
    deployer's client push reached first is the worm's."""
    truth, case_dir = runs[("notpetya", seed)]
    infections = sorted(truth["infections"], key=lambda i: i["time"])
    gen1 = [i for i in infections if i["infector"] == truth["patient_zero"]]
    second = min(_time(i["time"]) for i in infections if i["infector"] not in (None, truth["patient_zero"]))
    cut = second - timedelta(seconds=30)  # the first generation only
    assert len([i for i in gen1 if _time(i["time"]) < cut]) >= 3
    outbreaks = _outbreaks(_hunt(case_dir, cut))
    assert [(o["patient_zero"], o["severity"]) for o in outbreaks] == [(truth["patient_zero"], "critical")]
    found = {h["host"]: h["infector"] for h in outbreaks[0]["hosts"] if h["state"] == "infected"}
    by_then = {i["host"]: i["infector"] for i in infections if _time(i["time"]) < cut}
    # a copy started within seconds of the cut may be seen before its process start: no more
    assert by_then.items() <= found.items() and set(found) <= {i["host"] for i in infections}


def test_administration_alone_is_no_outbreak(
        runs: dict[tuple[str, int], tuple[dict[str, Any], Path]]) -> None:
    """No worm (benign seed 7): adm-01 PsExec'd to ws-0012, whose admin PsExec'd to 12 hosts an
    hour later. Each use of PsExec copies its own PSEXESVC.exe: no file travelled on, no outbreak,
    nothing high."""
    _, case_dir = runs[("benign", 7)]
    incidents = _hunt(case_dir)
    assert not _outbreaks(incidents)
    assert not [i["title"] for i in incidents if i["severity"] in ("critical", "high")]
