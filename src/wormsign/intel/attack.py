"""Offline ATT&CK Enterprise technique names and tactics, from MITRE's data shipped beside this module.

``attack.json`` holds every Enterprise technique and sub-technique of one ATT&CK release (id,
name, tactics; revoked ones with the id that replaced them, deprecated ones marked), written by
``scripts/attack_data.py`` from MITRE's STIX (github.com/mitre/cti), with the release and the
commit it came from. ``attack_additions.json`` adds the few ids of a newer release that rules
already use, until ``attack.json`` is regenerated from that release. Nothing is fetched at run time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
FILES = ("attack.json", "attack_additions.json")  # the first file's entry wins


@dataclass(frozen=True, slots=True)
class Technique:
    """One ATT&CK technique or sub-technique."""

    id: str
    name: str
    tactics: tuple[str, ...]
    revoked_by: str | None = None  # the technique that replaced a revoked one
    deprecated: bool = False


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("wormsign.intel").joinpath(name).read_text(encoding="utf-8"))


@cache
def data_version() -> dict[str, str]:
    """The ATT&CK release, source and source commit of ``attack.json``."""
    doc = _load(FILES[0])
    return {k: str(doc[k]) for k in ("attack_version", "domain", "source", "source_commit")}


@cache
def techniques() -> dict[str, Technique]:
    """Every technique the project knows, by id (read once from the data files)."""
    out: dict[str, Technique] = {}
    for name in FILES:
        for tid, v in _load(name)["techniques"].items():
            if not _ID.match(tid):
                raise ValueError(f"{name}: {tid!r} is not an ATT&CK technique id")
            if tid not in out:
                out[tid] = Technique(tid, str(v["name"]), tuple(v.get("tactics") or ()),
                                     v.get("revoked_by"), bool(v.get("deprecated")))
    return out


def lookup(tid: str) -> Technique | None:
    """The technique with this id; a sub-technique falls back to its parent. None when unknown."""
    tid = tid.strip().upper()
    known = techniques()
    return known.get(tid) or known.get(tid.split(".", 1)[0])


def technique_name(tid: str) -> str | None:
    """The display name of a technique (``T1021.002`` -> ``SMB/Windows Admin Shares``), or None.

    A sub-technique the data lacks is named after its parent, as ``Parent (T1234.005)``; a
    revoked technique keeps its own name (``T1086`` -> ``PowerShell``).
    """
    t = techniques().get(tid.strip().upper())
    if t is not None:
        return t.name
    parent = lookup(tid)
    return f"{parent.name} ({tid.strip().upper()})" if parent else None


def tactics(tid: str) -> tuple[str, ...]:
    """The tactics of a technique (empty when unknown)."""
    t = lookup(tid)
    return t.tactics if t else ()
