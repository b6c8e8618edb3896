"""Evidence events: look up event references ("<src.digest>:<src.record>") in a case."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from wormsign import schema
from wormsign.results import iso as results_iso
from wormsign.store import Case

_REF = re.compile(r"^([0-9A-Za-z_\-]{1,128}):(\d{1,18})$")
#: References looked up in one query.
_PAIRS = 10_000
_COLUMNS = ", ".join(schema.q(n) for n in schema.FIELD_NAMES)


class BadRef(ValueError):
    """An event reference that is not "<digest>:<record>"."""


def parse_ref(ref: str) -> tuple[str, int]:
    """Split an event reference into its source digest and record number."""
    m = _REF.match(ref or "")
    if not m:
        raise BadRef(f"not an event reference (<src.digest>:<src.record>): {ref[:80]!r}")
    return m.group(1), int(m.group(2))


def iso(ts: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with a Z (the form docs/formats.md uses: results.iso)."""
    return results_iso(ts)


def row_to_event(names: Iterable[str], row: Iterable[Any], max_raw: int) -> dict[str, Any]:
    """One events row as a dict of its non-null fields, the time as text, ``raw`` bounded."""
    ev: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        if value is None:
            continue
        if isinstance(value, datetime):
            value = iso(value)
        elif name == "raw" and isinstance(value, str) and len(value) > max_raw:
            value = value[:max_raw]
            ev["raw_truncated"] = True
        ev[name] = value
    ev["ref"] = f"{ev.get('src.digest')}:{ev.get('src.record')}"
    return ev


def ref_pairs(refs: Iterable[str]) -> list[tuple[str, int]]:
    """The (digest, record) of each well-formed reference, once each, grouped by file in the order
    the files first appear, records ascending (bad references are left out)."""
    by_digest: dict[str, set[int]] = defaultdict(set)
    for ref in refs:
        try:
            digest, record = parse_ref(ref)
        except BadRef:
            continue
        by_digest[digest].add(record)
    return [(d, r) for d, recs in by_digest.items() for r in sorted(recs)]


def fetch_events(case: Case, refs: Iterable[str], *, max_raw: int = 16384) -> dict[str, dict[str, Any]]:
    """The events the references point at, keyed by reference; unknown and bad ones are left out.

    Two steps: the rows are found by (digest, record) in a scan of those two columns alone, then
    read whole by row id, so the records of other events are not decompressed (one query per
    source file read every file's records: 9.5 s for 16,000 references on a 10M-event case,
    against under 1 s this way)."""
    pairs = ref_pairs(refs)
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(pairs), _PAIRS):
        chunk = pairs[i : i + _PAIRS]
        ids = case.rows(
            """WITH k AS (SELECT unnest(?::VARCHAR[]) AS d, unnest(?::BIGINT[]) AS r)
               SELECT e.eid FROM events e SEMI JOIN k ON e."src.digest" = k.d AND e."src.record" = k.r""",
            [[d for d, _ in chunk], [r for _, r in chunk]],
        )
        if not ids:
            continue
        rows = case.rows(f"SELECT {_COLUMNS} FROM events WHERE eid IN (SELECT unnest(?::BIGINT[]))",
                         [sorted(r[0] for r in ids)])
        for row in rows:
            ev = row_to_event(schema.FIELD_NAMES, row, max_raw)
            found.setdefault(ev["ref"], ev)
    # in the order of the references' files, then of their records
    return {f"{d}:{r}": found[f"{d}:{r}"] for d, r in pairs if f"{d}:{r}" in found}
