"""Deployments versus infections: a routine push is set aside unless the file travels on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wormsign.detect import config
from wormsign.detect.baseline import Baseline
from wormsign.graph.select import select_infections

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def copy(src: str, dst: str, minutes: float, name: str) -> dict[str, Any]:
    return {"source": src, "target": dst, "ts": T0 + timedelta(minutes=minutes), "kind": "copy",
            "method": "service", "fname": name, "sha256": None}


def pairs(edges: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in edges}


def test_same_file_to_many_hosts_is_a_deployment() -> None:
    edges = [copy("sccm", f"ws{i}", i, "ccmsetup.exe") for i in range(5)]
    assert select_infections(edges, Baseline(), {}, config.load()) == []


def test_renamed_copies_are_infections() -> None:
    edges = [copy("ws1", f"ws{i}", i, f"r{i}.exe") for i in range(2, 7)]
    assert pairs(select_infections(edges, Baseline(), {}, config.load())) == {("ws1", f"ws{i}") for i in range(2, 7)}


def test_a_deployment_that_spreads_on_is_an_infection() -> None:
    # perfc.dat to five hosts, and one of them pushes perfc.dat on within minutes (NotPetya-like).
    edges = [copy("p0", f"ws{i}", i, "perfc.dat") for i in range(1, 6)]
    edges += [copy("ws2", f"ws{i}", 20 + i, "perfc.dat") for i in range(6, 9)]
    got = pairs(select_infections(edges, Baseline(), {}, config.load()))
    assert ("p0", "ws1") in got and ("ws2", "ws8") in got and len(got) == 8


def test_allowlisted_deployer_is_set_aside_until_tied_to_brute_force() -> None:
    base = Baseline(allow_hosts={"pdq"})
    edges = [copy("pdq", "ws1", 0, "a.exe"), copy("pdq", "ws2", 120, "b.exe")]
    assert select_infections(edges, base, {}, config.load()) == []
    got = select_infections(edges, base, {"pdq": T0 + timedelta(minutes=60)}, config.load())
    assert pairs(got) == {("pdq", "ws2")}
