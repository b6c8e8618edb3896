"""Deployment tools' public footprints (``deployment.yaml``): which tool a file or service name is.

A footprint is a claim (any program can call itself ccmsetup.exe): :mod:`wormsign.graph.deploy`
takes a push for a tool's only when its source behaves as a deployer, and
:mod:`wormsign.graph.select` never takes the file of a tool that each use copies afresh (``fresh``:
PsExec's PSEXESVC.exe) on a second host for the file travelling on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

FOOTPRINTS = Path(__file__).with_name("deployment.yaml")
SEV_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Tool:
    """A deployment tool and its footprint (``deployment.yaml``)."""

    id: str
    name: str
    severity: str
    match: tuple[re.Pattern[str], ...]
    fresh: bool = False  # every use copies its file anew (PsExec's PSEXESVC.exe)

    def matches(self, text: str | None) -> bool:
        return bool(text) and any(p.search(str(text)) for p in self.match)


@cache
def tools(path: str = str(FOOTPRINTS)) -> tuple[Tool, ...]:
    """The tools of ``deployment.yaml``; a footprint that does not compile is an error naming it."""
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    out = []
    for t in doc.get("tools") or []:
        if t.get("severity") not in SEV_RANK:
            raise ValueError(f"{path}: tool {t.get('id')!r} has no severity of {sorted(SEV_RANK)}")
        try:
            pats = tuple(re.compile(str(p), re.I) for p in t["match"])
        except (KeyError, re.error) as exc:
            raise ValueError(f"{path}: tool {t.get('id')!r}: {exc}") from exc
        out.append(Tool(str(t["id"]), str(t["name"]), str(t["severity"]), pats, bool(t.get("fresh", False))))
    return tuple(out)


def tool_of(*texts: str | None) -> Tool | None:
    """The first tool whose footprint one of ``texts`` (names, paths, command lines) matches."""
    for t in tools():
        if any(t.matches(x) for x in texts if x):
            return t
    return None
