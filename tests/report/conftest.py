"""Fixtures: a real DuckDB case holding a small outbreak and its hunt result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from outbreak_fixture import build


@pytest.fixture
def outbreak(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "outbreak.duckdb"
    return path, build(path)
