"""Checks the report and the dashboard share: graph, replay, evidence, hostile text."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from outbreak_fixture import HOSTILE_HOST, HOSTILE_USER

SHOTS = Path("/tmp/wormsign-shots")


def wait_ready(pg: Any) -> None:
    pg.wait_for_selector("body[data-ready='1']", timeout=15000)


def graph_counts(pg: Any) -> tuple[int, int]:
    """Nodes (hosts and groups; not the rows' labels) and edges in the graph."""
    return tuple(  # type: ignore[return-value]
        pg.evaluate("[wormsign.cy.nodes().filter(n => n.data('kind') !== 'label').length, wormsign.cy.edges().length]")
    )


def slide(pg: Any, value: int) -> tuple[int, int]:
    """Move the time slider; return the infected hosts and edges then visible."""
    pg.fill("#time-slider", str(value))
    g = pg.locator("#graph")
    return int(g.get_attribute("data-visible-infected")), int(g.get_attribute("data-visible-edges"))


def click_node(pg: Any, host: str) -> None:
    """Click a host's node in the graph canvas, where cytoscape drew it."""
    # In view first: cytoscape reads the canvas's place on the page again only after a scroll event.
    pg.evaluate("document.getElementById('graph').scrollIntoView({block: 'center'})")
    pg.wait_for_timeout(100)
    pos = pg.evaluate(
        """h => { const n = wormsign.cy.nodes().filter(x => x.data('host') === h)[0];
                 const p = n.renderedPosition();
                 const b = document.getElementById('graph').getBoundingClientRect();
                 return [b.left + p.x, b.top + p.y]; }""",
        host,
    )
    pg.mouse.click(pos[0], pos[1])


def assert_nothing_ran(pg: Any, watch: Any) -> None:
    assert watch.dialogs == []
    assert watch.errors == []
    assert pg.evaluate("window.__pwned") is None
    assert pg.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert pg.evaluate("document.scripts.length") == 4
    assert pg.evaluate("document.querySelectorAll('a[href], [src], [onerror], [onclick]').length") == 0
    hosts = pg.locator("#host-table").inner_text()
    assert HOSTILE_HOST in hosts  # shown literally, as text
    assert HOSTILE_USER in pg.locator("#locked-table").inner_text()


def shot(pg: Any, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot for a person to look at (not committed, not compared)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


@contextmanager
def running_server(case: Path) -> Iterator[tuple[str, str]]:
    """``wormsign serve``'s app in a real uvicorn on 127.0.0.1, in a thread: (base URL, token)."""
    import uvicorn

    from wormsign.api import create_app, load_or_create

    token, _ = load_or_create(case)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(case, token), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(10)
