"""The live dashboard in a real Chromium against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outbreak_fixture import HOSTILE_CMD
from web_checks import assert_nothing_ran, click_node, graph_counts, running_server, shot, slide, wait_ready

from wormsign.api.published import publish
from wormsign.report.view import alerts as case_alerts
from wormsign.store import DEFAULT_WAIT, Case


def test_dashboard_shows_the_case_live(page: tuple[Any, Any], live: tuple[str, str]) -> None:
    pg, watch = page
    base, token = live
    pg.goto(f"{base}/?token={token}")
    wait_ready(pg)
    assert "token" not in pg.url  # kept in sessionStorage, gone from the address bar and history
    assert pg.evaluate("sessionStorage.getItem('wormsign-token')") == token
    assert graph_counts(pg) == (6, 4)
    assert slide(pg, 0) == (1, 0)
    assert slide(pg, 1000) == (5, 4)
    click_node(pg, "ws-0001")
    pg.wait_for_selector("#evidence-list .event")  # fetched from /api/evidence
    assert HOSTILE_CMD[:60] in pg.locator("#details").inner_text()
    assert any("/api/evidence?ref=" in u for u in watch.requests)
    assert all(u.startswith(base) for u in watch.requests), watch.requests
    shot(pg, "dashboard")
    assert_nothing_ran(pg, watch)


def test_dashboard_event_search_pages(page: tuple[Any, Any], live: tuple[str, str]) -> None:
    pg, watch = page
    base, token = live
    pg.goto(f"{base}/?token={token}")
    wait_ready(pg)
    pg.fill("#search-form input[name=host]", "ws-0010")
    pg.click("#search-form button")
    pg.wait_for_selector("#search-results tbody tr")
    assert "10 events" in pg.locator("#search-results").inner_text()
    assert pg.locator("#search-results tbody tr").count() == 10
    pg.fill("#search-form input[name=host]", "")
    pg.fill("#search-form input[name=q]", "<script>")
    pg.click("#search-form button")
    pg.wait_for_selector("#search-results p.hint:text('2 events')")
    pg.locator("#search-results tbody tr").first.click()
    pg.wait_for_selector("#evidence-list .event")
    shot(pg, "dashboard-search")
    assert_nothing_ran(pg, watch)


def test_dashboard_without_token_shows_nothing(page: tuple[Any, Any], live: tuple[str, str]) -> None:
    pg, watch = page
    base, _ = live
    pg.goto(base + "/")
    pg.wait_for_selector("#status:text('no token')")
    status = pg.evaluate("fetch('/api/incidents').then(r => r.status)")
    assert status == 401
    pg.goto(base + "/?token=wrong-token")
    pg.wait_for_selector("#status:text('token was refused')")
    assert pg.locator("#host-table").count() == 0
    assert watch.errors == [] and watch.dialogs == []


def test_dashboard_follows_a_new_hunt(
    page: tuple[Any, Any], live: tuple[str, str], outbreak_case: tuple[Path, dict[str, Any]]
) -> None:
    pg, watch = page
    base, token = live
    path, doc = outbreak_case
    pg.goto(f"{base}/?token={token}")
    wait_ready(pg)
    assert graph_counts(pg) == (6, 4)
    newer = {**doc, "generated_at": "2026-03-03T00:00:00Z", "incidents": [dict(doc["incidents"][0])]}
    newer["incidents"][0]["edges"] = doc["incidents"][0]["edges"][:2]
    newer["incidents"][0]["title"] = "re-hunted"
    with Case.open(str(path), wait=DEFAULT_WAIT) as case:  # a new hunt: its result in the case, then published beside it
        case.set_meta("hunt", newer)
        publish(case, newer, case_alerts(case, newer))
    try:
        pg.evaluate("wormsign.refresh()")  # what the page does every 30 s
        pg.wait_for_selector("#summary .card:text('re-hunted')")
        assert graph_counts(pg) == (6, 2)
        assert pg.locator("#incident-select option").count() == 1
    finally:  # the server may still read the case (a request of the refresh): wait as a hunt does
        with Case.open(str(path), wait=DEFAULT_WAIT) as case:
            case.set_meta("hunt", doc)
            publish(case, doc, case_alerts(case, doc))
    assert watch.errors == []


def test_dashboard_on_a_case_without_hunt_says_so(page: tuple[Any, Any], tmp_path: Path) -> None:
    case = tmp_path / "empty.duckdb"
    Case.open(str(case)).close()
    with running_server(case) as (base, token):
        pg, watch = page
        pg.goto(f"{base}/?token={token}")
        pg.wait_for_selector("#status:text('no hunt result')")
        assert watch.errors == [] and watch.dialogs == []
