"""The documentation keeps up with the code: every column and kind of the event model is in docs/schema.md."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from wormsign import schema
from wormsign.ingest.zeek import load_mapper

DOCS = Path(__file__).resolve().parents[1] / "docs"
TYPES = {schema.TS_TYPE: "timestamp", pa.string(): "string", pa.int64(): "int64"}


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell (a `code` name) -> the cells of every Markdown table row."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if m:
            rows.setdefault(m.group(1), [c.strip() for c in m.group(2).split("|")])
    return rows


@pytest.fixture(scope="module")
def schema_doc() -> str:
    return (DOCS / "schema.md").read_text("utf-8")


def test_every_column_is_documented_with_its_type(schema_doc: str) -> None:
    rows = table_rows(schema_doc)
    missing = [f.name for f in schema.FIELDS if f.name not in rows]
    assert not missing, f"docs/schema.md lacks columns {missing}"
    for f in schema.FIELDS:
        typ, origin = rows[f.name][0], rows[f.name][1]
        assert typ.startswith(TYPES[f.type]), (f.name, typ)
        assert origin == ("ext" if f.ext else "ECS"), (f.name, origin)
    # Nothing documented that the schema does not have.
    documented = {k for k, cells in rows.items() if len(cells) == 3 and cells[1] in ("ext", "ECS")}
    assert documented == set(schema.FIELD_NAMES)


def test_every_kind_and_zeek_log_is_documented(schema_doc: str) -> None:
    rows = table_rows(schema_doc)
    assert [k for k in schema.KINDS if k not in rows] == []
    logs = {line.split("|")[1].strip() for line in schema_doc.splitlines() if line.startswith("| ")}
    assert [log for log in load_mapper().logs if log not in logs] == []


def test_adding_a_reader_names_the_real_places() -> None:
    text = (DOCS / "adding-a-reader.md").read_text("utf-8")
    root = DOCS.parent
    for path in ("src/wormsign/ingest/registry.py", "src/wormsign/ingest/zeek.py", "tests/data/",
                 "src/wormsign/ingest/mappings/"):
        assert path in text and (root / path).exists(), path
    for name in ("sniff", "read", "sink.reject", "sink.add", "FIELD_BY_NAME", "KINDS"):
        assert name in text, name


def test_formats_names_every_rule_the_hunt_loads() -> None:
    """docs/formats.md's alerts.ndjson lists the ``rule`` of every detection rule the hunt loads
    (src/wormsign/detect/rules), and names no rule that does not exist."""
    from wormsign.detect.rules import load_rules

    text = (DOCS / "formats.md").read_text("utf-8")
    section = text.split("## alerts.ndjson", 1)[1].split("\n## ", 1)[0]
    para = section[section.index("`rule` names the detection"):].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+|[a-z]+)`", para)) - {"rule", "host", "source_host", "tactics"}
    ids = {r.id for r in load_rules()}
    assert len(ids) >= 20
    assert ids - named == set(), "rules missing from docs/formats.md"
    assert named - ids == set(), "docs/formats.md names rules that do not exist"
