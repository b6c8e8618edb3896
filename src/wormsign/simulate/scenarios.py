"""The attack scenarios: each plans its outbreak into a :class:`Plan` mixed into the benign background."""

from __future__ import annotations

from collections.abc import Callable

from wormsign.simulate.emotet import EmotetOutbreak
from wormsign.simulate.notpetya import NotPetyaOutbreak
from wormsign.simulate.plan import Plan
from wormsign.simulate.spray import SprayOutbreak
from wormsign.simulate.util import MS_HOUR, rng
from wormsign.simulate.wannacry import WannaCryOutbreak
from wormsign.simulate.worm import config


def default_attack_at(plan: Plan) -> int:
    lo, hi = config()["common"]["attack_at_hours"]
    span = (plan.org.end - plan.org.start) / MS_HOUR
    hi = min(hi, max(lo, span * 0.5))
    return plan.org.start + int(rng(plan.seed, "attack-at").uniform(min(lo, hi), hi) * MS_HOUR)


def _emotet(plan: Plan, at: int) -> None:
    EmotetOutbreak(plan, at).start()


def _emotet_qakbot(plan: Plan, at: int) -> None:
    EmotetOutbreak(plan, at, with_qakbot=True).start()


def _wannacry(plan: Plan, at: int) -> None:
    WannaCryOutbreak(plan, at).start()


def _notpetya(plan: Plan, at: int) -> None:
    NotPetyaOutbreak(plan, at).start()


def _spray(plan: Plan, at: int) -> None:
    SprayOutbreak(plan, at).start()


def _benign(plan: Plan, at: int) -> None:
    return None


PLANNERS: dict[str, Callable[[Plan, int], None]] = {
    "emotet": _emotet,
    "emotet-qakbot": _emotet_qakbot,
    "wannacry": _wannacry,
    "notpetya": _notpetya,
    "spray": _spray,
    "benign": _benign,
}
