"""Fixtures: Debian's Chromium driven by Playwright, the outbreak report, and a live dashboard."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from outbreak_fixture import build  # noqa: E402
from web_checks import running_server  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Watch:
    """What a page did that it must not: dialogs, script errors, requests outside the page."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    from wormsign.web import bundled

    if not bundled():
        pytest.fail("the graph library is not bundled into the package: run scripts/build-web.sh")

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Watch]]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    watch = Watch()
    pg.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    pg.on("request", lambda r: watch.requests.append(r.url))
    yield pg, watch
    ctx.close()


@pytest.fixture(scope="module")
def outbreak_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("web") / "outbreak.duckdb"
    return path, build(path)


@pytest.fixture(scope="module")
def live(outbreak_case: tuple[Path, dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """A real uvicorn server on 127.0.0.1 serving the case: (base URL, token)."""
    with running_server(outbreak_case[0]) as served:
        yield served
