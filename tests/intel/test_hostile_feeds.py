"""Feeds written by an attacker: values no store can hold are rejected by row (or document), never crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from intel_cases import DATA

from wormsign.intel.importer import import_file
from wormsign.intel.store import IntelStore


@pytest.fixture
def store(tmp_path: Path) -> IntelStore:
    s = IntelStore.open(str(tmp_path / "intel.duckdb"))
    yield s
    s.close()


def feodo_item(ip: str, **kw: object) -> str:
    item = {"ip_address": ip, "port": 443, "status": "online", "malware": "Emotet",
            "first_seen": "2026-01-02 03:04:05", "last_online": "2026-01-03"}
    item.update(kw)
    return json.dumps(item)


def test_feodo_json_huge_as_number_rejects_that_row_only(tmp_path: Path, store: IntelStore) -> None:
    f = tmp_path / "feodo.json"
    f.write_text(
        "[\n"
        + ",\n".join(
            [
                feodo_item("203.0.113.1", as_number=64500),
                feodo_item("203.0.113.2", as_number=99999999999999999999),  # not int64: once OverflowError
                feodo_item("203.0.113.3", as_number="123456789012345678901234567890"),
                feodo_item("203.0.113.4", as_number=2**32),
                feodo_item("203.0.113.5", as_number=-1),
                feodo_item("203.0.113.6", as_number="\u00b2"),  # a digit to str.isdigit, not to int()
                feodo_item("203.0.113.7", as_number=4294967295),
            ]
        )
        + "\n]\n",
        encoding="utf-8",
    )
    rep = import_file(str(f), store)
    assert (rep.imported, rep.rejected) == (2, 5)
    assert [e.line for e in rep.errors] == [3, 4, 5, 6, 7]
    assert all("as_number" in e.reason for e in rep.errors), [e.reason for e in rep.errors]
    assert {(i.value, i.asn) for i in store.indicators()} == {
        ("203.0.113.1:443", 64500),
        ("203.0.113.7:443", 4294967295),
    }


def test_feodo_json_lone_surrogate_rejects_that_row_and_keeps_the_rest(
    tmp_path: Path, store: IntelStore
) -> None:
    f = tmp_path / "feodo.json"
    f.write_text(
        '[\n{"ip_address": "203.0.113.1", "port": 443, "malware": "Emotet"},\n'
        '{"ip_address": "203.0.113.2", "port": 443, "malware": "Emotet", "status": "on\\ud800line"},\n'
        '{"ip_address": "203.0.113.3", "port": 443, "malware": "Emotet"}\n]\n',
        encoding="utf-8",
    )
    rep = import_file(str(f), store)
    assert (rep.imported, rep.rejected) == (2, 1)
    (e,) = rep.errors
    assert e.line == 3 and e.reason.startswith("bad JSON") and "surrogate" in e.reason
    assert {i.value for i in store.indicators()} == {"203.0.113.1:443", "203.0.113.3:443"}


def test_feodo_json_hostname_is_checked_like_any_domain(tmp_path: Path, store: IntelStore) -> None:
    f = tmp_path / "feodo.json"
    f.write_text(
        "[\n" + feodo_item("203.0.113.1", hostname='=HYPERLINK("x")') + ",\n"
        + feodo_item("203.0.113.2", hostname="C2.Example.NET.") + "\n]\n",
        encoding="utf-8",
    )
    rep = import_file(str(f), store)
    assert (rep.imported, rep.rejected) == (3, 1)
    assert rep.errors[0].line == 2 and "not a domain name" in rep.errors[0].reason
    assert {(i.type, i.value) for i in store.indicators()} == {
        ("ip_port", "203.0.113.1:443"),
        ("ip_port", "203.0.113.2:443"),
        ("domain", "c2.example.net"),
    }


def test_feodo_json_nested_too_deep_is_an_error_not_a_crash(tmp_path: Path, store: IntelStore) -> None:
    f = tmp_path / "feodo.json"
    f.write_text("[\n" + feodo_item("203.0.113.1") + ",\n" + "[" * 100_000 + "\n", encoding="utf-8")
    rep = import_file(str(f), store)
    assert (rep.imported, rep.rejected) == (1, 1)
    assert rep.errors[0].line == 3 and "bad JSON" in rep.errors[0].reason


@pytest.mark.parametrize("name", ["misp_event.json", "stix_bundle.json"])
def test_json_documents_with_a_lone_surrogate_are_refused_by_name(
    tmp_path: Path, store: IntelStore, name: str
) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    # A lone surrogate inside a string of the document (after the first quote of the first value).
    bad = text.replace('"2.1"' if name.startswith("stix") else '"2026-02-01"', '"x\\udc00y"', 1)
    assert bad != text
    f = tmp_path / name
    f.write_text(bad, encoding="utf-8")
    rep = import_file(str(f), store)
    assert rep.imported == 0 and rep.rejected == 1
    assert "surrogate" in rep.errors[0].reason and str(f) in str(rep.errors[0])
    assert store.count() == 0


def test_stix_bundle_with_an_object_of_a_custom_type_still_reads(tmp_path: Path, store: IntelStore) -> None:
    plain = IntelStore.open(str(tmp_path / "plain.duckdb"))
    want = import_file(str(DATA / "stix_bundle.json"), plain)
    expected = {(i.type, i.value, i.family) for i in plain.indicators()}
    plain.close()
    data = json.loads((DATA / "stix_bundle.json").read_text(encoding="utf-8"))
    data["objects"].insert(
        0,
        {
            "type": "x-acme-note",
            "spec_version": "2.1",
            "id": "x-acme-note--0d6f6c56-35c4-4f0e-9b7e-1a2b3c4d5e6f",
        },
    )
    f = tmp_path / "custom.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    rep = import_file(str(f), store)  # once: AttributeError on the custom object
    assert (rep.imported, rep.rejected) == (want.imported, want.rejected) and rep.imported > 0
    assert {(i.type, i.value, i.family) for i in store.indicators()} == expected
    assert [e.line - 1 for e in rep.errors] == [e.line for e in want.errors]  # numbers count the new object
