"""Column names in the SQL of a Sigma run: quoted identifiers and the lower-cased copies of fields.

Kept apart from backend.py so that a run from the compiled rule set never imports pySigma.
"""

from __future__ import annotations

from wormsign.store import quote_ident

__all__ = ["LOWER", "lowered", "quote_ident"]

#: The prefix of a field's lower-cased column in a group table.
LOWER = "~"


def lowered(name: str) -> str:
    """The quoted name of the lower-cased copy of field ``name`` in a group table."""
    return quote_ident(LOWER + name)
