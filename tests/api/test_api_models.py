"""Every endpoint of the API has a response schema in /openapi.json, and what each answers on a
real hunt (the bundled demo outbreak) is valid for that schema's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from typer.testing import CliRunner

from wormsign.api import create_app, load_or_create
from wormsign.cli import app as cli


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Any]:
    tmp = tmp_path_factory.mktemp("api-demo")
    res = CliRunner().invoke(cli, ["hunt", "--demo", "--case", str(tmp / "case"), "--out", str(tmp / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    token, _ = load_or_create(tmp / "case")
    application = create_app(tmp / "case", token)
    client = TestClient(application)
    client.headers["Authorization"] = f"Bearer {token}"
    return client, application


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _untyped(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Places in ``schema`` that document nothing: an object with no properties and no typed values."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _untyped(spec, spec["components"]["schemas"][name], name, seen)
    out = []
    for sub in schema.get("anyOf", []) + schema.get("allOf", []):
        out += _untyped(spec, sub, where, seen)
    if schema.get("type") == "array":
        out += _untyped(spec, schema.get("items") or {}, where + "[]", seen)
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props:
            for k, v in props.items():
                out += _untyped(spec, v, f"{where}.{k}", seen)
        elif isinstance(extra, dict) and extra:
            out += _untyped(spec, extra, where + "{}", seen)
        elif where.endswith(".fields") or where.endswith(".colours"):
            pass  # an alert's rule-specific fields: documented as free-form
        else:
            out.append(where)
    if not schema:
        out.append(where or "(empty)")
    return out


def test_every_endpoint_has_a_response_schema(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    spec = client.get("/openapi.json").json()
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 15
    for path, method, op in operations:
        ok = next(code for code in op["responses"] if code.startswith("2"))
        schema = op["responses"][ok]["content"]["application/json"]["schema"]
        body = _resolve(spec, schema.get("items", schema) if schema.get("type") == "array" else schema)
        assert body.get("properties"), (path, method, schema)
        assert _untyped(spec, schema, f"{method} {path}", set()) == [], (path, method)
    incident = spec["components"]["schemas"]["Incident"]["properties"]
    assert {"files", "next_hops", "initial_access", "edges", "hosts"} <= set(incident)
    assert incident["first_seen"]["anyOf"][0]["format"] == "date-time"


def _args(client: TestClient) -> dict[str, str]:
    inc = client.get("/api/incidents").json()["incidents"]
    outbreak = next(i for i in inc if i["type"] == "outbreak")
    alert = client.get("/api/alerts", params={"limit": 1}).json()["alerts"][0]
    full = client.get(f"/api/incidents/{outbreak['id']}").json()
    ref = full["edges"][0]["evidence"][0]
    return {"cid": client.get("/api/cases").json()[0]["id"], "incident_id": outbreak["id"],
            "alert_id": alert["id"], "host": outbreak["patient_zero"], "ref": ref}


def _routes(routes: list[Any]) -> list[APIRoute]:
    """The API routes, those of included routers too."""
    out = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out += _routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            out += _routes(route.routes)
    return out


def test_every_answer_is_valid_for_its_model(served: tuple[TestClient, Any]) -> None:
    client, application = served
    args = _args(client)
    checked = 0
    for route in _routes(application.routes):
        if not route.path.startswith("/api") or "GET" not in route.methods:
            continue  # (POST /api/events, live ingest, is answered in tests/api/test_live*)
        url = route.path.format(**args)
        params: dict[str, Any] = {"ref": [args["ref"]]} if route.path == "/api/evidence" else {}
        res = client.get(url, params=params)
        assert res.status_code == 200, (url, res.text[:300])
        TypeAdapter(route.response_model).validate_python(res.json())
        checked += 1
    assert checked >= 16
