"""``wormsign eval --suite``: simulate, ingest, hunt and score every scenario x seed x size."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from wormsign.eval.aggregate import summarise
from wormsign.eval.docs import EvalError, incidents_from_dict, truth_from_dict
from wormsign.eval.score import Score, score
from wormsign.ingest import ingest_paths
from wormsign.store import Case

log = logging.getLogger(__name__)

Hunt = Callable[..., Any]


@dataclass(slots=True)
class Run:
    """One scenario x seed x size of the suite."""

    scenario: str
    seed: int
    hosts: int
    days: float
    score: Score | None = None
    events: int = 0
    rejected: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.scenario}-s{self.seed}-h{self.hosts}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "seed": self.seed, "hosts": self.hosts, "days": self.days,
            "events": self.events, "rejected": self.rejected, "seconds": self.seconds,
            "error": self.error, "score": self.score.to_dict() if self.score else None,
        }


def load_simulator() -> tuple[Callable[..., dict[str, Any]], list[str]]:
    """``(simulate, scenario names)`` from :mod:`wormsign.simulate` (imported when a suite runs)."""
    from wormsign.simulate import SCENARIOS, simulate

    return simulate, list(SCENARIOS)


def load_hunt() -> Hunt:
    """The hunt as ``wormsign hunt`` runs it, the in-house Sigma rules included, so that the suite
    counts every incident a responder reads (imported when a suite runs; the hunt imports the
    whole engine)."""
    from wormsign.hunt import hunt

    def hunt_with_sigma(case: Any) -> Any:
        return hunt(case, sigma_rules=[])

    hunt_with_sigma.__module__ = hunt.__module__
    return hunt_with_sigma


def telemetry(out: Path) -> list[str]:
    """The telemetry files the simulator wrote: ``logs/`` when there is one (``feeds/`` are threat
    intel, not telemetry), else every file but truth.json."""
    root = out / "logs" if (out / "logs").is_dir() else out
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and p.name != "truth.json")


def _document(result: Any) -> dict[str, Any] | None:
    if result is None or isinstance(result, dict):
        return result
    doc = getattr(result, "document", None)
    if not isinstance(doc, dict):
        raise EvalError(f"the hunt returned {type(result).__name__} without a .document dict")
    return doc


def run_one(run: Run, simulate: Callable[..., dict[str, Any]], hunt: Hunt | None,
            keep: Path | None = None, workers: int | None = None,
            sim_opts: dict[str, Any] | None = None) -> Run:
    """Simulate, ingest into a fresh case, hunt and score one run; failures land in ``run.error``.
    ``sim_opts`` are keyword options of the simulator (such as ``benign_volume``)."""
    with tempfile.TemporaryDirectory(prefix=f"wormsign-eval-{run.name}-") as tmp:
        sim, clock = Path(tmp) / "sim", time.perf_counter()
        try:
            truth_doc = simulate(run.scenario, run.hosts, run.days, run.seed, sim, **(sim_opts or {}))
            run.seconds["simulate"] = time.perf_counter() - clock
            truth = truth_from_dict(truth_doc, f"truth of {run.name}")
            files = telemetry(sim)
            with Case.open(str(Path(tmp) / "case.duckdb")) as case:
                clock = time.perf_counter()
                report = ingest_paths(files, case, workers=workers)
                run.seconds["ingest"] = time.perf_counter() - clock
                run.events, run.rejected = case.count(), report.stats.rejected
                clock = time.perf_counter()
                doc = _document(hunt(case)) if hunt else None
                run.seconds["hunt"] = time.perf_counter() - clock
            incidents = incidents_from_dict(doc, f"incidents of {run.name}")
            run.score = score(truth, incidents)
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / "truth.json").write_bytes(orjson.dumps(truth_doc, option=orjson.OPT_INDENT_2))
                (keep / "incidents.json").write_bytes(orjson.dumps(doc or {}, option=orjson.OPT_INDENT_2))
        except Exception as exc:  # noqa: BLE001  a failed run is reported; the suite goes on
            log.exception("eval run %s failed", run.name)
            run.error = f"{type(exc).__name__}: {exc}"[:500]
    return run


def run_suite(
    scenarios: Iterable[str] | None,
    seeds: Iterable[int],
    sizes: Iterable[int],
    days: float,
    *,
    out: Path | None = None,
    workers: int | None = None,
    on_run: Callable[[Run, bool], None] | None = None,
    benign_volume: float | None = None,
) -> dict[str, Any]:
    """Run the suite; returns (and writes to ``out/suite.json``) the runs and their summary.
    ``benign_volume`` scales the simulated everyday background (None: the simulator's default)."""
    sim_opts = {} if benign_volume is None else {"benign_volume": benign_volume}
    simulate, known = load_simulator()
    names = list(scenarios or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise EvalError(f"unknown scenario {', '.join(unknown)} (the simulator knows {', '.join(known)})")
    hunt = load_hunt()
    runs = []
    for name in names:
        for size in sizes:
            for seed in seeds:
                run = Run(name, seed, size, days)
                if on_run:
                    on_run(run, False)
                run_one(run, simulate, hunt, out / "runs" / run.name if out else None, workers, sim_opts)
                runs.append(run)
                if on_run:
                    on_run(run, True)
    result = {
        "format": "wormsign.eval-suite/1",
        "hunt": "missing" if hunt is None else f"{hunt.__module__}.{hunt.__name__}",
        "days": days,
        "benign_volume": benign_volume,
        "runs": [r.to_dict() for r in runs],
        "summary": summarise([r.score for r in runs if r.score is not None]),
        "errors": sum(1 for r in runs if r.error),
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "suite.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result
