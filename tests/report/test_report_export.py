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
from typer.testing import CliRunner

from wormsign import demo
from wormsign.cli import app

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
    assert g.number_of_nodes() == 7  # one node per host per incident: ws-0009 is in both
    assert g.number_of_edges() == 4
    assert g.nodes["INC-0001/ws-0002"]["generation"] == 1
    assert g.nodes[f"INC-0001/{HOSTILE_HOST}"]["infector"] == "ws-0003"
    assert g.nodes[f"INC-0001/{HOSTILE_HOST}"]["host"] == HOSTILE_HOST
    assert g.nodes["INC-0001/ws-0009"]["state"] == "attacked"
    assert g.nodes["INC-0002/ws-0009"]["incident"] == "INC-0002"
    assert [n for n, d in g.nodes(data=True) if d["patient_zero"]] == ["INC-0001/ws-0001"]
    assert all(g.nodes[a]["incident"] == g.nodes[b]["incident"] == "INC-0001" for a, b in g.edges())


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo hunted into a case (``wormsign hunt --demo``)."""
    tmp = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(app, ["hunt", "--demo", "--case", str(tmp / "c"), "--out", str(tmp)])
    assert res.exit_code == 0, res.output
    return tmp / "c"


def test_demo_graphml_keeps_each_incidents_state(demo_case: Path, tmp_path: Path) -> None:
    """A host in several incidents (infected in the outbreak, a deployment target elsewhere) keeps
    its state in each: the demo's outbreak reads as the truth's 32 infections and patient zero."""
    case, out = demo_case, tmp_path / "demo.graphml"
    res = CliRunner().invoke(app, ["export", "--case", str(case), "--format", "graphml", "-o", str(out)])
    assert res.exit_code == 0, res.output
    truth = json.loads((Path(demo.path()) / "truth.json").read_text())
    g = nx.read_graphml(out)
    infected = {d["host"]: d for d in g.nodes.values() if d.get("state") == "infected"}
    assert len(infected) == 32
    assert infected.keys() == {i["host"] for i in truth["infections"]}
    pz = [d for d in g.nodes.values() if d["patient_zero"]]
    assert [(d["host"], d["state"], d["generation"]) for d in pz] == [(truth["patient_zero"], "infected", 0)]
    outbreak = {d["incident"] for d in infected.values()}
    assert len(outbreak) == 1 and pz[0]["incident"] in outbreak
    # the infection tree: every infected host but patient zero has one infection edge, from its infector
    for h, d in infected.items():
        into = [g.nodes[s]["host"] for s, _ in g.in_edges(f"{d['incident']}/{h}")]
        assert into == ([] if h == truth["patient_zero"] else [d["infector"]]), h
    # hosts of the other incidents are nodes of their own, not the outbreak's
    others = [d for d in g.nodes.values() if d["incident"] not in outbreak]
    assert others and not any(d.get("state") == "infected" for d in others)
    assert {d["host"] for d in others} & infected.keys()


def test_demo_csv_hosts_one_row_per_host_per_incident(demo_case: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["export", "--case", str(demo_case), "--format", "csv", "-o", str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "csv" / "hosts.csv").open(encoding="utf-8", newline="")))
    keys = [(r["incident"], r["host"]) for r in rows]
    assert len(keys) == len(set(keys))
    truth = json.loads((Path(demo.path()) / "truth.json").read_text())
    assert {r["host"] for r in rows if r["state"] == "infected"} == {i["host"] for i in truth["infections"]}
    assert [r["host"] for r in rows if r["patient_zero"] == "True"] == [truth["patient_zero"]]


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
    assert f"INC-0001/{shown}" in g.nodes
    assert g.nodes[f"INC-0001/{shown}"]["host"] == shown
    assert g.nodes[f"INC-0001/{shown}"]["infector"] == "ws-0003"
    assert ("INC-0001/ws-0003", f"INC-0001/{shown}") in g.edges
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
