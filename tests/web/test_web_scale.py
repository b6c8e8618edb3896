"""The graph at the size of a real outbreak, in Chromium: a simulated WannaCry hunt of about
2,000 hosts (tree by generation, attacked hosts grouped, a group expanded, focus, replay), and
a 2,000-host outbreak view whose files carry hashes (the filters). Timing is bench/bench_render.py's."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from big_outbreak import outbreak_view
from web_checks import graph_counts, running_server, shot, slide

import wormsign
from wormsign.report import write_report
from wormsign.report.html import render_page
from wormsign.report.view import host_addresses
from wormsign.simulate import simulate

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def ready(pg: Any) -> None:
    pg.wait_for_selector("body[data-ready='1']", timeout=120_000)
    pg.wait_for_selector("#graph[data-rendered='1']", timeout=120_000)


def ms(t: str) -> int:
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def lineage(edges: list[dict[str, Any]], host: str) -> set[str]:
    """The host, its ancestors and its descendants along the edges."""
    out = {host}
    for near, far in (("target", "source"), ("source", "target")):
        todo = [host]
        seen = {host}
        while todo:
            h = todo.pop()
            for e in edges:
                if e[near] == h and e[far] not in seen:
                    seen.add(e[far])
                    todo.append(e[far])
        out |= seen
    return out


def click_element(pg: Any, node_id: str) -> None:
    """Click a node of the graph (by cytoscape id) where it is drawn."""
    pg.evaluate("document.getElementById('graph').scrollIntoView({block: 'center'})")
    pg.wait_for_timeout(100)
    x, y = pg.evaluate(
        """id => { const p = wormsign.cy.getElementById(id).renderedPosition();
                  const b = document.getElementById('graph').getBoundingClientRect();
                  return [b.left + p.x, b.top + p.y]; }""",
        node_id,
    )
    pg.mouse.click(x, y)


@pytest.fixture(scope="module")
def wannacry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, str]]:
    """A simulated WannaCry on 2,500 hosts, hunted: (report, outbreak incident, host -> address);
    the case is ``report``'s sibling ``case``."""
    out = tmp_path_factory.mktemp("scale")
    simulate("wannacry", 2500, 1, 3, out / "sim", compresslevel=1)
    with wormsign.open_case(out / "case") as case:
        wormsign.ingest(case, [out / "sim" / "logs"])
        result = wormsign.hunt(case, sigma=None)
    with wormsign.open_case(out / "case", read_only=True) as case:
        write_report(case, out / "report.html")
        outbreak = max(
            (i for i in result.incidents if i["type"] == "outbreak"), key=lambda i: len(i["hosts"])
        )
        addresses = host_addresses(case, [outbreak])
    return out / "report.html", outbreak, addresses


def test_a_2000_host_outbreak_by_generation_with_groups(
    page: tuple[Any, Any], wannacry: tuple[Path, dict[str, Any], dict[str, str]]
) -> None:
    pg, watch = page
    report, inc, addresses = wannacry
    infected = {h["host"]: h for h in inc["hosts"] if h["state"] == "infected"}
    attacked = {h["host"] for h in inc["hosts"] if h["state"] == "attacked"}
    assert len(inc["hosts"]) >= 1800 and len(attacked) >= 300  # the size this test is about
    pg.goto(report.as_uri())
    ready(pg)
    assert pg.locator("#incident-select").input_value() == inc["id"]
    assert pg.locator("#card-attacked .v").inner_text() == str(len(attacked))
    groups = pg.evaluate(
        "wormsign.state.model.groups.map(g => [g.id, g.key, g.members.map(r => r.host)])"
    )
    # Every attacked host is in exactly one group; no attacked host is drawn on its own.
    members = [h for _, _, ms_ in groups for h in ms_]
    assert sorted(members) == sorted(attacked)
    assert 1 < len(groups) < len(attacked) / 5
    for _, key, hosts in groups:  # a group is one /24 of the addresses the resolver saw
        assert key.startswith("subnet ")
        net = ipaddress.ip_network(key.split()[1])
        assert all(ipaddress.ip_address(addresses[h]) in net for h in hosts)
    nodes, edges = graph_counts(pg)
    assert (nodes, edges) == (len(infected) + len(groups), len(inc["edges"]))
    # The tree by generation: each generation's band lies wholly below the one before.
    ys = pg.evaluate(
        "Object.fromEntries(wormsign.cy.nodes('[kind = \"host\"]')"
        ".map(n => [n.data('host'), n.position('y')]))"
    )
    by_gen: dict[int, list[float]] = {}
    for h, rec in infected.items():
        by_gen.setdefault(rec["generation"], []).append(ys[h])
    gens = sorted(by_gen)
    assert len(gens) >= 3
    assert all(max(by_gen[a]) < min(by_gen[b]) for a, b in zip(gens, gens[1:], strict=False))
    assert all(ys[e["source"]] < ys[e["target"]] for e in inc["edges"])
    shot(pg, "scale-wannacry", full_page=False)

    # Expand the largest group: its hosts are drawn, and listed in the evidence panel.
    gid, key, hosts = max(groups, key=lambda g: len(g[2]))
    click_element(pg, gid)
    pg.wait_for_selector("#graph[data-expanded='1']")
    assert graph_counts(pg) == (nodes + len(hosts), edges)
    assert pg.locator("#details h2").inner_text().startswith("Group " + key)
    assert pg.locator("#evidence-list tbody tr").count() == len(hosts)
    pg.locator("#evidence-list tbody tr").first.click()  # a member: selected and centred
    pg.wait_for_selector(f"#details h2:text('Host {hosts[0]}')")
    shot(pg, "scale-wannacry-expanded", full_page=False)
    pg.click("#fit")
    click_element(pg, gid)  # collapses again
    pg.wait_for_selector("#graph[data-expanded='0']")
    assert graph_counts(pg) == (nodes, edges)

    # Focus: a host of generation 2 found by name keeps its lineage sharp, the rest fades.
    host = next(h for h, r in infected.items() if r["generation"] == 2)
    pg.fill("#graph-find", host)
    pg.press("#graph-find", "Enter")
    pg.wait_for_selector(f"#details h2:text('Host {host}')")
    sharp = lineage(inc["edges"], host)
    assert pg.locator("#graph").get_attribute("data-focus") == str(len(sharp))
    faded = pg.evaluate("wormsign.cy.nodes('.faded').map(n => n.data('host') || n.id())")
    assert len(faded) == nodes - len(sharp) and not sharp & set(faded)

    # Replay: halfway shows exactly the infections up to that time; play runs to the end.
    times = sorted(
        [ms(h["infected_at"]) for h in infected.values() if h["infected_at"]]
        + [ms(e["ts"]) for e in inc["edges"]]
    )
    mid = times[0] + (times[-1] - times[0]) * 0.5
    want = (
        sum(1 for h in infected.values() if not h["infected_at"] or ms(h["infected_at"]) <= mid),
        sum(1 for e in inc["edges"] if ms(e["ts"]) <= mid),
    )
    assert slide(pg, 500) == want and 0 < want[0] < len(infected)
    pg.click("#play")
    n = len(infected)
    pg.wait_for_selector(f"#time-label:text('{n} of {n} hosts infected')", timeout=60_000)
    assert pg.locator("#time-slider").input_value() == "1000"
    assert pg.locator("#graph").get_attribute("data-visible-edges") == str(len(inc["edges"]))
    assert watch.errors == [] and watch.dialogs == []


@pytest.fixture(scope="module")
def hashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A 2,000-host outbreak view with file hashes, and attacked hosts with hostile names."""
    view = outbreak_view(2000, seed=4)
    inc = view["incidents"][0]
    for i in range(3):
        name = f"{HOSTILE}-{i}"
        inc["hosts"].append({"host": name, "state": "attacked", "infected_at": None, "infector": None,
                             "generation": None, "technique": None, "families": [], "hashes": []})
    path = tmp_path_factory.mktemp("hashed") / "report.html"
    path.write_text(render_page(view, mode="report", title="2,000 hosts"), "utf-8")
    return path, inc


def test_filters_by_hash_family_technique_and_time(
    page: tuple[Any, Any], hashed: tuple[Path, dict[str, Any]]
) -> None:
    pg, watch = page
    path, inc = hashed
    pg.goto(path.as_uri())
    ready(pg)
    edges = inc["edges"]
    g = pg.locator("#graph")

    def matching(pred_host: Any, pred_edge: Any) -> tuple[str, str]:
        return str(sum(1 for h in inc["hosts"] if pred_host(h))), str(sum(1 for e in edges if pred_edge(e)))

    def shown() -> tuple[str, str]:
        return g.get_attribute("data-filter-hosts"), g.get_attribute("data-filter-edges")

    # A file hash: the hosts it reached or left, and the infections that moved it.
    sha = next(e["file"]["sha256"] for e in edges[len(edges) // 2 :] if e["file"])
    moved = [e for e in edges if e["file"] and e["file"]["sha256"] == sha]
    ends = {e["source"] for e in moved} | {e["target"] for e in moved}
    pg.fill("#filter-hash", sha[:12].upper())  # a prefix, in either case
    holders = {h["host"] for h in inc["hosts"] if sha in h["hashes"]}
    assert shown() == (str(len(holders | ends)), str(len(moved)))
    assert f"of {len(inc['hosts'])})" in pg.locator("#hosts h2").inner_text()
    rows = pg.locator("#host-table tbody tr").count()
    assert rows == min(500, int(shown()[0]))
    dim = pg.evaluate("wormsign.cy.edges('.dim').length")
    assert dim == len(edges) - len(moved)
    shot(pg, "scale-hash-filter", full_page=False)
    pg.click("#filter-clear")
    assert shown() == ("", "")
    assert pg.evaluate("wormsign.cy.elements('.dim').length") == 0

    pg.select_option("#filter-family", "qakbot")
    fams = {h["host"]: h["families"] for h in inc["hosts"]}
    assert shown() == matching(lambda h: "qakbot" in h["families"],
                               lambda e: "qakbot" in fams[e["source"]] + fams[e["target"]])
    pg.select_option("#filter-family", "")
    pg.select_option("#filter-technique", "T1210")
    by: dict[str, list[dict[str, Any]]] = {h["host"]: [] for h in inc["hosts"]}
    for e in edges:
        by[e["source"]].append(e)
        by[e["target"]].append(e)
    assert shown() == matching(lambda h: any("T1210" in e["techniques"] for e in by[h["host"]]),
                               lambda e: "T1210" in e["techniques"])
    pg.select_option("#filter-technique", "")
    lo, hi = edges[200]["ts"], edges[400]["ts"]
    pg.fill("#filter-from", lo[:19])
    pg.fill("#filter-to", hi[:19])
    pg.locator("#filter-to").dispatch_event("change")
    assert shown() == matching(lambda h: lo[:19] <= (h["infected_at"] or "")[:19] <= hi[:19],
                               lambda e: lo[:19] <= e["ts"][:19] <= hi[:19])
    pg.click("#filter-clear")

    # A file of the indicators table: a click filters the graph by its hash.
    row = pg.locator("#file-table tbody tr").nth(2)
    clicked = row.locator("td").first.inner_text()
    row.click()
    assert pg.locator("#filter-hash").input_value() == clicked
    assert shown()[1] == str(sum(1 for e in edges if e["file"] and e["file"]["sha256"] == clicked))
    pg.click("#filter-clear")

    # Hostile host names: grouped by role, listed as text when their group opens.
    gid = pg.evaluate("h => wormsign.state.model.hosts.get(h).group.id", f"{HOSTILE}-0")
    click_element(pg, gid)
    pg.wait_for_selector("#evidence-list tbody tr")
    assert f"{HOSTILE}-2" in pg.locator("#evidence-list").inner_text()
    pg.fill("#graph-find", "onerror")
    assert pg.locator("#find-hits button").count() == 3
    pg.locator("#find-hits button").first.click()
    pg.wait_for_selector("#details h2:has-text('Host <img')")
    assert pg.evaluate("window.__pwned") is None
    assert pg.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert watch.errors == [] and watch.dialogs == []


def test_the_dashboard_of_the_same_outbreak(
    page: tuple[Any, Any], wannacry: tuple[Path, dict[str, Any], dict[str, str]]
) -> None:
    """The dashboard draws the same page from /api/view, with the addresses the report has: the
    attacked hosts are grouped by /24; the per-file tree and the next hops are listed; the replay runs."""
    pg, watch = page
    report, inc, addresses = wannacry
    infected = sum(1 for h in inc["hosts"] if h["state"] == "infected")
    attacked = sorted(h["host"] for h in inc["hosts"] if h["state"] == "attacked")
    with running_server(report.with_name("case")) as (base, token):
        pg.goto(f"{base}/?token={token}")
        ready(pg)
        pg.select_option("#incident-select", inc["id"])
        pg.wait_for_selector(f"#card-incident .v:text('{inc['id']}')")
        groups = pg.evaluate("wormsign.state.model.groups.map(g => [g.key, g.members.map(r => r.host)])")
        assert sorted(h for _, hs in groups for h in hs) == attacked
        for key, hosts in groups:  # one /24 of the resolver's addresses, as in the report
            assert key.startswith("subnet ")
            net = ipaddress.ip_network(key.split()[1])
            assert all(ipaddress.ip_address(addresses[h]) in net for h in hosts)
        assert max(len(hs) for _, hs in groups) <= 250  # settings.yaml graph.group_max
        # the per-file infection tree: one row per host a file reached, as incidents.json has it
        reached = sum(len(f["hosts"]) for f in inc.get("files") or [])
        assert reached >= infected - 1
        assert pg.locator("#files-table tbody tr").count() == min(reached, 500)  # a page of rows
        assert pg.locator("#spread-tables h2").count() == 2
        assert graph_counts(pg) == (infected + len(groups), len(inc["edges"]))
        pg.click("#play")
        pg.wait_for_selector(f"#time-label:text('{infected} of {infected} hosts infected')", timeout=60_000)
    assert watch.errors == [] and watch.dialogs == []


def test_ten_thousand_hosts_render_and_replay(page: tuple[Any, Any], tmp_path: Path) -> None:
    """10,000 hosts (5,500 infected, 4,500 attacked in /24 groups): drawn, searched and replayed."""
    view = outbreak_view(10_000, seed=2)
    inc = view["incidents"][0]
    path = tmp_path / "report.html"
    path.write_text(render_page(view, mode="report", title="10,000 hosts"), "utf-8")
    pg, watch = page
    pg.goto(path.as_uri())
    ready(pg)
    infected = [h for h in inc["hosts"] if h["state"] == "infected"]
    groups = int(pg.locator("#graph").get_attribute("data-groups"))
    nets = {view["addresses"][h["host"]].rsplit(".", 1)[0] for h in inc["hosts"] if h["state"] == "attacked"}
    assert groups == len(nets)  # one group per /24, none over 250 hosts
    assert graph_counts(pg) == (len(infected) + groups, len(inc["edges"]))
    assert pg.evaluate("wormsign.cy.edges('.bulk').length") == len(inc["edges"])  # drawn on demand
    host = infected[-1]["host"]  # the last infection: its chain back to patient zero is drawn
    pg.fill("#graph-find", host)
    pg.press("#graph-find", "Enter")
    pg.wait_for_selector(f"#details h2:text('Host {host}')")
    chain = lineage(inc["edges"], host)
    assert pg.locator("#graph").get_attribute("data-focus") == str(len(chain))
    assert pg.evaluate("wormsign.cy.edges('.lineage').length") == len(chain) - 1
    attacked = next(h["host"] for h in inc["hosts"] if h["state"] == "attacked")
    pg.fill("#graph-find", view["addresses"][attacked])  # by address: the one host that holds it
    assert pg.locator("#find-hits button").all_inner_texts() == [
        f"{attacked} (subnet {view['addresses'][attacked].rsplit('.', 1)[0]}.0/24) · attacked"
    ]
    keys = pg.evaluate("wormsign.state.model.groups.map(g => g.key)")
    assert keys == sorted(keys, key=lambda k: [int(x) for x in k.split()[1].split("/")[0].split(".")])
    assert slide(pg, 0) == (1, 0)
    pg.click("#play")
    n = len(infected)
    pg.wait_for_selector(f"#time-label:text('{n} of {n} hosts infected')", timeout=60_000)
    assert pg.locator("#graph").get_attribute("data-visible-edges") == str(len(inc["edges"]))
    assert watch.errors == [] and watch.dialogs == []
