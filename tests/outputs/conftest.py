"""Fixtures: real hunted cases (the bundled demo outbreak; a real multi-host EVTX recording)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wormsign.cli import app

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "real-multihost"


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case the demo outbreak was hunted in (ECS JSON and Zeek evidence)."""
    case = tmp_path_factory.mktemp("demo") / "case"
    res = CliRunner().invoke(app, ["-q", "hunt", "--demo", "--case", str(case),
                                   "--out", str(case.parent / "out")])
    assert res.exit_code == 0, res.output
    return case


@pytest.fixture(scope="module")
def evtx_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case a real EVTX recording (Tchopper's mass remote service creation) was hunted in."""
    src = CORPUS / "ID5145-service massive remote creation via named pipe - Tchopper.evtx"
    if not src.is_file():
        pytest.skip("../shared/corpus is not beside the repository")
    case = tmp_path_factory.mktemp("evtx") / "case"
    res = CliRunner().invoke(app, ["-q", "hunt", str(src), "--case", str(case), "--out", str(case.parent / "o")])
    assert res.exit_code == 0, res.output
    return case
