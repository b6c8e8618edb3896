"""The outbreak simulator: an organisation's telemetry with a worm mixed in, and the truth about it.

``simulate(scenario, hosts, days, seed, out_dir)`` writes ``logs/winlogbeat/*.ndjson.gz``
(Winlogbeat 8 documents), ``logs/zeek/<day>/*.log.gz`` (one Zeek sensor), ``feeds/`` (threat
intel) and ``truth.json`` under ``out_dir``, and returns the truth dict.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

from wormsign.simulate.benign import config as benign_config
from wormsign.simulate.campaigns import BenignDays
from wormsign.simulate.org import build
from wormsign.simulate.plan import Plan
from wormsign.simulate.scenarios import PLANNERS, default_attack_at
from wormsign.simulate.truth import truth, write_feeds, write_truth
from wormsign.simulate.util import MS_DAY, MS_HOUR, parse_iso_ms
from wormsign.simulate.volume import maker as volume_maker
from wormsign.simulate.writer import write

SCENARIOS: tuple[str, ...] = tuple(PLANNERS)
DEFAULT_START = "2026-03-02T00:00:00Z"  # a Monday


def simulate(scenario: str, hosts: int, days: int, seed: int, out_dir: str | os.PathLike[str], *,
             start: str = DEFAULT_START, attack_at: float | None = None, zeek_format: str = "tsv",
             compresslevel: int = 6, chunk_hosts: int = 100, overwrite: bool = False,
             progress: Callable[[int, int], None] | None = None, benign_volume: float | None = None) -> dict[str, Any]:
    """Simulate ``scenario`` on ``hosts`` hosts for ``days`` days; write the files; return the truth.

    ``attack_at`` is hours after ``start`` (default: drawn from the seed within the first day).
    Same arguments give byte-identical files. A directory that already holds a run is refused
    unless ``overwrite`` (then its ``logs/``, ``feeds/`` and ``truth.json`` are replaced).
    ``benign_volume`` (default: ``volume`` in ``benign.yaml``, 1) scales the everyday background: at
    v, each host logs about (v - 1) x 170 more records a day (see ``volume.py``); hosts per
    Winlogbeat file shrink by the same factor, so a chunk's memory stays the same.
    """
    if scenario not in PLANNERS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    if days < 1:
        raise ValueError("days must be at least 1")
    if zeek_format not in ("tsv", "json"):
        raise ValueError("zeek_format is tsv or json")
    if attack_at is not None and not 0 <= attack_at < days * 24:
        raise ValueError(f"attack_at must be within the run: 0 <= hours < {days * 24}")
    try:
        t0 = parse_iso_ms(start)
    except ValueError:
        raise ValueError(f"start is not an ISO 8601 time: {start!r}") from None
    t0 -= t0 % MS_DAY
    org = build(hosts, seed, t0, days)
    plan = Plan(org, seed, scenario)
    plan.benign = BenignDays(plan, days)  # numbers every day's everyday actions; holds none yet
    at = default_attack_at(plan) if attack_at is None else t0 + int(attack_at * MS_HOUR)
    PLANNERS[scenario](plan, at)
    volume = float(benign_config()["volume"] if benign_volume is None else benign_volume)
    background = volume_maker(volume)
    if background is not None:
        chunk_hosts = max(1, round(chunk_hosts / volume))
    out = os.fspath(out_dir)
    _prepare(out, overwrite)
    ids: list[str] = []
    stats = write(plan, out, days, chunk_hosts=chunk_hosts, zeek_format=zeek_format, level=compresslevel,
                  attack_ids=ids, progress=progress, background=background)
    write_feeds(out, plan)
    doc = truth(plan, hosts=hosts, days=days, attack_ids=ids)
    write_truth(os.path.join(out, "truth.json"), doc)
    doc["_stats"] = {"windows_events": stats.windows, "zeek_records": stats.zeek, "events": stats.events}
    return doc


def _prepare(out: str, overwrite: bool) -> None:
    ours = [os.path.join(out, x) for x in ("logs", "feeds", "truth.json")]
    if any(os.path.exists(p) for p in ours):
        if not overwrite:
            raise ValueError(f"{out} already holds a simulated run (logs/, feeds/ or truth.json); "
                             "choose another directory or overwrite it")
        for p in ours:
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.unlink(p)
    os.makedirs(out, exist_ok=True)


__all__ = ["SCENARIOS", "simulate"]
