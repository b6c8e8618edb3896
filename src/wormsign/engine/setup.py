"""A case opened for an engine: DuckDB alone, or Spark for the passes over every event.

Here, and not in :mod:`wormsign.store` or :mod:`wormsign.engine.spark`, because the Spark side
needs the analytics' macros (:mod:`wormsign.detect`, :mod:`wormsign.resolve`), which themselves
need the store: the commands and the Python API open a case through :func:`open_case`.
"""

from __future__ import annotations

from typing import Any

from wormsign.store import Case

ENGINES = ("duckdb", "spark")


def pass_macros() -> tuple[str, ...]:
    """The SQL macros the passes call (their DuckDB definitions, expanded for Spark)."""
    from wormsign.detect.prep import MACROS
    from wormsign.detect.sigma import fields
    from wormsign.intel import match
    from wormsign.resolve import MACRO

    return (MACRO, *MACROS, *match.MACROS, *fields.MACROS)


def spark_bodies() -> dict[str, str]:
    """The Spark bodies of the macros DuckDB's cannot be translated for, or is slow as translated."""
    from wormsign.detect import activity, prep
    from wormsign.detect.sigma import fields
    from wormsign.intel import match

    return {**activity.SPARK_BODIES, **prep.SPARK_BODIES, **match.SPARK_BODIES, **fields.SPARK_BODIES}


def attach_spark(case: Case, master: str | None = None) -> Case:
    """``case`` with its passes over every event on Spark (``master``: ``local[*]`` by default)."""
    from wormsign.engine.spark import SparkScans

    case.scans = SparkScans(master, macros=pass_macros(), spark_bodies=spark_bodies())
    return case


def open_case(path: str, *, engine: str = "duckdb", master: str | None = None, **kwargs: Any) -> Case:
    """:meth:`Case.open` (``kwargs``), with the Spark session attached when ``engine="spark"``
    (ImportError when pyspark is not installed)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    case = Case.open(str(path), **kwargs)
    if engine == "spark":
        try:
            attach_spark(case, master)
        except BaseException:
            case.close()
            raise
    return case
