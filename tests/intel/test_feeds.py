"""Importing every feed format into a real DuckDB store, including malformed rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from intel_cases import DATA

from wormsign.intel.feeds import sniff
from wormsign.intel.importer import IntelImportError, import_file
from wormsign.intel.indicators import IndicatorError, classify, family, make
from wormsign.intel.store import IntelStore


@pytest.fixture
def empty(tmp_path: Path) -> IntelStore:
    s = IntelStore.open(str(tmp_path / "intel.duckdb"))
    yield s
    s.close()


def keys(s: IntelStore) -> set[tuple[str, str, str]]:
    return {(i.type, i.value, i.family) for i in s.indicators()}


def test_feodo_csv_imports_good_rows_and_names_bad_lines(empty: IntelStore) -> None:
    path = DATA / "feodo_ipblocklist.csv"
    rep = import_file(str(path), empty)
    assert rep.files == {str(path): "feodo-csv"}
    assert (rep.imported, rep.rejected) == (5, 3)
    assert [e.line for e in rep.errors] == [11, 12, 13]
    assert "not an IP address" in rep.errors[0].reason and str(path) in str(rep.errors[0])
    assert "port out of range" in rep.errors[1].reason
    assert "expected 6 columns" in rep.errors[2].reason
    assert keys(empty) == {
        ("ip_port", "203.0.113.10:8080", "emotet"),
        ("ip_port", "203.0.113.11:443", "emotet"),
        ("ip_port", "198.51.100.20:995", "qakbot"),
        ("ip_port", "198.51.100.21:2222", "qakbot"),
        ("ip_port", "192.0.2.7:443", "dridex"),
    }
    (q,) = empty.indicators(family="qakbot")[:1]
    assert q.value == "198.51.100.20:995" and q.status == "offline" and q.port == 995
    assert q.first_seen == datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
    assert q.last_seen == datetime(2026, 2, 15, tzinfo=UTC)


def test_feodo_json_keeps_asn_and_hostname_and_names_bad_items(empty: IntelStore) -> None:
    rep = import_file(str(DATA / "feodo_ipblocklist.json"), empty)
    assert (rep.imported, rep.rejected) == (4, 2)
    assert [(e.line, e.reason.split(":")[0]) for e in rep.errors] == [
        (8, "not an IP address"),
        (11, "unreadable first_seen time 'yesterday-ish'"),
    ]
    q = {i.type: i for i in empty.indicators(family="qakbot")}
    assert (
        q["ip_port"].asn == 64501 and q["ip_port"].as_name == "EXAMPLE-NET-B" and q["ip_port"].country == "US"
    )
    assert q["domain"].value == "qak-c2.example.net"


def test_broken_json_names_the_line_and_keeps_items_before_it(empty: IntelStore, tmp_path: Path) -> None:
    p = tmp_path / "feed.json"
    p.write_text('[\n{"ip_address": "192.0.2.1", "port": 443, "malware": "Emotet"},\n{"ip_address": oops}\n]')
    rep = import_file(str(p), empty, fmt="feodo-json")
    assert rep.imported == 1 and rep.rejected == 1
    assert rep.errors[0].line == 3 and "bad JSON" in rep.errors[0].reason


def test_plain_lists_with_and_without_family(empty: IntelStore) -> None:
    rep = import_file(str(DATA / "hashes.txt"), empty)
    assert (rep.imported, rep.rejected) == (2, 2)
    assert [e.line for e in rep.errors] == [4, 5]
    assert "--family" in rep.errors[1].reason
    rep = import_file(str(DATA / "c2_list.txt"), empty, family="TrickBot")
    assert (rep.imported, rep.rejected) == (4, 1)
    got = {(i.type, i.value) for i in empty.indicators(family="trickbot")}
    assert got == {
        ("ip_port", "203.0.113.50:443"),
        ("domain", "bad-c2.example.com"),
        ("url", "http://bad-c2.example.com/gate.php"),
        ("ip", "198.51.100.77"),
    }


def test_strict_stops_at_the_first_bad_row(empty: IntelStore) -> None:
    with pytest.raises(IntelImportError, match=r"feodo_ipblocklist.csv line 11: not an IP address"):
        import_file(str(DATA / "feodo_ipblocklist.csv"), empty, strict=True)
    assert empty.count() == 0


def test_reimport_adds_nothing_and_widens_seen_range(empty: IntelStore, tmp_path: Path) -> None:
    import_file(str(DATA / "feodo_ipblocklist.csv"), empty)
    import_file(str(DATA / "feodo_ipblocklist.csv"), empty)
    assert empty.count() == 5
    later = tmp_path / "later.csv"
    later.write_text('"2026-01-01 00:00:00","203.0.113.10","8080","online","2026-06-01","Emotet"\n')
    import_file(str(later), empty, source="feodo-csv:feodo_ipblocklist.csv")
    (e,) = [i for i in empty.indicators() if i.value == "203.0.113.10:8080"]
    assert e.first_seen == datetime(2026, 1, 1, tzinfo=UTC) and e.last_seen == datetime(
        2026, 6, 1, tzinfo=UTC
    )


def test_attacker_written_values_stay_literal_and_bounded(empty: IntelStore, tmp_path: Path) -> None:
    p = tmp_path / "evil.txt"
    p.write_text("evil.example.com,x'); DROP TABLE intel; --\n" + "a" * 5000 + ".example.com,emotet\n")
    rep = import_file(str(p), empty)
    assert rep.imported == 1 and rep.rejected == 1 and "characters (limit" in rep.errors[0].reason
    (i,) = empty.indicators()
    assert i.family == "x-drop-table-intel---"  # folded to a safe name, stored as a bound value
    assert empty.count() == 1


def test_sniff_and_classify() -> None:
    assert sniff((DATA / "feodo_ipblocklist.csv").read_text()) == "feodo-csv"
    assert sniff((DATA / "feodo_ipblocklist.json").read_text()) == "feodo-json"
    assert sniff('{"type": "bundle", "id": "bundle--1"}') == "stix"
    assert sniff('{"Event": {"info": "x"}}') == "misp"
    assert sniff("# x\n1.2.3.4\n") == "list"
    assert classify("A" * 64) == "sha256" and classify("1.2.3.4:80") == "ip_port"
    assert classify("::ffff:1.2.3.4") == "ip" and classify("hxxp://x") == "url"
    with pytest.raises(IndicatorError):
        classify("not one")


def test_family_aliases_and_value_normalisation() -> None:
    assert family("Heodo") == "emotet" and family("QBot") == "qakbot" and family("  ") is None
    assert make("ip", "::ffff:203.0.113.9", family="x").value == "203.0.113.9"
    assert make("sha256", "AB" * 32, family="x").value == "ab" * 32
    assert make("domain", "C2.Example.NET.", family="x").value == "c2.example.net"
    with pytest.raises(IndicatorError, match="port out of range"):
        make("ip_port", "1.2.3.4:0", family="x")


def test_store_inside_a_case(tmp_path: Path) -> None:
    from wormsign.store import Case

    with Case.open(str(tmp_path / "case.duckdb")) as c:
        s = IntelStore.in_case(c)
        import_file(str(DATA / "hashes.txt"), s)
        assert c.engine.has_table("intel") and c.engine.has_table("events")
        assert s.families() == ["emotet", "qakbot"]


def test_misp_event_with_galaxy_tags_objects_and_a_bad_attribute(empty: IntelStore) -> None:
    rep = import_file(str(DATA / "misp_event.json"), empty)
    assert rep.files[str(DATA / "misp_event.json")] == "misp"
    assert (rep.imported, rep.rejected) == (4, 1)  # the comment attribute is not an indicator: skipped
    assert str(rep.errors[0]).endswith(
        "misp_event.json attribute 5: uuid 0b9f7a3e-5d6c-4f1a-8e2b-000000000005: not an IP address: '300.1.2.3'"
    )
    assert keys(empty) == {
        ("ip_port", "198.51.100.30:443", "qakbot"),
        ("domain", "qak-drop.example.org", "qakbot"),
        ("sha256", "cafebabe" * 8, "emotet"),  # the attribute's own tag wins over the event's
        ("cert_sha1", "0123456789abcdef0123456789abcdef01234567", "qakbot"),  # from the x509 object
    }
    (c2,) = [i for i in empty.indicators() if i.type == "ip_port"]
    assert c2.first_seen == datetime(2026, 1, 20, 10, tzinfo=UTC)


def test_stix_bundle_patterns_relationships_and_unreadable_indicators(empty: IntelStore) -> None:
    rep = import_file(str(DATA / "stix_bundle.json"), empty)
    assert (rep.imported, rep.rejected) == (3, 2)
    assert [(e.unit, e.line) for e in rep.errors] == [("object", 4), ("object", 5)]
    assert "names no indicator wormsign reads" in rep.errors[0].reason
    assert "pattern type 'snort' is not read" in rep.errors[1].reason
    assert keys(empty) == {
        ("ip", "198.51.100.60", "trickbot"),
        ("domain", "trick-c2.example.com", "trickbot"),
        ("md5", "0123456789abcdef0123456789abcdef", "trickbot"),
    }
