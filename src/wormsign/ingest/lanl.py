"""LANL "Comprehensive, Multi-Source Cyber-Security Events" ``auth.txt`` (CSV), one auth event a line.

A line is ``time,source user@domain,destination user@domain,source computer,destination
computer,authentication type,logon type,authentication orientation,success/failure``;
``time`` counts seconds from the ``epoch`` in ``mappings/lanl.yaml``. Each line becomes an
``auth`` event: ``host`` is the destination computer (where the logon happens; the
source for orientations not listed in ``on_destination``), ``source.domain``/``source.host``
the source computer, ``user.name``/``user.domain`` the destination user (the account that
logs on), ``user.target.name`` the source user when it differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from wormsign.ingest.base import Sink, Source, host_key, iter_lines, parse_ts

#: libyaml's loader when PyYAML has it (ten times faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FIELDS = 9


@dataclass(frozen=True, slots=True)
class LanlMapping:
    """The compiled form of ``lanl.yaml``."""

    epoch: datetime
    actions: dict[str, str]
    outcomes: dict[str, str]
    logon_types: dict[str, int]
    on_destination: frozenset[str]
    nulls: frozenset[str]


@cache
def load_mapping() -> LanlMapping:
    text = resources.files("wormsign.ingest").joinpath("mappings/lanl.yaml").read_text("utf-8")
    doc = yaml.load(text, Loader=_YAML_LOADER)
    epoch = parse_ts(doc["epoch"])
    if epoch is None:
        raise ValueError(f"lanl.yaml: bad epoch {doc['epoch']!r}")
    for v in doc["outcomes"].values():
        if v not in ("success", "failure", "unknown"):
            raise ValueError(f"lanl.yaml: bad outcome {v!r}")
    return LanlMapping(
        epoch,
        {str(k): str(v) for k, v in doc["actions"].items()},
        {str(k): str(v) for k, v in doc["outcomes"].items()},
        {str(k): int(v) for k, v in doc["logon_types"].items()},
        frozenset(doc["on_destination"]),
        frozenset(doc["nulls"]),
    )


def _split_user(v: str) -> tuple[str | None, str | None]:
    name, _, domain = v.partition("@")
    return name or None, domain or None


def looks_like_auth(line: str) -> bool:
    """A data line of auth.txt: 9 comma fields, an integer time, users with ``@``."""
    parts = line.split(",")
    return len(parts) == FIELDS and parts[0].strip().isdigit() and "@" in parts[1] and "@" in parts[2]


class LanlReader:
    """LANL auth.txt, picked by content (see the module docstring)."""

    name = "lanl"

    def sniff(self, head: bytes, source: Source) -> bool:
        try:
            text = head.decode("utf-8", "strict")
        except UnicodeDecodeError as exc:
            text = head[: exc.start].decode("utf-8")
        lines = text.split("\n")
        if len(lines) > 1:
            lines = lines[:-1]  # the last may be cut by the head
        lines = [ln.rstrip("\r") for ln in lines if ln.strip()][:3]
        if lines and lines[0].lower().startswith("time,"):
            lines = lines[1:]
        return bool(lines) and all(looks_like_auth(ln) for ln in lines)

    def read(self, source: Source, sink: Sink) -> None:
        m = load_mapping()
        last_t, last_ts = -1, m.epoch
        nulls = m.nulls
        for lineno, line in iter_lines(source, sink):
            parts = line.split(",")
            if len(parts) != FIELDS:
                if lineno == 1 and line.lower().startswith("time,"):
                    continue  # a header
                sink.reject(lineno, "bad-line", f"line {lineno}: {len(parts)} fields, want {FIELDS}")
                continue
            t, src_user, dst_user, src_comp, dst_comp, auth_type, logon_type, orient, result = parts
            try:
                sec = int(t)
            except ValueError:
                sink.reject(lineno, "no-timestamp", f"line {lineno}: time {t[:40]!r} is not a number")
                continue
            if sec != last_t:
                try:
                    last_ts = m.epoch + timedelta(seconds=sec)
                except OverflowError:
                    sink.reject(lineno, "no-timestamp", f"line {lineno}: time {sec} out of range")
                    continue
                last_t = sec
            src_comp = None if src_comp in nulls else src_comp
            dst_comp = None if dst_comp in nulls else dst_comp
            src_name, src_dom = _split_user(src_user)
            dst_name, dst_dom = _split_user(dst_user)
            row: dict[str, Any] = {
                "ts": last_ts,
                "kind": "auth",
                "src.record": lineno,
                "event.provider": "lanl",
                "event.dataset": "lanl.auth",
                "event.action": m.actions.get(orient, orient.lower() or None),
                "event.outcome": m.outcomes.get(result, "unknown"),
                "user.name": dst_name or src_name,
                "user.domain": dst_dom or src_dom,
                "auth.package": None if auth_type in nulls else auth_type,
                "winlog.logon.type": m.logon_types.get(logon_type),
                "source.domain": src_comp,
                "source.host": host_key(src_comp),
                "destination.domain": dst_comp,
                "destination.host": host_key(dst_comp),
                "raw": line,
            }
            if src_name and src_name != dst_name:
                row["user.target.name"] = src_name
            on_dst = orient in m.on_destination
            row["host"] = row["destination.host"] if on_dst else row["source.host"]
            row["host.name"] = dst_comp if on_dst else src_comp
            sink.add(row)
