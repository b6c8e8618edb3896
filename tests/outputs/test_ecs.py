"""ECS alerts: every document checked against Elastic's own ECS field definitions.

The definitions are the ``@elastic/ecs`` npm package (pinned in tests/outputs/ecs), written to
``ecs_flat.json`` by scripts/fetch-ecs.sh (scripts/setup.sh runs it). Each flattened field must be
an ECS field of the right type (or sit in wormsign's own ``wormsign.*`` namespace), fields ECS
normalises to arrays must be arrays, and ``event.kind``/``category``/``type`` must be allowed
values that go together.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.outputs import ecs
from wormsign.outputs.findings import Findings, settings
from wormsign.store import Case

DEFS = Path(__file__).parent / "ecs" / "ecs_flat.json"


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    if not DEFS.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{DEFS} missing: scripts/setup.sh runs scripts/fetch-ecs.sh")
        pytest.skip("no ECS field definitions: run scripts/fetch-ecs.sh (needs npm)")
    return dict(json.loads(DEFS.read_text()))


def flatten(doc: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, value) of every leaf; a list of objects is walked, a list of values is one leaf."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(doc, list) and any(isinstance(x, dict) for x in doc):
        for x in doc:
            yield from flatten(x, prefix)
    else:
        yield prefix, doc


def _type_ok(ecs_type: str, value: Any) -> bool:
    if ecs_type in ("keyword", "constant_keyword", "wildcard", "text", "match_only_text"):
        return isinstance(value, str)
    if ecs_type in ("long", "integer", "short", "byte", "unsigned_long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if ecs_type in ("float", "double", "scaled_float", "half_float"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ecs_type == "boolean":
        return isinstance(value, bool)
    if ecs_type == "date":
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).tzinfo is not None
        except ValueError:
            return False
    if ecs_type == "ip":
        try:
            ipaddress.ip_address(value)
            return True
        except ValueError:
            return False
    return False  # object, nested, flattened, geo_point...: wormsign writes none of them


def violations(doc: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    fields = defs["fields"]
    bad = []
    for name, value in flatten(doc):
        if name.startswith("wormsign."):
            continue
        f = fields.get(name)
        if f is None:
            bad.append(f"{name}: not an ECS field")
            continue
        if "array" in (f.get("normalize") or []) and not isinstance(value, list):
            bad.append(f"{name}: ECS normalises it to an array")
        for v in value if isinstance(value, list) else [value]:
            if not _type_ok(f["type"], v):
                bad.append(f"{name}: {v!r} is not of ECS type {f['type']}")
            allowed = {a["name"] for a in f.get("allowed_values") or []}
            if allowed and v not in allowed:
                bad.append(f"{name}: {v!r} not among its allowed values")
    cats = {a["name"]: a for a in fields["event.category"]["allowed_values"]}
    for c in doc["event"].get("category", []) if isinstance(doc["event"].get("category"), list) else []:
        expected = set(cats.get(c, {}).get("expected_event_types") or [])
        if expected and not set(doc["event"].get("type", [])) <= expected:
            bad.append(f"event.type {doc['event']['type']} not expected with event.category {c}")
    return bad


def test_no_ecs_field_set_is_named_wormsign(definitions: dict[str, Any]) -> None:
    assert not [n for n in definitions["fields"] if n.split(".")[0] == "wormsign"]
    assert settings()["ecs"]["version"] == definitions["version"]


def test_every_alert_is_a_valid_ecs_document(demo_case: Path, definitions: dict[str, Any]) -> None:
    with Case.open(str(demo_case), read_only=True) as case:
        findings = Findings.load(case)
    docs = list(ecs.documents(findings))
    assert len(docs) == len(findings.alerts) > 100
    for _key, doc in docs:
        assert violations(doc, definitions) == [], doc["event"]["id"]
    assert len({k for k, _ in docs}) == len(docs)  # one key per alert
    by_id = {d["event"]["id"]: d for _, d in docs}
    for a in findings.alerts:
        d = by_id[a["id"]]
        assert d["event"]["kind"] == "alert" and d["@timestamp"] == a["ts"]
        assert d["rule"]["name"] == a["title"] and d["host"]["name"] == a["host"]
        ids = set(d.get("threat", {}).get("technique", {}).get("id", []))
        subs = set(d.get("threat", {}).get("technique", {}).get("subtechnique", {}).get("id", []))
        assert ids | subs == {t.split(".")[0] for t in a["attack"]} | {t for t in a["attack"] if "." in t}
        inc = findings.incident(a)
        assert (d["wormsign"].get("incident") or {}).get("id") == (inc["id"] if inc else None)
    # a Sigma alert: its rule's id and the sigma ruleset; the tactic by id and name
    sig = next(d for _, d in docs if d["wormsign"]["alert"]["rule"].startswith("sigma:"))
    assert sig["rule"]["ruleset"] == "sigma" and len(sig["rule"]["id"]) == 36
    lat = next(d for _, d in docs if "TA0008" in d.get("threat", {}).get("tactic", {}).get("id", []))
    assert "Lateral Movement" in lat["threat"]["tactic"]["name"]
    # the source address of a logon-borne alert is an ECS ip
    assert any("ip" in d.get("source", {}) for _, d in docs)


def test_validator_rejects_what_ecs_rejects(definitions: dict[str, Any]) -> None:
    doc = {"@timestamp": "yesterday", "event": {"kind": "warning", "category": "malware", "type": ["info"],
                                                "severity": "high"},
           "source": {"ip": "ws-0001", "host": "ws-0001"}}
    bad = violations(doc, definitions)
    assert any(b.startswith("@timestamp") for b in bad)
    assert any("event.kind" in b for b in bad) and any("event.severity" in b for b in bad)
    assert any("event.category: ECS normalises" in b for b in bad)
    assert "source.host: not an ECS field" in bad and any(b.startswith("source.ip") for b in bad)


def test_export_ecs_cli_writes_ndjson(demo_case: Path, tmp_path: Path, definitions: dict[str, Any]) -> None:
    out = tmp_path / "alerts.ecs.ndjson"
    res = CliRunner().invoke(app, ["export", "--case", str(demo_case), "--format", "ecs", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    docs = [json.loads(x) for x in lines]
    assert docs and all(violations(d, definitions) == [] for d in docs)
    assert len({d["wormsign"]["alert"]["key"] for d in docs}) == len(docs)
