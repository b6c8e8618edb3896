"""Exports: JSON view, CSV tables (no spreadsheet formulas from attacker text), GraphML via networkx."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hostile import CLEAR_SCREEN, FORMULAS, TERMINAL_HOST, XML_HOST, XML_INVALID, raw_controls
from outbreak_fixture import HOSTILE_HOST, HOSTILE_USER

from wormsign.report.export import export
from wormsign.store import Case
from wormsign.text import printable


def _export(path: Path, fmt: str, out: Path) -> list[Path]:
    with Case.open(str(path), read_only=True) as case:
        return export(case, fmt, out)


def test_json_export_is_the_view(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, doc = outbreak
    [out] = _export(path, "json", tmp_path / "o.json")
    view = json.loads(out.read_text("utf-8"))
    assert view["format"] == "wormsign.view/1"
    assert view["incidents"] == doc["incidents"]
    assert "evidence" not in view


def test_csv_export_has_hosts_edges_and_locked_accounts(
    outbreak: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _ = outbreak
    files = _export(path, "csv", tmp_path / "csv")
    assert sorted(f.name for f in files) == ["edges.csv", "hosts.csv", "locked_accounts.csv"]
    rows = {f.stem: list(csv.DictReader(f.open(encoding="utf-8"))) for f in files}
    assert len(rows["hosts"]) == 7  # 6 in the outbreak, ws-0009 again in the brute-force incident
    assert [(r["source"], r["target"]) for r in rows["edges"]][0] == ("ws-0001", "ws-0002")
    assert rows["edges"][3]["target"] == HOSTILE_HOST
    assert rows["edges"][0]["techniques"] == "T1021.002;T1570;T1569.002"
    assert rows["locked_accounts"] == [
        {
            "incident": "INC-0001",
            "account": HOSTILE_USER,
            "ts": "2026-03-02T09:50:00Z",
            "source_host": "ws-0004",
            "dc": "dc-01",
            "ref": rows["locked_accounts"][0]["ref"],
        }
    ]


def test_csv_cells_never_start_a_formula(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, doc = outbreak
    with Case.open(str(path)) as case:
        doc["incidents"][0]["accounts"]["locked"][0]["account"] = '=HYPERLINK("http://x")'
        case.set_meta("hunt", doc)
    _export(path, "csv", tmp_path / "csv")
    [row] = list(csv.DictReader((tmp_path / "csv" / "locked_accounts.csv").open(encoding="utf-8")))
    assert row["account"] == '\'=HYPERLINK("http://x")'


def test_graphml_reads_back_in_networkx(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _ = outbreak
    [out] = _export(path, "graphml", tmp_path / "g.graphml")
    g = nx.read_graphml(out)
    assert g.number_of_nodes() == 6
    assert g.number_of_edges() == 4
    assert g.nodes["ws-0002"]["generation"] == 1
    assert g.nodes[HOSTILE_HOST]["infector"] == "ws-0003"
    assert g.nodes["ws-0009"]["state"] == "attacked"


def test_unknown_format_is_refused(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        _export(outbreak[0], "xml", tmp_path / "x")


def _with_host(path: Path, doc: dict[str, Any], name: str) -> None:
    """The hunt saved in the case, with the fixture's hostile host renamed to ``name`` everywhere."""
    old, new = json.dumps(HOSTILE_HOST)[1:-1], json.dumps(name)[1:-1]
    with Case.open(str(path)) as case:
        case.set_meta("hunt", json.loads(json.dumps(doc).replace(old, new)))


def test_graphml_with_xml_invalid_characters_parses_back(
    outbreak: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Gephi and every XML parser refuse a file with \\x00-\\x1f (but tab, newline, CR) or U+FFFE/FFFF."""
    path, doc = outbreak
    _with_host(path, doc, XML_HOST)
    [out] = _export(path, "graphml", tmp_path / "g.graphml")
    ET.parse(out)  # well-formed XML 1.0
    g = nx.read_graphml(out)
    escaped = "".join(f"\\x{c:02x}" for c in range(0x20) if c not in (9, 10, 13))
    shown = "ws-evil" + escaped + r"\ufffe\uffff-end"
    assert shown in g.nodes
    assert g.nodes[shown]["infector"] == "ws-0003"
    assert ("ws-0003", shown) in g.edges
    assert not any(c in XML_INVALID for c in out.read_text("utf-8"))


def test_csv_cells_hold_no_terminal_controls(outbreak: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, doc = outbreak
    _with_host(path, doc, TERMINAL_HOST)
    with Case.open(str(path)) as case:
        hunt = case.get_meta("hunt")
        hunt["incidents"][0]["accounts"]["locked"][0]["account"] = "\t=1+1" + CLEAR_SCREEN
        case.set_meta("hunt", hunt)
    files = _export(path, "csv", tmp_path / "csv")
    for f in files:
        assert raw_controls(f.read_text("utf-8").replace("\r\n", "")) == set(), f
    rows = {f.stem: list(csv.DictReader(f.open(encoding="utf-8", newline=""))) for f in files}
    assert rows["edges"][3]["target"] == printable(TERMINAL_HOST)
    assert rows["locked_accounts"][0]["account"] == r"'\t=1+1\x1b[2J\x1b[H"


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_formula_cells_are_quoted(
    outbreak: tuple[Path, dict[str, Any]], tmp_path: Path, formula: str
) -> None:
    path, doc = outbreak
    _with_host(path, doc, formula)
    _export(path, "csv", tmp_path / "csv")
    rows = list(csv.DictReader((tmp_path / "csv" / "edges.csv").open(encoding="utf-8", newline="")))
    assert rows[3]["target"] == "'" + printable(formula)
