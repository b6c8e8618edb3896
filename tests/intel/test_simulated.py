"""The simulator's emotet-qakbot outbreak: simulate, ingest, resolve, import its feeds, attribute.

Checked against the simulator's truth: the families on every host, every delivery (host and
time), and no C2 overlap between Emotet and Qakbot, in the feeds or in what the hosts contacted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wormsign.ingest import ingest_paths
from wormsign.intel import Attribution, attribute
from wormsign.intel.importer import import_file
from wormsign.intel.overlap import compare, groups_from_attribution, groups_from_store
from wormsign.intel.store import IntelStore
from wormsign.store import Case

simulate = pytest.importorskip("wormsign.simulate", reason="the simulator is not in this tree")


@pytest.fixture(scope="module")
def outbreak(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], Attribution, IntelStore]]:
    from wormsign.resolve import resolve

    if "emotet-qakbot" not in simulate.SCENARIOS:
        pytest.skip("the simulator has no emotet-qakbot scenario")
    out = tmp_path_factory.mktemp("sim")
    truth = simulate.simulate("emotet-qakbot", 20, 1, 7, out / "sim")
    with Case.open(str(out / "case.duckdb")) as case:
        rep = ingest_paths([str(out / "sim" / "logs")], case, workers=1)
        assert rep.stats.rejected == 0
        resolve(case)
        store = IntelStore.open(str(out / "intel.duckdb"))
        for feed in ("feodo_ipblocklist.csv", "hashes.txt"):
            assert import_file(str(out / "sim" / "feeds" / feed), store).rejected == 0
        attr = attribute(case, store)
    yield truth, attr, store
    store.close()


def test_families_per_host_are_the_truth(outbreak: tuple) -> None:
    truth, attr, _ = outbreak
    want: dict[str, set[str]] = {}
    for inf in truth["infections"]:
        want.setdefault(inf["host"], set()).add(inf["family"])
    for d in truth["deliveries"]:
        want.setdefault(d["host"], set()).add(d["to_family"])
    got = {h: {f.family for f in fams} for h, fams in attr.hosts.items()}
    assert got == want
    assert attr.families() == ["emotet", "qakbot"]


def test_every_delivery_is_found_at_its_time(outbreak: tuple) -> None:
    truth, attr, _ = outbreak
    want = sorted((d["from_family"], d["to_family"], d["host"], d["time"]) for d in truth["deliveries"])
    got = sorted(
        (d.from_family, d.to_family, d.host, d.to_dict()["ts"].replace("Z", "")) for d in attr.deliveries
    )
    assert len(want) >= 5
    assert [(a, b, h, t[:23]) for a, b, h, t in got] == [(a, b, h, t[:23]) for a, b, h, t in want]
    assert attr.delivery_summary() == {("emotet", "qakbot"): len(want)}
    assert all(len(d.evidence) == 2 and d.method == "write-start" for d in attr.deliveries)


def test_no_c2_overlap_between_emotet_and_qakbot(outbreak: tuple) -> None:
    truth, attr, store = outbreak
    feeds = compare(groups_from_store(store.indicators(), "family")).pair("emotet", "qakbot")
    seen = compare(groups_from_attribution(attr)).pair("emotet", "qakbot")
    assert feeds.shared == {} and seen.shared == {} and not feeds.linked and not seen.linked
    contacted = {f: {f"{c.address}:{c.port}" for c in cs} for f, cs in attr.c2.items()}
    assert contacted["emotet"] <= set(truth["c2"]["emotet"]) and contacted["qakbot"] <= set(
        truth["c2"]["qakbot"]
    )
    assert contacted["emotet"] and contacted["qakbot"]
    lines = attr.summary_lines()
    assert "C2 overlap emotet / qakbot: none" in lines
    assert f"emotet delivered qakbot on {len(truth['deliveries'])} hosts" in lines
