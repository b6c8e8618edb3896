"""Families and infrastructure: the intel store, matching a case against it, YARA, overlap, STIX/MISP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wormsign.intel.indicators import Indicator
from wormsign.intel.store import IntelStore

if TYPE_CHECKING:
    from wormsign.intel.match import Attribution


def attribute(case: Any, intel: str | IntelStore) -> Attribution:
    """Attribute a case's hosts and processes to families; see :func:`wormsign.intel.match.attribute`."""
    from wormsign.intel.match import attribute as _attribute

    return _attribute(case, intel)


__all__ = ["Attribution", "Indicator", "IntelStore", "attribute"]


def __getattr__(name: str) -> Any:
    if name == "Attribution":
        from wormsign.intel.match import Attribution

        return Attribution
    raise AttributeError(name)
