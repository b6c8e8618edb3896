"""docs/formats.md against the typed records of wormsign.results: every field of each record is
documented, and the page documents no field a record does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from wormsign import results as r

FORMATS = Path(__file__).resolve().parents[1] / "docs" / "formats.md"


def _names(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _braced(text: str) -> set[str]:
    """The names of a ``{a, b, c}`` list, or the keys of a ``{"a": ..., "b": ...}`` object."""
    quoted = re.findall(r'"([a-z_]+)":', text)
    if quoted:
        return set(quoted)
    return {n.strip() for n in text.strip("{}").split(",") if n.strip()}


@pytest.fixture(scope="module")
def doc() -> str:
    return FORMATS.read_text("utf-8")


def _record_line(doc: str, name: str) -> set[str]:
    m = re.search(rf"^An? {name}: `(\{{[^`]*\}})`", doc, re.M)
    assert m, f"docs/formats.md has no line 'A {name}: `{{...}}`'"
    return _braced(m.group(1))


def _incident_rows(doc: str) -> dict[str, str]:
    part = doc.split("An INCIDENT:", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in part.splitlines():
        m = re.match(r"\|\s*`([^`]+)`(?:,\s*`([^`]+)`)?(?:,\s*`([^`]+)`)?\s*\|(.*)\|\s*$", line)
        if m:
            for k in m.groups()[:3]:
                if k:
                    rows[k] = m.group(4)
    return rows


@pytest.mark.parametrize(("name", "model"), [
    ("STEP", r.AccessStep), ("HOST", r.HostState), ("EDGE", r.Edge), ("FILE", r.FileSpread),
    ("FILE_HOP", r.FileHop), ("NEXT_HOP", r.NextHop), ("HOP_EVIDENCE", r.HopEvidence), ("LOCKOUT", r.Lockout),
])
def test_each_record_line_names_exactly_the_records_fields(doc: str, name: str, model: type[BaseModel]) -> None:
    assert _record_line(doc, name) == _names(model)


def test_the_incident_table_is_the_incident_record(doc: str) -> None:
    rows = _incident_rows(doc)
    assert set(rows) == _names(r.Incident)
    # the parts given inline in the table
    for key, model in (("families", r.Family), ("deliveries", r.Delivery), ("c2", r.C2),
                       ("containment", r.Containment), ("actions", r.Actions), ("accounts", r.Accounts)):
        m = re.search(r"`(\{[^`]*\})`", rows[key])
        assert m, key
        assert _braced(m.group(1)) == _names(model), key
    # the values of the type column that name a record
    assert "STEP" in rows["initial_access"] and "FILE" in rows["files"] and "NEXT_HOP" in rows["next_hops"]
    assert set(r.Incident.model_fields["type"].annotation.__args__) == set(  # type: ignore[union-attr]
        re.findall(r"`([a-z]+)`", rows["type"].split("|")[1]))


def test_the_edge_file_and_the_window(doc: str) -> None:
    m = re.search(r"`file` is `(\{[^`]*\})` or null", doc)
    assert m and _braced(m.group(1)) == _names(r.EdgeFile)
    m = re.search(r'`("window": \{[^`]*\})`', doc)
    assert m and set(re.findall(r'"([a-z]+)":', m.group(1))) == {"window"} | _names(r.Window)


def test_the_document_and_the_alert_examples(doc: str) -> None:
    inc = doc.split("## incidents.json", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    assert set(re.findall(r'^\s*"([a-z_]+)":', inc, re.M)) | {"window"} == _names(r.IncidentsDocument)
    section = doc.split("## alerts.ndjson", 1)[1].split("\n## ", 1)[0]
    example = section.split("```json", 1)[1].split("```", 1)[0]
    example = re.sub(r'"fields": \{[^}]*\}', '"fields": {}', example)
    keys = set(re.findall(r'"([a-z_]+)":', example))
    assert "A Sigma alert also has `tactics`" in section
    assert keys | {"tactics"} == _names(r.Alert)


def test_times_have_one_form() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    t = datetime(2026, 3, 2, 9, 14, 7, 250000, tzinfo=UTC)
    assert r.iso(t) == "2026-03-02T09:14:07.250000Z"
    assert r.iso(t.replace(microsecond=0)) == "2026-03-02T09:14:07.000000Z"
    assert r.iso(t.astimezone(timezone(timedelta(hours=2)))) == "2026-03-02T09:14:07.250000Z"
    for text in ("2026-03-02T09:14:07.25Z", "2026-03-02T11:14:07.250000+02:00", "2026-03-02T09:14:07.250000"):
        assert r.parse_time(text) == t
    lk = r.Lockout.model_validate({"account": "a", "ts": "2026-03-02T09:14:07Z"})
    assert lk.ts == t.replace(microsecond=0) and lk.ts.tzinfo is not None
    assert lk.to_json()["ts"] == "2026-03-02T09:14:07.000000Z"
    with pytest.raises(ValueError, match="bogus"):
        r.Lockout.model_validate({"account": "a", "bogus": 1})
