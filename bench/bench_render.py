"""Benchmark the report's propagation graph in Chromium (Playwright, Debian's /usr/bin/chromium):
time to first render, and frame rates during the replay and during pan/zoom, at 400, 2,000 and
10,000 hosts, each next to a baseline measured in the same run.

    .venv/bin/python bench/bench_render.py                          # 400, 2,000, 10,000 hosts, 3 rounds
    .venv/bin/python bench/bench_render.py --sizes 400,2000 --rounds 1   # a quick look
    .venv/bin/python bench/bench_render.py --real --tmp /tmp/render      # simulated WannaCry hunts instead

The pages are the offline report (``render_page``, as ``wormsign report`` writes it). By default
the view of each size is ``tests/web/big_outbreak.py``'s: one outbreak with exactly that many
hosts (55 % infected in a tree, the rest attacked and grouped by /24), made in milliseconds.
``--real`` simulates WannaCry on an organisation of that many hosts, ingests and hunts it (kept
in ``--tmp`` for the next run) and writes the report from the case: its outbreak holds about
0.8 of the organisation's hosts.

Measured, in the page (``performance.now()``, ms from the start of navigation):

- **first render**: until cytoscape has drawn the graph once (``#graph[data-rendered]``), the
  page's JSON parsed, the layout computed and every section written; the median of ``--rounds``
  fresh page loads.
- **replay fps**: frames a second for ``--seconds`` while the time slider sweeps 0 -> 1000 and
  back, one ``replayTo`` a frame (what dragging the slider or the replay button does); cytoscape
  redraws in the same frames.
- **pan/zoom fps**: frames a second while the view pans and zooms by a step every frame.

Baselines, in the same run: the **empty page** (a report with no incident: the page's own cost,
and Chromium's frame rate with nothing to draw, about 60 fps) and the **400-host** figure. Each
figure is printed as a time and as ratios to both. Headless Chromium draws on the CPU here
(``--disable-gpu``); a workstation with a GPU draws faster, the ratios say how the size costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))

from big_outbreak import outbreak_view  # noqa: E402

from wormsign.report.html import render_page  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

#: Runs in the page before its own scripts (DevTools injects it; the page's CSP does not apply):
#: records when the app says it is ready and when cytoscape first drew.
MARKS = """
window.__marks = {};
new MutationObserver(() => {
  const g = document.getElementById('graph');
  const m = window.__marks, b = document.body;
  if (!m.ready && b && b.dataset.ready) m.ready = performance.now();
  if (!m.rendered && g && g.dataset.rendered) m.rendered = performance.now();
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-ready', 'data-rendered']});
"""

FPS = """([mode, seconds]) => new Promise(done => {
  const cy = wormsign.cy, start = performance.now();
  let frames = 0, v = 0, dir = 1;
  function frame(now) {
    frames++;
    if (mode === 'replay' && cy) {
      v += dir * 25; if (v >= 1000 || v <= 0) { dir = -dir; v = Math.max(0, Math.min(1000, v)); }
      document.getElementById('time-slider').value = String(v);
      wormsign.replayTo(v);
    } else if (mode === 'pan' && cy) {
      const k = Math.floor(frames / 30) % 2 ? 0.98 : 1.02;
      cy.viewport({ zoom: cy.zoom() * k, pan: { x: cy.pan().x + (k > 1 ? 4 : -4), y: cy.pan().y + 2 } });
    }
    if (now - start < seconds * 1000) requestAnimationFrame(frame);
    else done(frames / ((now - start) / 1000));
  }
  requestAnimationFrame(frame);
})"""


def empty_view() -> dict[str, Any]:
    view = outbreak_view(10)
    view["incidents"] = []
    return view


def real_view(hosts: int, tmp: Path) -> dict[str, Any]:
    """The view of a simulated WannaCry on ``hosts`` hosts, hunted (the case kept in ``tmp``)."""
    import wormsign
    from wormsign.report.view import build_view
    from wormsign.simulate import simulate

    base = tmp / f"wannacry-{hosts}"
    case_dir = base / "case"
    if not (base / "hunted").exists():
        simulate("wannacry", hosts, 1, 3, base / "sim", compresslevel=1, overwrite=True)
        with wormsign.open_case(case_dir) as case:
            wormsign.ingest(case, [base / "sim" / "logs"])
            wormsign.hunt(case, sigma=None)
        (base / "hunted").write_text("1")
    with wormsign.open_case(case_dir, read_only=True) as case:
        return build_view(case, with_evidence=True)


def measure(browser: Any, path: Path, rounds: int, seconds: float) -> dict[str, Any]:
    firsts, ready, replay, pan = [], [], [], []
    info: dict[str, Any] = {}
    for i in range(rounds):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.add_init_script(MARKS)
        pg.goto(path.as_uri(), timeout=300_000)
        pg.wait_for_selector("body[data-ready='1'], #summary p.empty", timeout=300_000)
        pg.wait_for_function("window.__marks.rendered || !wormsign.cy", timeout=300_000)
        marks = pg.evaluate("window.__marks")
        if errors:
            raise RuntimeError(f"{path}: {errors[:3]}")
        firsts.append(marks.get("rendered") or marks.get("ready") or pg.evaluate("performance.now()"))
        ready.append(marks.get("ready") or firsts[-1])
        if i == 0:
            info = pg.evaluate(
                "wormsign.cy ? {nodes: wormsign.cy.nodes().length, edges: wormsign.cy.edges().length,"
                " hosts: wormsign.state.model.hosts.size, groups: wormsign.state.model.groups.length}"
                " : {nodes: 0, edges: 0, hosts: 0, groups: 0}"
            )
            pg.evaluate("document.getElementById('graph').scrollIntoView({block: 'center'})")
            replay.append(pg.evaluate(FPS, ["replay", seconds]))
            pan.append(pg.evaluate(FPS, ["pan", seconds]))
        ctx.close()
    return {**info, "first_ms": statistics.median(firsts), "ready_ms": statistics.median(ready),
            "replay_fps": replay[0], "pan_fps": pan[0], "bytes": path.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="400,2000,10000", help="host counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="page loads per size for the first render (median)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds of each frame-rate run")
    ap.add_argument("--real", action="store_true", help="simulated WannaCry hunts, not big_outbreak views")
    ap.add_argument("--tmp", type=Path, default=None, help="where pages (and --real's cases) go")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="bench-render-"))
    tmp.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    pages: list[tuple[str, Path]] = []
    for label, view in [("empty page", empty_view())] + [
        (str(n), real_view(n, tmp) if args.real else outbreak_view(n)) for n in sizes
    ]:
        path = tmp / f"report-{label.replace(' ', '-')}.html"
        path.write_text(render_page(view, mode="report", title=f"bench {label}"), "utf-8")
        pages.append((label, path))
    kind = "real hunts" if args.real else "big_outbreak views"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {kind}")
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for label, path in pages:
            r = measure(browser, path, args.rounds, args.seconds)
            rows.append((label, r))
            print(f"  measured {label}: first render {r['first_ms']:.0f} ms", flush=True)
        browser.close()
    base, b400 = rows[0][1], next((r for label, r in rows if label == "400"), None)
    head = (f"{'hosts':>10} {'nodes':>6} {'edges':>6} {'groups':>6} {'MB':>6} | {'first render ms':>15} "
            f"{'x empty':>8} {'x 400':>7} | {'replay fps':>10} {'x empty':>8} | "
            f"{'pan/zoom fps':>12} {'x empty':>8}")
    print(head)
    print("-" * len(head))
    for label, r in rows:
        x400 = f"{r['first_ms'] / b400['first_ms']:7.2f}" if b400 else f"{'':>7}"
        print(f"{label:>10} {r['nodes']:>6} {r['edges']:>6} {r['groups']:>6} {r['bytes'] / 1e6:6.1f} | "
              f"{r['first_ms']:15.0f} {r['first_ms'] / base['first_ms']:8.2f} {x400} | "
              f"{r['replay_fps']:10.1f} {r['replay_fps'] / base['replay_fps']:8.2f} | "
              f"{r['pan_fps']:12.1f} {r['pan_fps'] / base['pan_fps']:8.2f}")
    if args.json:
        args.json.write_text(json.dumps({label: r for label, r in rows}, indent=1), "utf-8")


if __name__ == "__main__":
    main()
