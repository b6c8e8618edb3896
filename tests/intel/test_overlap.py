"""C2 overlap on sets with known answers, clusters, and the Emotet/Qakbot separation."""

from __future__ import annotations

import json
from pathlib import Path

from intel_cases import known_rows

from wormsign.ingest.base import rows_to_table
from wormsign.intel import attribute
from wormsign.intel.importer import import_file
from wormsign.intel.indicators import make
from wormsign.intel.overlap import (
    compare,
    groups_from_attribution,
    groups_from_incidents,
    groups_from_store,
    jaccard,
    sets_of,
)
from wormsign.intel.store import IntelStore
from wormsign.store import Case


def inds(fam: str, *specs: tuple[str, str], asn: int | None = None) -> list:
    return [make(t, v, family=fam, source="test", asn=asn) for t, v in specs]


def crafted() -> dict:
    return {
        "a": sets_of(inds("a", ("ip_port", "192.0.2.1:443"), ("ip_port", "192.0.2.2:8080"), asn=64500)),
        "b": sets_of(inds("b", ("ip_port", "192.0.2.2:443"), ("ip", "198.51.100.9"), asn=64500)),
        "c": sets_of(inds("c", ("domain", "evil.example"), ("cert_sha1", "ab" * 20))),
        "d": sets_of(inds("d", ("cert_sha1", "AB" * 20), ("url", "https://other.example/x"))),
        "e": sets_of(inds("e", ("ip", "192.0.2.50"))),
    }


def test_jaccard_known_values() -> None:
    assert jaccard({"x", "y"}, {"y", "z"}) == round(1 / 3, 4)
    assert jaccard({"x"}, {"x"}) == 1.0 and jaccard(set(), set()) == 0.0 and jaccard({"x"}, set()) == 0.0


def test_pairs_report_jaccard_and_the_shared_values() -> None:
    rep = compare(crafted())
    ab = rep.pair("a", "b")
    assert ab.shared == {"ip": ["192.0.2.2"], "net24": ["192.0.2.0/24"], "asn": ["AS64500"]}
    assert ab.jaccard["ip"] == round(1 / 3, 4) and ab.jaccard["ip_port"] == 0.0
    assert ab.jaccard["net24"] == 0.5 and ab.jaccard["asn"] == 1.0 and ab.linked
    cd = rep.pair("c", "d")
    assert cd.shared == {"cert": ["ab" * 20]} and cd.jaccard["cert"] == 1.0 and cd.jaccard["domain"] == 0.0
    ae = rep.pair("a", "e")
    assert ae.shared == {"net24": ["192.0.2.0/24"]} and not ae.linked  # a /24 alone links nothing
    assert rep.sizes["d"] == {"ip": 0, "ip_port": 0, "net24": 0, "asn": 0, "domain": 1, "cert": 1}
    assert len(rep.pairs) == 10


def test_clusters_are_connected_components_of_linked_pairs() -> None:
    groups = crafted()
    groups["f"] = sets_of(inds("f", ("domain", "evil.example")))  # f-c share a domain, c-d a cert
    assert compare(groups).clusters == [["c", "d", "f"], ["a", "b"], ["e"]]


def test_emotet_and_qakbot_feeds_do_not_overlap(store: IntelStore) -> None:
    rep = compare(groups_from_store(store.indicators(), "family"))
    pair = rep.pair("emotet", "qakbot")
    assert pair.shared == {} and not pair.linked and all(v == 0.0 for v in pair.jaccard.values())
    assert ["emotet"] in rep.clusters and ["qakbot"] in rep.clusters


def test_incidents_sharing_infrastructure_are_clustered(tmp_path: Path) -> None:
    one, two, three = tmp_path / "1.csv", tmp_path / "2.txt", tmp_path / "3.txt"
    one.write_text('"2026-01-01 00:00:00","203.0.113.7","443","online","2026-01-02","Emotet"\n')
    two.write_text("203.0.113.7:8080,qakbot\nshared-c2.example.net,qakbot\n")
    three.write_text("198.51.100.1:443,trickbot\n")
    with IntelStore.open(str(tmp_path / "i.duckdb")) as s:
        for path, inc in ((one, "case-1"), (two, "case-2"), (three, "case-3")):
            import_file(str(path), s, incident=inc)
        rep = compare(groups_from_store(s.indicators(), "incident"), by="incident")
    p = rep.pair("case-1", "case-2")
    assert p.shared == {"ip": ["203.0.113.7"], "net24": ["203.0.113.0/24"]} and p.jaccard["ip_port"] == 0.0
    assert rep.clusters == [["case-1", "case-2"], ["case-3"]]


def test_incidents_json_and_observed_c2(tmp_path: Path, known_case: Case, store: IntelStore) -> None:
    doc = {
        "format": "wormsign.incidents/1",
        "incidents": [
            {
                "id": "INC-0001",
                "c2": [{"address": "203.0.113.10", "port": 8080, "family": "emotet", "hosts": []}],
            },
            {"id": "INC-0002", "families": [{"family": "qakbot", "hosts": [], "c2": ["203.0.113.10:443"]}]},
            {"id": "INC-0003", "c2": [{"address": "not an address", "port": 1, "family": "x", "hosts": []}]},
        ],
    }
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps(doc))
    rep = compare(groups_from_incidents(str(path)), by="incident")
    p = rep.pair(f"{path}#INC-0001", f"{path}#INC-0002")
    assert p.shared["ip"] == ["203.0.113.10"] and p.linked
    observed = groups_from_attribution(attribute(known_case, store))
    assert observed["emotet"]["ip_port"] == {"203.0.113.10:8080", "203.0.113.11:443"}
    assert compare(observed).pair("emotet", "qakbot").shared == {}
    assert attribute(known_case, store).overlap().pair("emotet", "qakbot").shared == {}


def test_observed_c2_shared_by_two_families_on_a_crafted_case(tmp_path: Path) -> None:
    rows = known_rows()
    rows[4]["destination.ip"], rows[4]["destination.port"] = "203.0.113.10", 8080  # qakbot uses emotet's C2
    with IntelStore.open(str(tmp_path / "i.duckdb")) as s, Case.open(str(tmp_path / "c.duckdb")) as c:
        s.add(
            [
                make("ip_port", "203.0.113.10:8080", family="emotet", source="t"),
                make("ip_port", "203.0.113.10:8080", family="qakbot", source="t"),
                make("sha256", "a" * 64, family="emotet", source="t"),
                make("sha256", "b" * 64, family="qakbot", source="t"),
            ]
        )
        c.append_events(rows_to_table(rows))
        attr = attribute(c, s)
    rep = compare(groups_from_attribution(attr))
    assert rep.pair("emotet", "qakbot").shared["ip_port"] == ["203.0.113.10:8080"]
    assert rep.clusters == [["emotet", "qakbot"]]
    assert (
        "C2 overlap emotet / qakbot: ip: 203.0.113.10; ip_port: 203.0.113.10:8080; net24: 203.0.113.0/24"
        in attr.summary_lines()
    )
