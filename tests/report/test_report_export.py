"""Exports: JSON view, CSV tables (no spreadsheet formulas from attacker text), GraphML via networkx."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from outbreak_fixture import HOSTILE_HOST, HOSTILE_USER

from wormsign.report.export import export
from wormsign.store import Case


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
