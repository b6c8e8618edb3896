"""Matching a real DuckDB case against the intel: families per host and process, confidence, C2, evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from intel_cases import DATA, EMOTET, known_rows, ref

from wormsign.ingest.base import rows_to_table
from wormsign.intel import attribute
from wormsign.intel.importer import import_file
from wormsign.intel.match import noisy_or
from wormsign.intel.store import IntelStore
from wormsign.store import Case


def fams(attr, host: str) -> dict[str, float]:
    return {f.family: f.confidence for f in attr.hosts.get(host, [])}


def test_hosts_get_the_families_the_case_shows(known_case: Case, store: IntelStore) -> None:
    attr = attribute(known_case, store)
    assert sorted(attr.hosts) == ["ws-01", "ws-02", "ws-04"]  # ws-03 talked to nothing known
    assert fams(attr, "ws-01") == {"emotet": 0.99, "qakbot": 0.99}  # hash 0.95 + ip:port 0.80
    assert fams(attr, "ws-02") == {"emotet": 0.99}
    assert fams(attr, "ws-04") == {"qakbot": noisy_or([0.70, 0.45])}  # C2 name asked and resolved
    assert attr.families() == ["emotet", "qakbot"]
    assert attr.hosts_of("qakbot") == ["ws-01", "ws-04"]


def test_evidence_names_the_events(known_case: Case, store: IntelStore) -> None:
    attr = attribute(known_case, store)
    emo = next(f for f in attr.hosts["ws-01"] if f.family == "emotet")
    assert emo.evidence == [ref("ws-01", 1), ref("ws-01", 2)]
    assert emo.matches == {"hash": 1, "ip_port": 1}  # the address is in two feeds: still one match
    assert {(i["type"], i["value"]) for i in emo.indicators} == {
        ("sha256", EMOTET),
        ("ip_port", "203.0.113.10:8080"),
    }
    assert emo.first_seen.isoformat().startswith("2026-02-02T09:00:00")
    q4 = attr.hosts["ws-04"][0]
    assert q4.matches == {"domain": 1, "dns_answer": 1} and q4.evidence == [ref("ws-04", 1)]


def test_processes_are_attributed_by_hash_and_c2_traffic(known_case: Case, store: IntelStore) -> None:
    attr = attribute(known_case, store)
    got = {(p.host, p.entity_id, p.family) for p in attr.processes}
    assert got == {("ws-01", "{E1}", "emotet"), ("ws-01", "{Q1}", "qakbot"), ("ws-02", "{E2}", "emotet")}
    e1 = next(p for p in attr.processes if p.entity_id == "{E1}")
    assert e1.executable.endswith("emo.exe") and e1.evidence == [ref("ws-01", 1), ref("ws-01", 2)]


def test_c2_observed_per_family_and_incident_keys(known_case: Case, store: IntelStore) -> None:
    attr = attribute(known_case, store)
    assert {f: [(c.address, c.port, c.hosts) for c in cs] for f, cs in attr.c2.items()} == {
        "emotet": [("203.0.113.10", 8080, ["ws-01"]), ("203.0.113.11", 443, ["ws-02"])],
        "qakbot": [("198.51.100.21", 2222, ["ws-01"])],
    }
    inc = attr.to_incident()
    assert inc["families"] == [
        {"family": "emotet", "hosts": ["ws-01", "ws-02"], "c2": ["203.0.113.10:8080", "203.0.113.11:443"]},
        {"family": "qakbot", "hosts": ["ws-01", "ws-04"], "c2": ["198.51.100.21:2222"]},
    ]
    assert {"address": "198.51.100.21", "port": 2222, "family": "qakbot", "hosts": ["ws-01"]} in inc["c2"]


def test_other_port_is_a_weaker_address_match(tmp_path: Path, store: IntelStore) -> None:
    rows = [r for r in known_rows() if r["host"] == "ws-03"]
    rows[0].update({"destination.ip": "203.0.113.10", "destination.port": 443})
    with Case.open(str(tmp_path / "c.duckdb")) as c:
        c.append_events(rows_to_table(rows))
        attr = attribute(c, store)
    (f,) = attr.hosts["ws-03"]
    assert (f.family, f.confidence, f.matches) == ("emotet", 0.6, {"ip": 1})
    assert [(c.address, c.port) for c in attr.c2["emotet"]] == [("203.0.113.10", None)]


def test_store_by_path_on_a_read_only_case_and_intel_inside_the_case(tmp_path: Path) -> None:
    case_path, intel_path = str(tmp_path / "c.duckdb"), str(tmp_path / "i.duckdb")
    with Case.open(case_path) as c:
        c.append_events(rows_to_table(known_rows()))
        inside = IntelStore.in_case(c)
        import_file(str(DATA / "hashes.txt"), inside)
        by_hash = attribute(c, inside)
    assert {h: sorted(fams(by_hash, h)) for h in by_hash.hosts} == {
        "ws-01": ["emotet", "qakbot"],
        "ws-02": ["emotet"],
    }
    with IntelStore.open(intel_path) as s:
        import_file(str(DATA / "feodo_ipblocklist.csv"), s)
    with Case.open(case_path, read_only=True) as c:
        attr = attribute(c, intel_path)
    assert fams(attr, "ws-02") == {"emotet": 0.8}


def test_nothing_known_means_nothing_attributed(tmp_path: Path, known_case: Case) -> None:
    with IntelStore.open(str(tmp_path / "empty.duckdb")) as s:
        attr = attribute(known_case, s)
    assert attr.hosts == {} and attr.processes == [] and attr.c2 == {} and attr.deliveries == []


def test_intel_may_be_a_feed_file_or_a_folder_of_feeds(tmp_path: Path, known_case: Case) -> None:
    by_file = attribute(known_case, str(DATA / "hashes.txt"))
    assert sorted(by_file.hosts) == ["ws-01", "ws-02"]
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "feodo.csv").write_bytes((DATA / "feodo_ipblocklist.csv").read_bytes())
    (feeds / "hashes.txt").write_bytes((DATA / "hashes.txt").read_bytes())
    by_dir = attribute(known_case, str(feeds))
    assert fams(by_dir, "ws-01") == {"emotet": 0.99, "qakbot": 0.99} and len(by_dir.deliveries) == 1
    with pytest.raises(FileNotFoundError, match="no intel store or feed"):
        attribute(known_case, str(tmp_path / "nothing"))
