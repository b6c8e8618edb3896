"""Fixtures: the outbreak case of tests/report served by the API through FastAPI's TestClient."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from outbreak_fixture import build  # noqa: E402

from wormsign.api import create_app, load_or_create  # noqa: E402


@pytest.fixture
def served(tmp_path: Path) -> tuple[TestClient, str, dict[str, Any]]:
    path = tmp_path / "outbreak.duckdb"
    doc = build(path)
    token, created = load_or_create(path)
    assert created
    return TestClient(create_app(path, token)), token, doc


@pytest.fixture
def client(served: tuple[TestClient, str, dict[str, Any]]) -> TestClient:
    c, token, _ = served
    c.headers["Authorization"] = f"Bearer {token}"
    return c
