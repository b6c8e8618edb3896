"""Offline ATT&CK technique names and tactics, from the YAML file shipped beside this module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

_ID = re.compile(r"^T\d{4}(\.\d{3})?$")


@dataclass(frozen=True, slots=True)
class Technique:
    """One ATT&CK technique or sub-technique."""

    id: str
    name: str
    tactics: tuple[str, ...]


@cache
def techniques() -> dict[str, Technique]:
    """Every technique the project knows, by id (read once from ``attack.yaml``)."""
    text = resources.files("wormsign.intel").joinpath("attack.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    out: dict[str, Technique] = {}
    for tid, v in data.items():
        if not _ID.match(str(tid)):
            raise ValueError(f"attack.yaml: {tid!r} is not an ATT&CK technique id")
        out[str(tid)] = Technique(str(tid), str(v["name"]), tuple(v.get("tactics") or ()))
    return out


def lookup(tid: str) -> Technique | None:
    """The technique with this id; a sub-technique falls back to its parent. None when unknown."""
    tid = tid.strip().upper()
    known = techniques()
    return known.get(tid) or known.get(tid.split(".", 1)[0])


def technique_name(tid: str) -> str | None:
    """The display name of a technique (``T1021.002`` -> ``SMB/Windows Admin Shares``), or None.

    A sub-technique the file lacks is named after its parent, as ``Parent (T1234.005)``.
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
