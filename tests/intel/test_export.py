"""STIX 2.1, MISP and CSV exports: they validate, carry relations and sightings, and re-import the same."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import stix2
from hostile import BIDI, C1, CLEAR_SCREEN, OSC8_LINK, raw_controls
from intel_cases import DATA
from pymisp import MISPEvent

from wormsign.intel import attribute
from wormsign.intel.export import export, merge
from wormsign.intel.importer import import_file
from wormsign.intel.indicators import make
from wormsign.intel.store import IntelStore
from wormsign.store import Case
from wormsign.text import printable


def keys(inds) -> set[tuple[str, str, str]]:
    return {(i.type, i.value, i.family) for i in inds}


@pytest.fixture
def full(store: IntelStore) -> IntelStore:
    import_file(str(DATA / "c2_list.txt"), store, family="trickbot")
    store.add(
        [
            make("cert_sha1", "12" * 20, family="trickbot", source="t"),
            make("md5", "ef" * 16, family="qakbot", source="t"),
        ]
    )
    return store


def reimport(tmp_path: Path, text: str, name: str) -> IntelStore:
    p = tmp_path / name
    p.write_text(text)
    s = IntelStore.open(str(tmp_path / f"{name}.duckdb"))
    rep = import_file(str(p), s)
    assert rep.rejected == 0, rep.errors
    return s


@pytest.mark.parametrize("fmt", ["stix", "misp"])
def test_round_trip_gives_the_same_indicators(fmt: str, full: IntelStore, tmp_path: Path) -> None:
    text = export(fmt, full.indicators())
    back = reimport(tmp_path, text, f"out.{fmt}")
    assert keys(back.indicators()) == keys(full.indicators())
    firsts = {(i.type, i.value): i.first_seen for i in merge(full.indicators())}
    dated = [i for i in back.indicators() if firsts[(i.type, i.value)] is not None]
    assert len(dated) == 7 and all(firsts[(i.type, i.value)] == i.first_seen for i in dated)
    back.close()


def test_csv_blocklist_round_trip_without_certificates(full: IntelStore, tmp_path: Path) -> None:
    text = export("csv", full.indicators())
    assert text.splitlines()[0] == "value,family,type,first_seen,last_seen,source"
    assert "203.0.113.10:8080,emotet,ip_port,2026-01-10T08:00:00Z,2026-03-01T00:00:00Z," in text
    back = reimport(tmp_path, text, "blocklist.csv")
    assert keys(back.indicators()) == {k for k in keys(full.indicators()) if k[0] != "cert_sha1"}
    back.close()


def test_stix_bundle_validates_strictly_and_has_the_relations(known_case: Case, store: IntelStore) -> None:
    attr = attribute(known_case, store)
    text = export("stix", store.indicators(), attribution=attr)
    bundle = stix2.parse(text, allow_custom=False, version="2.1")
    objs = bundle.objects
    by_type: dict[str, list] = {}
    for o in objs:
        by_type.setdefault(o.type, []).append(o)
    assert sorted(m.name for m in by_type["malware"]) == ["emotet", "qakbot"]
    rels = {
        (o.relationship_type, o.source_ref.split("--")[0], o.target_ref.split("--")[0])
        for o in by_type["relationship"]
    }
    assert {
        ("indicates", "indicator", "malware"),
        ("beacons-to", "malware", "infrastructure"),
        ("consists-of", "infrastructure", "ipv4-addr"),
        ("drops", "malware", "malware"),
    } <= rels
    names = {m.id: m.name for m in by_type["malware"]}
    (drop,) = [o for o in by_type["relationship"] if o.relationship_type == "drops"]
    assert (names[drop.source_ref], names[drop.target_ref]) == ("emotet", "qakbot")
    hosts = {o.id: o.name for o in by_type["identity"]}
    assert sorted(hosts.values()) == ["ws-01", "ws-02", "ws-04"]
    seen = {(hosts[s.where_sighted_refs[0]], s.sighting_of_ref) for s in by_type["sighting"]}
    assert len(seen) == len(by_type["sighting"]) == 8  # ws-01: 4, ws-02: 2, ws-04: name and answer
    # With a case, only the indicators the case saw are exported (the Dridex one was not).
    patterns = " ".join(i.pattern for i in by_type["indicator"])
    assert "192.0.2.7" not in patterns and "203.0.113.11" in patterns


def test_misp_event_loads_with_pymisp_and_names_hosts(known_case: Case, store: IntelStore) -> None:
    attr = attribute(known_case, store)
    text = export("misp", store.indicators(), info="INC-0001 emotet-qakbot", attribution=attr)
    doc = json.loads(text)
    assert doc["Event"]["info"] == "INC-0001 emotet-qakbot"
    ev = MISPEvent()
    ev.load(doc)
    got = {(a.type, a.value) for a in ev.attributes}
    assert ("ip-dst|port", "203.0.113.10|8080") in got and ("sha256", "b" * 64) in got
    assert ("ip-dst|port", "192.0.2.7|443") not in got
    (c2,) = [a for a in ev.attributes if a.value == "198.51.100.20|995"]
    assert "seen on ws-04" in c2.comment and [t.name for t in c2.tags] == ['wormsign:family="qakbot"']


def test_stix_reader_rejects_indicators_without_family_and_bad_bundles(tmp_path: Path) -> None:
    ind = stix2.Indicator(
        pattern="[ipv4-addr:value = '192.0.2.44']", pattern_type="stix", valid_from="2026-01-01T00:00:00Z"
    )
    path = tmp_path / "b.json"
    path.write_text(stix2.Bundle(objects=[ind]).serialize())
    with IntelStore.open(str(tmp_path / "i.duckdb")) as s:
        rep = import_file(str(path), s)
        assert rep.imported == 0 and "no family" in rep.errors[0].reason
        rep = import_file(str(path), s, family="Dridex")
        assert keys(s.indicators()) == {("ip", "192.0.2.44", "dridex")}
        path.write_text('{"type": "bundle", "id": "nope"}')
        rep = import_file(str(path), s, fmt="stix")
        assert rep.rejected == 1 and "not a valid STIX 2.1 bundle" in rep.errors[0].reason


def test_export_one_incident_of_a_hunt(tmp_path: Path) -> None:
    from wormsign.intel.incident import from_incident, load_incident

    inc = {
        "id": "INC-0001",
        "type": "outbreak",
        "title": "Emotet outbreak",
        "first_seen": "2026-03-02T09:00:00Z",
        "hosts": [
            {"host": "ws-01", "families": ["emotet", "qakbot"], "hashes": ["a" * 64]},
            {"host": "ws-02", "families": ["Emotet"], "hashes": ["a" * 64, "not-a-hash"]},
        ],
        "c2": [
            {"address": "203.0.113.10", "port": 8080, "family": "emotet", "hosts": ["ws-01", "ws-02"]},
            {"address": "198.51.100.21", "port": 2222, "family": "qakbot", "hosts": ["ws-01"]},
        ],
        "deliveries": [
            {
                "from_family": "emotet",
                "to_family": "qakbot",
                "host": "ws-01",
                "ts": "2026-03-02T09:11:00Z",
                "ref": "d:4",
            }
        ],
    }
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"format": "wormsign.incidents/1", "incidents": [inc]}))
    inds, attr = from_incident(load_incident(str(path), "INC-0001"))
    assert keys(inds) == {
        ("ip_port", "203.0.113.10:8080", "emotet"),
        ("ip_port", "198.51.100.21:2222", "qakbot"),
        ("sha256", "a" * 64, "emotet"),
    }  # ws-01's hash: two families, so unassigned
    bundle = stix2.parse(export("stix", inds, attribution=attr), allow_custom=False, version="2.1")
    kinds = [o.type for o in bundle.objects]
    assert kinds.count("sighting") == 4 and kinds.count("identity") == 2
    assert [o.relationship_type for o in bundle.objects if o.type == "relationship"].count("drops") == 1
    back = reimport(tmp_path, export("misp", inds, info="INC-0001", attribution=attr), "inc.misp")
    assert keys(back.indicators()) == keys(inds)
    back.close()
    with pytest.raises(ValueError, match="no incident 'INC-0009'"):
        load_incident(str(path), "INC-0009")


def test_csv_cells_never_start_a_spreadsheet_formula_and_still_round_trip(tmp_path: Path) -> None:

    hostile = [
        make("url", '=HYPERLINK("http://x.example/")', family="emotet", source="@feed"),
        make("url", "+cmd|'/c%20calc'!A0://x", family="emotet", source="-feed"),
        make("url", "http://fine.example/gate.php", family="emotet", source="plain"),
        make("url", "'=quoted://already", family="emotet", source="plain"),
        make("url", "''@twice://quoted", family="emotet", source="plain"),
    ]
    text = export("csv", hostile)
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["value", "family", "type", "first_seen", "last_seen", "source"]
    cells = {r[0]: r for r in rows[1:]}
    assert set(cells) == {
        "'=HYPERLINK(\"http://x.example/\")",
        "'+cmd|'/c%20calc'!A0://x",
        "http://fine.example/gate.php",
        "''=quoted://already",
        "'''@twice://quoted",
    }
    assert cells["'=HYPERLINK(\"http://x.example/\")"][5] == "'@feed"
    assert cells["'+cmd|'/c%20calc'!A0://x"][5] == "'-feed"
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for c in r)
    back = reimport(tmp_path, text, "guarded.csv")
    assert keys(back.indicators()) == keys(hostile)
    back.close()


def test_csv_cells_hold_no_terminal_controls() -> None:
    """A blocklist is read in a terminal too (cat, less): feed text is shown escaped, never as escapes."""
    inds = [
        make("url", "http://c2.example/" + CLEAR_SCREEN, family="emotet", source=OSC8_LINK),
        make("url", "http://c2.example/" + BIDI, family="emotet", source="@" + C1),
    ]
    text = export("csv", inds)
    assert raw_controls(text) == set()
    rows = {r[0]: r for r in csv.reader(text.splitlines()[1:])}
    assert rows["http://c2.example/" + r"\x1b[2J\x1b[H"][5] == printable(OSC8_LINK)
    assert rows["http://c2.example/" + r"exe.\u202etxt.doc"][5] == r"'@\x9b2J\x9d8;;http://evil.example/\x9c"


def test_an_incident_goes_out_as_stix_incident_and_misp_attack_galaxy(tmp_path: Path) -> None:
    """The demo hunt's outbreak through `intel export --incidents`: a STIX 2.1 Incident with its
    indicators, sightings and attack-patterns (stix2 parses it strictly), and a MISP event
    (pymisp loads it) tagged with MISP's mitre-attack-pattern galaxy clusters."""
    from typer.testing import CliRunner

    from wormsign.cli import app
    from wormsign.intel.attack import technique_name

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["-q", "hunt", "--demo", "--case", str(tmp_path / "c"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "incidents.json").read_text())
    inc = next(i for i in doc["incidents"] if i["type"] == "outbreak")
    techniques = {t for e in inc["edges"] for t in e["techniques"]} | {
        t for s in inc["initial_access"] for t in s["attack"]}
    assert {"T1021.002", "T1566"} <= techniques
    stix_path, misp_path = tmp_path / "inc.stix.json", tmp_path / "inc.misp.json"
    for fmt, path in (("stix", stix_path), ("misp", misp_path)):
        res = CliRunner().invoke(app, ["intel", "export", "--incidents", str(out / "incidents.json"),
                                       "--id", inc["id"], "--format", fmt, "-o", str(path)])
        assert res.exit_code == 0, res.output
    bundle = stix2.parse(stix_path.read_text(), allow_custom=False, version="2.1")
    by_type: dict[str, list] = {}
    for o in bundle.objects:
        by_type.setdefault(o.type, []).append(o)
    (incident,) = by_type["incident"]
    assert incident.name == inc["title"] and f"patient zero {inc['patient_zero']}" in incident.description
    patterns = {o.external_references[0].external_id: o for o in by_type["attack-pattern"]}
    assert set(patterns) == techniques
    assert all(patterns[t].external_references[0].source_name == "mitre-attack" for t in patterns)
    assert patterns["T1021.002"].name == technique_name("T1021.002")
    assert by_type["indicator"] and by_type["sighting"]
    linked = {r.target_ref for r in by_type["relationship"] if r.source_ref == incident.id}
    assert {o.id for o in by_type["indicator"]} | {o.id for o in by_type["attack-pattern"]} <= linked
    ev = MISPEvent()
    ev.load(misp_path.read_text())
    tags = {t.name for t in ev.tags}
    for t in techniques:
        assert f'misp-galaxy:mitre-attack-pattern="{technique_name(t)} - {t}"' in tags
    assert ev.threat_level_id == 1 and ev.attributes  # critical; the C2 and hashes as attributes
