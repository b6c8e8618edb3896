"""The command line: intel import|list|overlap|export|match and scan, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import stix2
from intel_cases import DATA, known_rows
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.ingest.base import rows_to_table
from wormsign.intel.store import IntelStore
from wormsign.store import Case

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_import_list_and_exit_statuses(tmp_path: Path) -> None:
    store = tmp_path / "i.duckdb"
    r = invoke("intel", "import", DATA / "feodo_ipblocklist.csv", DATA / "hashes.txt", "--store", store)
    assert r.exit_code == 3, r.output  # some rows rejected
    assert "7 indicators imported" in r.output and "5 rows rejected" in r.output
    assert "feodo_ipblocklist.csv line 11: not an IP address" in r.output
    r = invoke("intel", "import", DATA / "c2_list.txt", "--store", store, "--family", "trickbot", "--strict")
    assert r.exit_code == 1 and "c2_list.txt line 6" in r.output
    r = invoke("intel", "list", "--store", store)
    assert r.exit_code == 0 and "qakbot" in r.output and "sha256" in r.output and "trickbot" not in r.output
    r = invoke("intel", "list", "--store", store, "--family", "Heodo")
    assert "203.0.113.10:8080" in r.output and "2 indicators" not in r.output and "3 indicators" in r.output
    r = invoke("intel", "import", tmp_path / "missing.csv", "--store", store)
    assert r.exit_code == 1


def test_match_overlap_and_export_on_a_case(tmp_path: Path) -> None:
    case = tmp_path / "case.duckdb"
    with Case.open(str(case)) as c:
        c.append_events(rows_to_table(known_rows()))
    for f in ("feodo_ipblocklist.csv", "feodo_ipblocklist.json", "hashes.txt"):
        invoke("intel", "import", DATA / f, "--case", case)
    r = invoke("intel", "match", "--case", case, "--json", tmp_path / "attr.json")
    assert r.exit_code == 0, r.output
    assert "emotet delivered qakbot on host ws-01 at 2026-02-02T09:11:00Z" in r.output
    assert "emotet -> qakbot: 1 deliveries" in r.output
    attr = json.loads((tmp_path / "attr.json").read_text())
    assert sorted(attr["hosts"]) == ["ws-01", "ws-02", "ws-04"]
    r = invoke("intel", "overlap", "--case", case, "--json")
    rep = json.loads(r.output)
    pair = next(p for p in rep["pairs"] if {p["a"], p["b"]} == {"emotet", "qakbot"})
    assert pair["shared"] == {} and not pair["linked"]
    r = invoke("intel", "overlap", "--case", case, "--observed")
    assert r.exit_code == 0 and "No shared infrastructure" in r.output
    out = tmp_path / "inc.stix.json"
    r = invoke("intel", "export", "--case", case, "--format", "stix", "--out", out)
    assert r.exit_code == 0, r.output
    bundle = stix2.parse(out.read_text(), allow_custom=False, version="2.1")
    assert any(o.type == "sighting" for o in bundle.objects)
    r = invoke(
        "intel",
        "export",
        "--case",
        case,
        "--format",
        "csv",
        "--out",
        tmp_path / "b.csv",
        "--family",
        "qakbot",
    )
    rows = (tmp_path / "b.csv").read_text().splitlines()
    assert rows[0].startswith("value,family") and all(",qakbot," in x for x in rows[1:]) and len(rows) == 5
    r = invoke("intel", "export", "--format", "pdf", "--out", tmp_path / "x", "--case", case)
    assert r.exit_code == 1


def test_scan_stores_hits(tmp_path: Path) -> None:
    target = tmp_path / "files"
    target.mkdir()
    (target / "a.bin").write_bytes(b"WS-QAK-TEST and more")
    (target / "b.bin").write_bytes(b"nothing here")
    store = tmp_path / "i.duckdb"
    r = invoke("scan", target, "--rules", DATA / "rules", "--store", store)
    assert r.exit_code == 0, r.output
    assert "2 files scanned, 1 hits, 2 hash indicators stored" in r.output
    with IntelStore.open(str(store)) as s:
        assert {(i.type, i.family) for i in s.indicators()} == {("sha256", "qakbot"), ("md5", "qakbot")}
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "x.yar").write_text("rule x {")
    r = invoke("scan", target, "--rules", bad, "--store", store)
    assert r.exit_code == 1 and "x.yar" in r.output


def test_read_commands_refuse_missing_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke("intel", "list")
    assert r.exit_code == 1 and "no intel store at intel.duckdb" in r.output
    assert not (tmp_path / "intel.duckdb").exists()
    r = invoke("intel", "match", "--case", tmp_path / "none.duckdb")
    assert r.exit_code == 1 and "no case at" in r.output
    r = invoke("intel", "overlap", "--store", tmp_path / "none.duckdb")
    assert r.exit_code == 1 and "no intel store at" in r.output


def test_import_a_folder_of_feeds(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "feodo_ipblocklist.csv").write_bytes((DATA / "feodo_ipblocklist.csv").read_bytes())
    (feeds / "more").mkdir()
    (feeds / "more" / "bundle.json").write_bytes((DATA / "stix_bundle.json").read_bytes())
    r = invoke("intel", "import", feeds, "--store", tmp_path / "i.duckdb")
    assert r.exit_code == 3 and "8 indicators imported" in r.output and "5 rows rejected" in r.output
    assert "bundle.json: read as stix" in r.output


def test_export_an_incident_from_incidents_json(tmp_path: Path) -> None:
    inc = {
        "id": "INC-0002",
        "title": "Qakbot",
        "hosts": [],
        "c2": [{"address": "198.51.100.21", "port": 2222, "family": "QakBot", "hosts": ["ws-07"]}],
    }
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"format": "wormsign.incidents/1", "incidents": [inc]}))
    r = invoke(
        "intel",
        "export",
        "--incidents",
        path,
        "--id",
        "INC-0002",
        "--format",
        "csv",
        "--out",
        tmp_path / "b.csv",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b.csv").read_text().splitlines()[1].startswith("198.51.100.21:2222,qakbot,ip_port,")
    r = invoke("intel", "export", "--incidents", path, "--id", "INC-0404", "--out", tmp_path / "x")
    assert r.exit_code == 1 and "no incident 'INC-0404'" in r.output
