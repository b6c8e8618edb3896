"""Fixtures for the reader tests: parse one file with the real reader into row dicts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wormsign.ingest.base import Reject, Sink, Stats
from wormsign.ingest.registry import pick
from wormsign.ingest.walk import digest, sources

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"

Parsed = tuple[list[dict[str, Any]], Stats, list[Reject], str]


def parse_file(path: Path | str, *, strict: bool = False) -> Parsed:
    """(rows without nulls, stats, rejects, reader name) of one file, read by the reader picked by content."""
    (src,) = list(sources([str(path)]))
    assert not isinstance(src, tuple), src
    src.digest = digest(src)
    reader = pick(src, src.head(8192))
    assert reader is not None, f"no reader for {path}"
    tables: list[pa.Table] = []
    sink = Sink(src, reader.name, tables.append, strict=strict, on_reject=lambda r: None)
    reader.read(src, sink)
    sink.flush()
    rows = [{k: v for k, v in r.items() if v is not None} for t in tables for r in t.to_pylist()]
    return rows, sink.stats, sink.rejects, reader.name


@pytest.fixture
def parse() -> Callable[..., Parsed]:
    return parse_file


@pytest.fixture
def data() -> Path:
    return DATA
