"""Score a hunt against the simulator's truth: ``wormsign eval`` (one hunt) and ``--suite``."""

from __future__ import annotations

from wormsign.eval.aggregate import pool, summarise
from wormsign.eval.docs import EvalError, Truth, load_incidents, load_truth, truth_from_dict
from wormsign.eval.score import Score, score
from wormsign.eval.suite import Run, run_suite

__all__ = [
    "EvalError", "Run", "Score", "Truth", "load_incidents", "load_truth", "pool", "run_suite",
    "score", "summarise", "truth_from_dict",
]
