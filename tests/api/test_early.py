"""Early alerts (``wormsign.api.early``): the in-house single-event Sigma rules on what arrives,
shown before the hunt that follows, and replaced by it.

A real uvicorn server, real HTTP, a real case; the demo outbreak's Winlogbeat documents in time
order, as a stream sends them. The reference is ``wormsign ingest`` + ``hunt`` of the same files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from livekit import WINLOGBEAT, bulk_body, demo_docs, serving, wait_idle

from wormsign.api import live as live_mod
from wormsign.api import load_or_create
from wormsign.api.early import Rules
from wormsign.store import Case


def _key(a: dict[str, Any]) -> tuple[str, str, str]:
    return a["rule"], a["host"], a["first_seen"]


def _post(cl: httpx.Client, docs: list[bytes]) -> None:
    r = cl.post("/_bulk", content=bulk_body(docs), headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["errors"] is False


def test_early_alerts_are_the_hunts_single_event_sigma_alerts_before_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.hunt import hunt
    from wormsign.ingest.pipeline import ingest_paths

    ref = tmp_path / "ref"
    with Case.open(str(ref)) as c:
        ingest_paths([str(WINLOGBEAT)], c, workers=1)
        expected = hunt(c, sigma_rules=[]).alerts
    single = {f"sigma:{r.info.key}" for r in Rules().rules.values()}
    want = {_key(a) for a in expected if a["rule"] in single}
    assert len(want) > 50  # the demo's admin-share writes, PsExec services, ...: not an empty comparison

    conf = {**live_mod.settings(), "hunt_min_interval_s": 3600}  # no hunt after the first one
    monkeypatch.setattr(live_mod, "settings", lambda: conf)
    case = tmp_path / "live"
    Case.open(str(case)).close()
    token, _ = load_or_create(case)
    docs = sorted(demo_docs(), key=lambda d: orjson.loads(d)["@timestamp"])
    first = len(docs) // 3
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=60, auth=("elastic", token)) as cl:
        _post(cl, docs[:first])
        hunted = wait_idle(cl, token)["writer"]["hunts"]
        for i in range(first, len(docs), 500):
            last = docs[i:i + 500]
            _post(cl, last)
        deadline = time.monotonic() + 60
        while (st := cl.get("/api/live").json())["early"]["events"] < len(docs):
            assert time.monotonic() < deadline, st
            time.sleep(0.05)
        assert st["writer"]["hunts"] == hunted and st["early"]["last_error"] is None  # no hunt read the rest
        cl.auth = None
        cl.headers["Authorization"] = f"Bearer {token}"
        shown = cl.get("/api/alerts", params={"limit": 1000}).json()["alerts"]
        early = [a for a in shown if a["id"].startswith("EAR-")]
        assert early and all(a["fields"]["early"] is True and a["rule"] in single for a in early)
        # the first hunt's alerts and the early ones: every single-event Sigma alert of the whole
        # stream, none twice (a match inside a published alert's run is left to the next hunt)
        got = [_key(a) for a in shown if a["rule"] in single]
        assert len(got) == len(set(got))
        assert set(got) == want
        one = early[0]
        assert cl.get(f"/api/alerts/{one['id']}").json()["evidence"] == one["evidence"]

        # a hunt covers them: the early alerts go, the hunt's own alerts are the same ones
        conf["hunt_min_interval_s"] = 0
        cl.auth = ("elastic", token)
        _post(cl, last)  # sent again: stores nothing (the same request), but the writer wakes and hunts
        del cl.headers["Authorization"]
        wait_idle(cl, token)
        cl.auth = None
        cl.headers["Authorization"] = f"Bearer {token}"
        after = cl.get("/api/alerts", params={"limit": 1000}).json()["alerts"]
    assert not [a for a in after if a["id"].startswith("EAR-")]
    assert {_key(a) for a in after if a["rule"] in single} == want
