"""The Sigma engine runs on a thread and a DuckDB connection of its own while the hunt's analytics
run (hunt.py ``_SigmaBeside``): the hunt's alerts and incidents are exactly those of the hunt that
runs it after the analytics on the case's connection, on real multi-host recordings with the
in-house rules and SigmaHQ's Security, System and process creation rules; and when the run on
the thread fails, the hunt runs it again on the case's connection and still gives them."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from wormsign import hunt as hunt_mod
from wormsign.ingest import ingest_paths
from wormsign.store import Case

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SIGMAHQ = ROOT.parent / "shared" / "sigma" / "rules" / "windows"
SOURCES = [CORPUS / "real-multihost", CORPUS / "evtx-attack-samples" / "Lateral Movement"]
RULES = [SIGMAHQ / "builtin" / "security", SIGMAHQ / "builtin" / "system",
         SIGMAHQ / "process_creation"]

pytestmark = pytest.mark.skipif(
    not (all(p.is_dir() for p in SOURCES) and all(r.is_dir() for r in RULES)),
    reason="../shared is not beside the repository",
)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("beside") / "case"
    with Case.open(str(path)) as case:
        ingest_paths([str(p) for p in SOURCES], case, workers=1)
        hunt_mod.hunt(case, sigma_rules=None)  # resolved once: each test's hunt starts alike
    return path


def _hunt(src: Path, dest: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    shutil.copytree(src, dest)
    with Case.open(str(dest)) as case:
        res = hunt_mod.hunt(case, sigma_rules=[str(r) for r in RULES])
    doc = dict(res.document)
    doc.pop("generated_at")
    doc.pop("case")
    return doc, res.alerts


def _serial(resolved: Path, tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hunt_mod._SigmaBeside, "can", staticmethod(lambda *a: False))
        return _hunt(resolved, tmp_path / "serial")


def test_beside_gives_the_serial_hunt(resolved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _serial(resolved, tmp_path)
    on: list[str] = []
    run = hunt_mod._sigma

    def spy(case: Case, dirs: list[str] | None) -> list[dict[str, Any]]:
        on.append(threading.current_thread().name)
        return run(case, dirs)

    monkeypatch.setattr(hunt_mod, "_sigma", spy)
    beside = _hunt(resolved, tmp_path / "beside")
    assert on == ["wormsign-sigma"]  # the Sigma part ran on its thread, once
    assert any(a["rule"].startswith("sigma:") for a in serial[1])
    assert beside == serial


def test_a_failed_run_beside_runs_again(resolved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    serial = _serial(resolved, tmp_path)
    on: list[str] = []
    run = hunt_mod._sigma

    def failing(case: Case, dirs: list[str] | None) -> list[dict[str, Any]]:
        on.append(threading.current_thread().name)
        if threading.current_thread().name == "wormsign-sigma":
            case.engine.execute("SELECT * FROM no_such_table")  # fails as DuckDB fails
        return run(case, dirs)

    monkeypatch.setattr(hunt_mod, "_sigma", failing)
    with caplog.at_level("INFO", logger="wormsign.hunt"):
        again = _hunt(resolved, tmp_path / "again")
    assert on == ["wormsign-sigma", "MainThread"]
    assert "running it again" in caplog.text
    assert again == serial
