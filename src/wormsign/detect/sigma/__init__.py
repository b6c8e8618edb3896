"""Sigma rules on the case: single-event and correlation rules, converted with pySigma to DuckDB SQL."""

from __future__ import annotations

from wormsign.detect.sigma.runner import SigmaRun, run_sigma

__all__ = ["SigmaRun", "run_sigma"]
