"""The Python surface of ``import wormsign``: open a case, ingest, hunt, with the command line's
defaults (docs/python.md).

``wormsign.ingest`` and ``wormsign.hunt`` are the packages of those names, made callable
(:func:`callable_module`): ``wormsign.hunt(case)`` runs a hunt as ``wormsign hunt`` does, and
``from wormsign.hunt import HuntResult`` still works.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wormsign.hunt import HuntResult
    from wormsign.ingest import IngestReport
    from wormsign.store import Case

Paths = str | PathLike[str]


def open_case(path: Paths, *, read_only: bool = False, wait: float | None = None, engine: str = "duckdb",
              master: str | None = None) -> Case:
    """Open (or, unless ``read_only``, create) the case directory ``path``; use it in a
    ``with`` block, or close it. ``wait``: seconds to wait for a case another process holds
    (the command line's ``--wait`` default when None). ``engine="spark"``: the passes over every
    event run on Apache Spark (``master``, ``local[*]`` by default; docs/scale.md)."""
    from wormsign.engine.setup import open_case as open_for
    from wormsign.store import DEFAULT_WAIT

    return open_for(str(path), read_only=read_only, wait=DEFAULT_WAIT if wait is None else wait, engine=engine,
                    master=master)


def ingest(case: Case, paths: Paths | Iterable[Paths], *, strict: bool = False, workers: int | None = None,
           resolve: bool = True, fmt: str | None = None, start: datetime | None = None,
           end: datetime | None = None, keep_copies: bool = False) -> IngestReport:
    """Ingest files or folders into ``case`` as ``wormsign ingest`` does: walked, each file read
    by the reader its content picks (or ``fmt``), re-ingested files and copies of records
    already stored left out (``keep_copies``: stored), only events with ``start <= ts < end``
    stored when given (UTC when naive); then (``resolve``) addresses resolved to hosts. Returns
    the report (``stats.stored``, ``stats.rejected``, ``stats.copies``, ``stats.outside``,
    ``rejects``); bad records are counted there, never raised, unless ``strict``."""
    from datetime import UTC

    from wormsign.ingest import ingest_paths
    from wormsign.ingest.pipeline import Options
    from wormsign.resolve import resolve as resolve_hosts

    def utc(t: datetime | None) -> datetime | None:
        return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)

    names = [str(paths)] if isinstance(paths, (str, PathLike)) else [str(p) for p in paths]
    report = ingest_paths(names, case, strict=strict, workers=workers, keep_copies=keep_copies,
                          options=Options(fmt=fmt, start=utc(start), end=utc(end)))
    if resolve:
        resolve_hosts(case)
    return report


def hunt(case: Case, *, sigma: Iterable[Paths] | None = (), allowlist: Paths | None = None,
         intel: Paths | None = None, start: datetime | None = None, end: datetime | None = None) -> HuntResult:
    """Hunt ``case`` as ``wormsign hunt`` does: every analytic, the in-house Sigma rules and the
    rule folders in ``sigma`` (``sigma=None``: no Sigma rule at all, ``--no-sigma``),
    ``allowlist`` and ``intel`` files, the time window ``start <= ts < end`` (UTC when naive).
    Saves the result into the case and returns it: ``.incidents`` and ``.alerts`` (records
    of docs/formats.md), ``.document`` (incidents.json), ``.incidents_table()`` and
    ``.alerts_table()`` (Arrow; ``.to_pandas()`` on them with pandas installed)."""
    from wormsign.hunt import hunt as run

    return run(case, sigma_rules=None if sigma is None else [str(s) for s in sigma],
               allowlist=str(allowlist) if allowlist else None, intel=str(intel) if intel else None,
               start=start, end=end)


class _CallableModule(types.ModuleType):
    """A module that is also a function (``wormsign.hunt(...)``, ``wormsign.ingest(...)``)."""

    _call: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return type(self)._call(*args, **kwargs)


def callable_module(name: str, function: Callable[..., Any]) -> None:
    """Make the module ``name`` callable as ``function`` (its docstring stays the module's)."""
    module = sys.modules[name]
    cls = type(f"_Callable_{name.replace('.', '_')}", (_CallableModule,), {"_call": staticmethod(function)})
    module.__class__ = cls
