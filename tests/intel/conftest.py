"""Fixtures shared by the intel tests: the sample intel store and a case with known families."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from intel_cases import known_case_at, sample_store

from wormsign.intel.store import IntelStore
from wormsign.store import Case


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IntelStore]:
    s = sample_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def known_case(tmp_path: Path) -> Iterator[Case]:
    c = known_case_at(tmp_path)
    yield c
    c.close()
