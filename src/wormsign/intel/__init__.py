"""Families and infrastructure: the intel store, matching a case against it, YARA, overlap, STIX/MISP."""

from __future__ import annotations

from typing import Any

from wormsign.intel.attribution import Attribution
from wormsign.intel.indicators import Indicator
from wormsign.intel.store import IntelStore


def attribute(case: Any, intel: str | IntelStore) -> Attribution:
    """Attribute a case's hosts and processes to families; see :func:`wormsign.intel.match.attribute`."""
    from wormsign.intel.match import attribute as _attribute

    return _attribute(case, intel)


__all__ = ["Attribution", "Indicator", "IntelStore", "attribute"]
