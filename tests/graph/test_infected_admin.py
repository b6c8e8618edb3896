"""An administrator whose workstation the worm holds keeps working: the installers they copy to
ADMIN$ and start with a scheduled task (``schtasks /s``, as SYSTEM: realism.yaml's
``admin_copy_start``) are no infections of the outbreak, while the worm's own copies, which Qakbot
starts with scheduled tasks too, all stay infections."""

from __future__ import annotations

from pathlib import Path

import pytest

import wormsign
from wormsign.eval.docs import load_truth
from wormsign.eval.score import score
from wormsign.simulate import chores, simulate


def test_an_infected_admins_installer_push_is_no_infection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """emotet-qakbot, seed 1, 50 hosts, 2 days, with the admins' own installs and started copies
    on: Qakbot reaches ws-0028 (athomas's workstation) with a task; the next day adm-athomas copies
    Wireshark's installer from ws-0028 to ws-0034 (which the worm already holds) and ws-0022, and
    starts each with a task. Before, ws-0022 was an infection of ws-0028 (precision 32/33); now
    both copies are set aside: no beacon, loader or spread from ws-0022 in the 13 hours of logs
    after the copy, and the file is none the worm's hosts copied."""
    c = {**chores.config(), "admin_install_first": 0.5, "admin_copy_start": 0.4}
    monkeypatch.setattr(chores, "config", lambda: c)
    sim = tmp_path / "emotet-qakbot-1"
    simulate("emotet-qakbot", 50, 2, 1, sim)
    truth = load_truth(sim / "truth.json")
    assert "ws-0022" not in {i.host for i in truth.infections}
    with wormsign.open_case(sim / "case") as case:
        wormsign.ingest(case, sim / "logs")
        incidents = list(wormsign.hunt(case).document["incidents"])
    (outbreak,) = [i for i in incidents if i["type"] == "outbreak"]
    pushed = [e for e in outbreak["edges"] if e["file"] and e["file"]["name"] == "wireshark-4.2.2-x64.exe"]
    assert pushed == []
    s = score(truth, incidents)
    assert (s.recall, s.precision, s.infector_accuracy, s.patient_zero_right) == (1.0, 1.0, 1.0, True)
    assert s.extra == [] and s.false_highs == 0
