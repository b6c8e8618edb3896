"""Shared fixtures: the shared corpus beside the repository, and fresh case files."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "evtx-attack-samples"
SIGMA = ROOT.parent / "shared" / "sigma"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return CORPUS


@pytest.fixture
def case_path(tmp_path: Path) -> Path:
    return tmp_path / "case.duckdb"
