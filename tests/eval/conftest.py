"""Fixtures: fresh copies of the hand-written truth and a perfect hunt of it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eval_docs import TRUTH, perfect_incidents


@pytest.fixture
def truth() -> dict[str, Any]:
    return copy.deepcopy(TRUTH)


@pytest.fixture
def incidents() -> dict[str, Any]:
    return perfect_incidents()
