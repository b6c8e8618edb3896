"""The offline report in a real Chromium: graph, replay slider, evidence on click, hostile text inert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from outbreak_fixture import HOSTILE_CMD, HOSTILE_RAW_MARK
from web_checks import assert_nothing_ran, click_node, graph_counts, shot, slide, wait_ready

from wormsign.report import write_report
from wormsign.store import Case


@pytest.fixture(scope="module")
def report_url(outbreak_case: tuple[Path, dict[str, Any]]) -> str:
    path, _ = outbreak_case
    out = path.with_name("report.html")
    with Case.open(str(path), read_only=True) as case:
        write_report(case, out)
    return out.as_uri()


def test_report_shows_the_outbreak(page: tuple[Any, Any], report_url: str) -> None:
    pg, watch = page
    pg.goto(report_url)
    wait_ready(pg)
    assert graph_counts(pg) == (6, 4)
    assert pg.locator("#card-patient-zero .v").inner_text() == "ws-0001"
    assert pg.locator("#card-infected .v").inner_text() == "5"
    assert pg.locator("#host-table tbody tr").count() == 6
    assert "Lateral Tool Transfer" in pg.locator("#attack").inner_text()
    assert "203.0.113.7" in pg.locator("#iocs").inner_text()
    assert pg.locator("#containment tbody tr").first.inner_text().split("\t")[:2] == ["1", "ws-0001"]
    shot(pg, "report")
    # Nothing left the page: every request is the file itself.
    assert all(u.startswith("file://") for u in watch.requests), watch.requests
    assert_nothing_ran(pg, watch)


def test_slider_replays_the_spread(page: tuple[Any, Any], report_url: str) -> None:
    pg, watch = page
    pg.goto(report_url)
    wait_ready(pg)
    assert slide(pg, 1000) == (5, 4)
    assert slide(pg, 0) == (1, 0)  # only patient zero at the first infection
    mid = slide(pg, 500)  # 09:30: ws-0001, ws-0002, ws-0003
    assert mid == (3, 2)
    assert "3 of 5 hosts infected" in pg.locator("#time-label").inner_text()
    shot(pg, "report-replay-mid")
    pg.click("#play")  # replays from the first infection to the end
    pg.wait_for_selector("#time-label:text('5 of 5 hosts infected')")
    assert pg.locator("#time-slider").input_value() == "1000"
    assert watch.errors == []


def test_clicking_a_node_shows_its_evidence(page: tuple[Any, Any], report_url: str) -> None:
    pg, watch = page
    pg.goto(report_url)
    wait_ready(pg)
    click_node(pg, "ws-0001")
    pg.wait_for_selector("#evidence-list .event")
    panel = pg.locator("#details").inner_text()
    assert "Host ws-0001" in panel
    assert HOSTILE_CMD[:60] in panel  # the original field, as text
    raw = pg.locator("#details pre.raw").first.text_content()
    assert HOSTILE_RAW_MARK in raw
    shot(pg, "report-evidence")
    click_node(pg, "ws-0004")
    pg.wait_for_selector("#details h2:text('Host ws-0004')")
    events = pg.locator("#evidence-list .event")
    assert events.count() == 3  # its infection (share write, service) and the lockout it caused
    codes = [events.nth(i).locator(".head").inner_text().split()[-1] for i in range(3)]
    assert codes == ["5145", "7045", "4740"]
    assert_nothing_ran(pg, watch)


def test_clicking_a_table_row_and_an_edge(page: tuple[Any, Any], report_url: str) -> None:
    pg, watch = page
    pg.goto(report_url)
    wait_ready(pg)
    pg.locator("#timeline tbody tr", has_text="infection").first.click()
    pg.wait_for_selector("#details h2:text('Edge ws-0001 → ws-0002')")
    assert pg.locator("#evidence-list .event").count() == 2
    pg.locator("#locked-table tbody tr").first.focus()
    pg.keyboard.press("Enter")  # rows work from the keyboard too
    pg.wait_for_selector("#evidence-list .event")
    assert "4740" in pg.locator("#evidence-list").inner_text()
    assert_nothing_ran(pg, watch)


def test_report_without_the_graph_library_still_shows_the_tables(
    page: tuple[Any, Any], outbreak_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wormsign.report import html

    monkeypatch.setattr(html, "GRAPH_LIBRARY", "vendor/not-built.js")
    path, _ = outbreak_case
    out = path.with_name("report-nograph.html")
    with Case.open(str(path), read_only=True) as case:
        write_report(case, out)
    pg, watch = page
    pg.goto(out.as_uri())
    wait_ready(pg)
    assert "graph library not bundled" in pg.locator("#graph").inner_text()
    assert pg.locator("#host-table tbody tr").count() == 6
    pg.locator("#host-table tbody tr").first.click()
    pg.wait_for_selector("#evidence-list .event")
    assert watch.errors == []


def test_switching_to_an_incident_without_spread(page: tuple[Any, Any], report_url: str) -> None:
    pg, watch = page
    pg.goto(report_url)
    wait_ready(pg)
    pg.select_option("#incident-select", "INC-0002")
    pg.wait_for_selector("#card-incident .v:text('INC-0002')")
    assert graph_counts(pg) == (1, 0)
    assert pg.locator("#card-patient-zero .v").inner_text() == "unknown"
    assert slide(pg, 0) == (0, 0)
    assert pg.locator("#host-table tbody tr").count() == 1
    assert watch.errors == []


def test_host_names_that_are_object_keys_in_javascript(page: tuple[Any, Any], tmp_path: Path) -> None:
    from outbreak_fixture import build

    path = tmp_path / "proto.duckdb"
    doc = build(path)
    base = doc["incidents"][1]
    hosts = [
        {**base["hosts"][0], "host": h, "state": "infected", "generation": i, "infected_at": t}
        for i, (h, t) in enumerate(
            [("__proto__", "2026-03-02T09:00:00Z"), ("constructor", "2026-03-02T09:05:00Z")]
        )
    ]
    edge = {
        **doc["incidents"][0]["edges"][0],
        "source": "__proto__",
        "target": "constructor",
        "evidence": ["__proto__:1"],
    }
    inc = {
        **base,
        "id": "INC-0003",
        "type": "outbreak",
        "hosts": hosts,
        "edges": [edge],
        "patient_zero": "__proto__",
        "alerts": ["__proto__", "toString"],
    }
    with Case.open(str(path)) as case:
        case.set_meta("hunt", {**doc, "incidents": [inc]})
    out = tmp_path / "proto.html"
    with Case.open(str(path), read_only=True) as case:
        write_report(case, out)
    pg, watch = page
    pg.goto(out.as_uri())
    wait_ready(pg)
    assert graph_counts(pg) == (2, 1)
    assert slide(pg, 1000) == (2, 1)
    click_node(pg, "constructor")
    pg.wait_for_selector("#evidence-list .event")
    assert "not in the case" in pg.locator("#evidence-list").inner_text()
    assert watch.errors == []
