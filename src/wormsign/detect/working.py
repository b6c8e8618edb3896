"""The working tables of a hunt: the candidate pass (``h_ev``, :mod:`wormsign.detect.candidates`),
then the tables over it (:mod:`wormsign.detect.prep`). The one place that calls both, so neither
imports the other's caller: candidates reads prep's SQL for its spec and stores prep's tables,
prep never imports candidates."""

from __future__ import annotations

from typing import Any

from wormsign.detect import candidates, prep
from wormsign.store import Case


def prepare(case: Case, cfg: dict[str, Any], *, stored: bool = True) -> None:
    """Build the working tables of a hunt (TEMP: they vanish with the connection).

    ``stored=False``: never read the stored pass and its tables (a hunt over a time window,
    whose ``events`` is a view of some of the case's: the stored ones hold every event)."""
    for m in prep.MACROS:
        case.engine.execute(m)
    fresh = stored and candidates.index_is_fresh(case, cfg)
    candidates.build(case, cfg, fresh=fresh)
    prep.tables(case, cfg, fresh=fresh)
