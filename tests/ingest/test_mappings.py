"""Every YAML mapping of the readers is checked against the event model."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from wormsign import schema
from wormsign.ingest import jsonl, lanl
from wormsign.ingest.windows import HASH_PREFIXES, TRANSFORMS, WindowsMapper, load_mapper


def _doc(name: str) -> dict[str, Any]:
    text = resources.files("wormsign.ingest").joinpath(f"mappings/{name}").read_text("utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def _targets(fields: dict[str, Any] | None) -> list[tuple[str, str]]:
    out = []
    for _, t in (fields or {}).items():
        out.append((t["to"], t.get("via", "str")) if isinstance(t, dict) else (t, "str"))
    return out


def test_windows_yaml_targets_are_columns_and_kinds_are_known() -> None:
    doc = _doc("windows.yaml")
    checked = 0
    for key, block in doc["channels"].items():
        assert block["match"], key
        for to, via in _targets(block.get("common")):
            assert via in TRANSFORMS
            assert to in schema.FIELD_BY_NAME or to.startswith("_"), (key, to)
            checked += 1
        for eid, ev in (block.get("events") or {}).items():
            assert ev.get("kind", "generic") in schema.KINDS, (key, eid)
            for to, via in _targets(ev.get("fields")):
                assert via in TRANSFORMS, (key, eid, via)
                if via == "hashes":
                    assert to in HASH_PREFIXES
                    assert all(f"{to}.{a}" in schema.FIELD_BY_NAME for a in ("sha256", "md5"))
                elif via == "ip_port":  # an address and its port: <to>.ip and <to>.port
                    assert all(f"{to}.{a}" in schema.FIELD_BY_NAME for a in ("ip", "port"))
                else:
                    assert to in schema.FIELD_BY_NAME or to.startswith("_"), (key, eid, to)
                checked += 1
    assert checked > 50
    load_mapper()  # compiles, with the same checks in code


def test_windows_mapper_refuses_a_target_that_is_not_a_column() -> None:
    bad = {
        "channels": {
            "security": {
                "match": ["Security"],
                "events": {4624: {"kind": "auth", "fields": {"TargetUserName": "user.nmae"}}},
            }
        }
    }
    with pytest.raises(ValueError, match="user.nmae"):
        WindowsMapper(bad)
    bad_kind = {"channels": {"security": {"match": ["Security"], "events": {4624: {"kind": "logon"}}}}}
    with pytest.raises(ValueError, match="unknown kind"):
        WindowsMapper(bad_kind)


def test_ecs_yaml_kinds_aliases_and_keys() -> None:
    doc = _doc("ecs.yaml")
    for rule in doc["kinds"]:
        assert rule["kind"] in schema.KINDS, rule
        assert set(rule) <= {"kind", "category", "type", "action", "has"}, rule
        if "has" in rule:
            assert rule["has"] in schema.FIELD_BY_NAME
    for src, col in doc["aliases"].items():
        assert col in schema.FIELD_BY_NAME, (src, col)
    assert set(doc["reserved"]) <= set(schema.FIELD_NAMES)
    assert set(schema.REQUIRED) <= set(doc["reserved"])
    mapper = jsonl.EcsMapper(doc)
    assert mapper.rules and mapper.ts_keys and mapper.host_keys
    with pytest.raises(ValueError, match="unknown kind"):
        jsonl.EcsMapper({**doc, "kinds": [{"kind": "proc", "category": ["process"]}]})
    with pytest.raises(ValueError, match="not a column"):
        jsonl.EcsMapper({**doc, "aliases": {"process.title": "process.tilte"}})


def test_otrf_yaml_names_every_system_field() -> None:
    doc = _doc("otrf.yaml")
    assert set(doc) == {"event_id", "channel", "provider", "computer", "timestamp", "record"}
    assert all(isinstance(v, list) and v and all(isinstance(k, str) for k in v) for v in doc.values())
    assert jsonl.otrf_keys()["event_id"][0] == "EventID"


def test_lanl_yaml_values_fit_the_model() -> None:
    doc = _doc("lanl.yaml")
    m = lanl.load_mapping()
    assert m.epoch.tzinfo is not None and m.epoch.year == 2015
    assert set(m.outcomes.values()) <= {"success", "failure", "unknown"}
    assert all(isinstance(v, int) and 2 <= v <= 11 for v in m.logon_types.values())
    assert set(doc["on_destination"]) <= set(doc["actions"])
