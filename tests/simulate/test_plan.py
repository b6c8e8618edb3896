"""Everyday actions planned a day at a time are the actions of a whole-run plan: same ids, same order."""

from __future__ import annotations

from wormsign.simulate.campaigns import BenignDays, plan_benign
from wormsign.simulate.org import build
from wormsign.simulate.plan import Plan
from wormsign.simulate.scenarios import PLANNERS, default_attack_at

START = 1772409600000  # 2026-03-02, a Monday
HOSTS, DAYS, SEED = 3000, 9, 4


def _key(actions: list) -> list[tuple]:
    return [(a.id, a.kind, a.t, a.src and a.src.name, a.dst and a.dst.name, a.attack, sorted(a.p.items()))
            for a in actions]


def test_day_by_day_equals_whole_run() -> None:
    org = build(HOSTS, SEED, START, DAYS)
    whole = Plan(org, SEED, "emotet")
    plan_benign(whole, DAYS)
    PLANNERS["emotet"](whole, default_attack_at(whole))
    lazy = Plan(org, SEED, "emotet")
    lazy.benign = BenignDays(lazy, DAYS)
    PLANNERS["emotet"](lazy, default_attack_at(lazy))
    assert lazy.next_id == whole.next_id > 20_000
    # the Tuesday patch wave of 3,000 workstations starts late enough to run past midnight
    assert any(r > d for d, r in enumerate(lazy.benign.reach))
    for d in range(DAYS):
        for h in org.hosts:
            assert _key(lazy.for_host_day(h, d)) == _key(whole.for_host_day(h, d)), (h.name, d)
        assert all(lazy.benign.reach[p] >= d for p in lazy.benign.loaded)  # only what can still fall on d
        assert len(lazy.benign.loaded) <= 2
