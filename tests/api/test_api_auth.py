"""Token auth: made once beside the case with mode 0600; every API call without it gets 401."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wormsign.api import load_or_create, token_path

OTHER_UID = 54321  # no user of this machine

PATHS = [
    "/api/cases",
    "/api/view",
    "/api/incidents",
    "/api/incidents/INC-0001",
    "/api/incidents/INC-0001/graph",
    "/api/alerts",
    "/api/hosts",
    "/api/hosts/ws-0001",
    "/api/events",
    "/api/evidence?ref=ab:1",
]


@pytest.mark.parametrize("path", PATHS)
def test_every_api_path_needs_the_token(served: tuple[TestClient, str, dict[str, Any]], path: str) -> None:
    c, token, _ = served
    r = c.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert c.get(path, headers={"Authorization": "Bearer " + token[:-1] + "x"}).status_code == 401
    assert c.get(path, headers={"Authorization": token}).status_code == 401  # no scheme
    assert c.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_token_file_is_private_and_reused(tmp_path: Path) -> None:
    case = tmp_path / "c.duckdb"
    token, created = load_or_create(case)
    assert created and len(token) >= 32
    p = token_path(case)
    assert p == tmp_path / "c.duckdb.token"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    again, created = load_or_create(case)
    assert (again, created) == (token, False)
    p.chmod(0o644)
    with pytest.raises(PermissionError, match="group or others"):
        load_or_create(case)


@pytest.mark.parametrize("mode", [0o640, 0o620, 0o610, 0o604, 0o602, 0o601, 0o660, 0o666])
def test_token_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    case = tmp_path / "c.duckdb"
    load_or_create(case)
    token_path(case).chmod(mode)
    with pytest.raises(PermissionError, match=f"mode {mode:o}.*chmod 600"):
        load_or_create(case)


def _planted(case: Path) -> Path:
    """A valid-looking token file beside ``case`` owned by another user (root can give it away)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("only root can make a file owned by another user")
    p = token_path(case)
    p.write_text("planted-" + "x" * 40 + "\n", encoding="ascii")
    p.chmod(0o600)
    os.chown(p, OTHER_UID, OTHER_UID)
    return p


def test_token_file_of_another_user_is_refused(tmp_path: Path) -> None:
    case = tmp_path / "c.duckdb"
    p = _planted(case)
    with pytest.raises(PermissionError, match=f"owned by uid {OTHER_UID}, not by you"):
        load_or_create(case)
    assert p.read_text("ascii").startswith("planted-")  # left for the responder to look at


def test_token_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    case = tmp_path / "c.duckdb"
    real = tmp_path / "elsewhere.token"
    real.write_text("y" * 43 + "\n", encoding="ascii")
    real.chmod(0o600)
    token_path(case).symlink_to(real)
    with pytest.raises(PermissionError, match="not a regular file"):
        load_or_create(case)


def test_openapi_and_dashboard_page_are_served(served: tuple[TestClient, str, dict[str, Any]]) -> None:
    c, _, _ = served
    spec = c.get("/openapi.json").json()
    assert {"/api/incidents/{incident_id}", "/api/events", "/api/evidence", "/api/alerts"} <= set(
        spec["paths"]
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    page = c.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "connect-src 'self'" in csp
    assert '"mode":"api"' in page.text
    assert c.get("/docs").status_code == 404  # the doc UI would load scripts from a CDN
