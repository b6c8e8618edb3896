"""A live server started soon after the machine booted hunts its first frames at once: the
writer's "last hunt" was 0.0 on the monotonic clock, which starts near 0 at boot, so a server up
less than ``hunt_min_interval_s`` after boot held its first hunt back (and CI machines are fresh).
A real uvicorn server, real HTTP, a real case, the demo's Winlogbeat documents; the writer's clock
reads as one second after boot."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import orjson
import pytest
from livekit import bulk_body, demo_docs, serving, wait_idle

from wormsign.api import live as live_mod
from wormsign.api import livewriter, load_or_create
from wormsign.store import Case


def test_first_hunt_is_not_held_back_after_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = time.monotonic()
    boot = SimpleNamespace(monotonic=lambda: time.monotonic() - start + 1.0, sleep=time.sleep)
    monkeypatch.setattr(livewriter, "time", boot)
    conf = {**live_mod.settings(), "hunt_min_interval_s": 3600}
    monkeypatch.setattr(live_mod, "settings", lambda: conf)
    case = tmp_path / "live"
    Case.open(str(case)).close()
    token, _ = load_or_create(case)
    docs = sorted(demo_docs(), key=lambda d: orjson.loads(d)["@timestamp"])[:2000]
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=60, auth=("elastic", token)) as cl:
        r = cl.post("/_bulk", content=bulk_body(docs), headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200 and r.json()["errors"] is False
        st = wait_idle(cl, token, timeout=60)
    assert st["writer"]["events_stored"] == len(docs)
    assert st["writer"]["hunts"] == 1 and st["writer"]["last_error"] is None
