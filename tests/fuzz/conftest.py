"""Hypothesis profiles for the fuzz suite, picked by ``WORMSIGN_FUZZ``.

``ci`` (the default): few examples, derandomized, so that a run takes under a minute and gives the
same result every time. ``long``: many examples (``WORMSIGN_FUZZ_EXAMPLES`` a test, 8,000 unless
set), random: about half an hour on 2 cores (see README.md). Neither keeps an example database:
a failure is pinned with ``@example`` in the test, where the suite always runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from fuzzkit import FuzzCase

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]  # no explain: slow here

settings.register_profile("ci", max_examples=40, derandomize=True, deadline=None, database=None,
                          suppress_health_check=_SLOW, print_blob=True, phases=_PHASES)
settings.register_profile("long", max_examples=int(os.environ.get("WORMSIGN_FUZZ_EXAMPLES", "8000")),
                          deadline=None, database=None, suppress_health_check=_SLOW, print_blob=True,
                          phases=_PHASES)
settings.load_profile(os.environ.get("WORMSIGN_FUZZ", "ci"))


@pytest.fixture(scope="module")
def fuzz_case() -> Iterator[FuzzCase]:
    """One real case for the examples of a test module (each example ingests a folder of its own)."""
    case = FuzzCase()
    try:
        yield case
    finally:
        case.close()
