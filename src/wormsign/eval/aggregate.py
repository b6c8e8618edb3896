"""Pool the scores of many hunts into one summary (per scenario, and overall)."""

from __future__ import annotations

from statistics import median
from typing import Any

from wormsign.eval.docs import settings
from wormsign.eval.score import Score


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def pool(scores: list[Score]) -> dict[str, Any]:
    """Pooled (micro-averaged) scores: counts are summed over the runs before dividing, so a
    big run weighs more than a small one. Time to first alert is the median over the runs
    that alerted; ``alerted`` counts them out of the runs with a spread."""
    tp = sum(s.true_positives for s in scores)
    truly = sum(s.true_infected for s in scores)
    found = sum(s.found_infected for s in scores)
    pz = [s.patient_zero_right for s in scores if s.patient_zero_right is not None]
    ttfa = [s.time_to_first_alert_s for s in scores if s.time_to_first_alert_s is not None]
    spread_runs = sum(1 for s in scores if s.first_spread is not None)
    host_days = sum(s.hosts * s.days for s in scores)
    false = sum(s.false_incidents for s in scores)
    unit = float(settings()["host_days_unit"])
    by_sev: dict[str, int] = {}
    for s in scores:
        for sev, n in s.incidents_by_severity.items():
            by_sev[sev] = by_sev.get(sev, 0) + n
    false_highs = sum(s.false_highs for s in scores)
    return {
        "runs": len(scores),
        "recall": _ratio(tp, truly),
        "precision": _ratio(tp, found),
        "infector_accuracy": _ratio(sum(s.infectors_right for s in scores), truly),
        "patient_zero_rate": _ratio(sum(pz), len(pz)),
        "time_to_first_alert_s": median(ttfa) if ttfa else None,
        "alerted": sum(1 for s in scores if s.first_spread is not None and s.first_alert is not None),
        "spread_runs": spread_runs,
        "false_incidents": false,
        "false_incidents_per_10k_host_days": (
            false / host_days * unit if host_days else None
        ),
        "incidents": sum(s.incidents for s in scores),
        "incidents_by_severity": by_sev,
        "incidents_per_run_by_severity": {k: v / len(scores) for k, v in by_sev.items()} if scores else {},
        "high_incidents": sum(s.high_incidents for s in scores),
        "false_highs": false_highs,
        "false_highs_per_10k_host_days": false_highs / host_days * unit if host_days else None,
        "host_days": host_days,
        "lockout_attribution": _ratio(sum(s.lockouts_right for s in scores),
                                      sum(s.true_lockouts for s in scores)),
        "true_infected": truly,
        "found_infected": found,
        "true_positives": tp,
    }


def floor_verdicts(scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each floor of eval.yaml (``floors``) judged on the pooled scenarios it names that were run:
    ``{measure: {"max": limit, "scenarios": {name: met}}}``; a scenario with no figure (no
    host-days) is ``None``, neither met nor missed."""
    out: dict[str, Any] = {}
    for measure, floor in (settings().get("floors") or {}).items():
        limit = float(floor["max"])
        verdicts = {}
        for name in floor["scenarios"]:
            if name in scenarios:
                v = scenarios[name].get(measure)
                verdicts[name] = None if v is None else v <= limit
        out[measure] = {"max": limit, "scenarios": verdicts}
    return out


def summarise(scores: list[Score]) -> dict[str, Any]:
    """``{"scenarios": {name: pooled}, "overall": pooled, "floors": verdicts}`` in first-seen
    scenario order (``floors``: :func:`floor_verdicts`)."""
    by: dict[str, list[Score]] = {}
    for s in scores:
        by.setdefault(s.scenario, []).append(s)
    scenarios = {k: pool(v) for k, v in by.items()}
    return {"scenarios": scenarios, "overall": pool(scores), "floors": floor_verdicts(scenarios)}
