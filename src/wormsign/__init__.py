"""wormsign: find network worms in the telemetry defenders already collect, and show how they spread.

In Python (docs/python.md)::

    import wormsign

    with wormsign.open_case("case") as case:
        wormsign.ingest(case, ["evidence/evtx", "evidence/zeek"])
        result = wormsign.hunt(case)  # the command line's defaults: in-house Sigma rules included
    for incident in result.incidents:
        print(incident["severity"], incident["title"])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "hunt", "ingest", "open_case"]


def open_case(path: Any, *, read_only: bool = False, wait: float | None = None) -> Any:
    """Open (or create) a case directory: :func:`wormsign.library.open_case`."""
    from wormsign.library import open_case as _open

    return _open(path, read_only=read_only, wait=wait)


def __getattr__(name: str) -> Any:
    # ``wormsign.hunt`` and ``wormsign.ingest`` are modules that can be called
    # (wormsign.library.callable_module); loaded when first named, not with the package.
    if name in ("hunt", "ingest"):
        return importlib.import_module(f"wormsign.{name}")
    raise AttributeError(f"module 'wormsign' has no attribute {name!r}")
