"""The learned baseline of software deployers (SCCM, PDQ, backup), plus an explicit allowlist.

A host that fanned the same file out to many hosts on several distinct days is a deployer,
and those files are its known binaries: their copies are down-ranked (kept out of the
infection graph). Still flagged: a new deployer, a known deployer pushing a never-seen
binary, a deployment after brute force from the deployer, and a deployment whose targets
spread on (see :func:`Baseline.benign` and :mod:`wormsign.hunt`).

Allowlist YAML::

    deployers: [sccm-01]          # hosts whose pushes are expected
    files: [ccmsetup.exe, <sha256>]  # file names or hashes anyone may push
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wormsign.store import Case

LEARN = """
WITH daily AS (
    SELECT source, coalesce(sha256, fname) AS fkey, CAST(time_bucket(INTERVAL 1 DAY, ts) AS DATE) AS day,
           count(DISTINCT target) AS n
    FROM h_drops WHERE source IS NOT NULL GROUP BY ALL
)
SELECT source, fkey, count(DISTINCT day) AS days FROM daily WHERE n >= ? GROUP BY ALL
"""


@dataclass(slots=True)
class Baseline:
    """Who routinely deploys what."""

    deployers: set[str] = field(default_factory=set)
    known: set[tuple[str, str]] = field(default_factory=set)  # (deployer, file key)
    allow_hosts: set[str] = field(default_factory=set)
    allow_files: set[str] = field(default_factory=set)

    def benign(self, edge: dict[str, Any], bruteforcers: set[str]) -> bool:
        """True when a copy edge is a routine deployment (before the spreads-on check)."""
        src = edge["source"]
        if src in bruteforcers or edge.get("kind") == "exploit":
            return False
        keys = {k.lower() for k in (edge.get("sha256"), edge.get("fname")) if k}
        if src in self.allow_hosts or keys & self.allow_files:
            return True
        return src in self.deployers and any((src, k) in self.known for k in keys)


    def routine_alert(self, alert: dict[str, Any], bruteforcers: set[str]) -> bool:
        """True when a lateral-movement alert is a known deployer pushing what it always pushes
        (or an allowlisted host or file). A deployer tied to brute force, or naming a file it
        was never seen pushing, is not routine."""
        src = alert.get("source_host")
        if not src or src in bruteforcers:
            return False
        f = alert.get("fields") or {}
        # Each file the alert names, as (name, hash): it is known when either was seen pushed.
        files = [(f.get("file"), f.get("file.hash.sha256"))] if f.get("file") else []
        files += [(n, None) for n in f.get("files") or [] if n]
        files = [(str(n).lower(), str(h).lower() if h else None) for n, h in files]
        if src in self.allow_hosts or (files and all(n in self.allow_files or h in self.allow_files
                                                      for n, h in files)):
            return True
        if src not in self.deployers:
            return False
        return all((src, n) in self.known or (h is not None and (src, h) in self.known) for n, h in files)


def load_allowlist(path: str | None) -> tuple[set[str], set[str]]:
    """(hosts, files) from an allowlist YAML; a bad file is an error naming it."""
    if not path:
        return set(), set()
    with open(Path(path), encoding="utf-8") as fh:
        d = yaml.safe_load(fh) or {}
    if not isinstance(d, dict):
        raise ValueError(f"{path}: an allowlist is a mapping with 'deployers' and 'files'")
    hosts = {str(h).lower() for h in d.get("deployers") or []}
    files = {str(f).lower() for f in d.get("files") or []}
    return hosts, files


def learn(case: Case, cfg: dict[str, Any], allowlist: str | None = None) -> Baseline:
    """Learn deployers from ``h_drops`` (see :mod:`wormsign.detect.prep`)."""
    b = Baseline()
    b.allow_hosts, b.allow_files = load_allowlist(allowlist)
    for source, fkey, days in case.rows(LEARN, [int(cfg["deployer_min_hosts"])]):
        if days >= int(cfg["deployer_min_days"]):
            b.deployers.add(source)
            b.known.add((source, str(fkey).lower()))
    return b
