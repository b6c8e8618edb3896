"""Map one Windows event (channel, EventID, EventData) onto the event model.

Every reader of Windows logs (EVTX, Winlogbeat/Elastic Agent JSON, OTRF flat JSON) unwraps
its record into a :class:`WinEvent` and calls :meth:`WindowsMapper.map`. What the fields
mean lives in ``mappings/windows.yaml``; this module only applies it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from xml.sax.saxutils import unescape

import yaml

from wormsign import schema
from wormsign.ingest.base import NULLS, basename, clean, clean_ip, host_key, to_int

#: libyaml's loader when PyYAML has it (ten times faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Transform = Callable[[Any, str, dict[str, Any]], None]  # (value, target, row)


def _set(v: Any, to: str, row: dict[str, Any]) -> None:
    if v.__class__ is str:
        if v not in NULLS:
            row[to] = v
        return
    v = clean(v)
    if v is not None:
        row[to] = str(v)


def _int(v: Any, to: str, row: dict[str, Any]) -> None:
    i = to_int(v)
    if i is not None:
        row[to] = i


def _ip(v: Any, to: str, row: dict[str, Any]) -> None:
    ip = clean_ip(v)
    if ip is not None:
        row[to] = ip


def _lower(v: Any, to: str, row: dict[str, Any]) -> None:
    v = clean(v)
    if v is not None:
        row[to] = str(v).lower()


def _hashes(v: Any, to: str, row: dict[str, Any]) -> None:
    """Sysmon ``Hashes``: ``SHA256=..,MD5=..`` (or a bare hash) -> ``<to>.sha256``/``<to>.md5``."""
    v = clean(v)
    if not v:
        return
    for part in str(v).split(","):
        algo, sep, val = part.partition("=")
        if not sep:
            val, algo = algo, {64: "SHA256", 32: "MD5"}.get(len(algo.strip()), "")
        algo = algo.strip().lower()
        if algo in ("sha256", "md5"):
            row[f"{to}.{algo}"] = val.strip().lower()


_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_CMD = re.compile(r"<Command>(.*?)</Command>", re.S)
_ARGS = re.compile(r"<Arguments>(.*?)</Arguments>", re.S)


def _task_command(v: Any, to: str, row: dict[str, Any]) -> None:
    """The command of a scheduled task, from the task XML of 4698/4702."""
    v = clean(v)
    if not v:
        return
    text = str(v)
    cmd = _CMD.search(text)
    if not cmd:
        return
    args = _ARGS.search(text)
    line = (cmd.group(1).strip() + (" " + args.group(1).strip() if args else "")).strip()
    row[to] = unescape(line, _XML_ENTITIES)  # the task XML escapes &, <, > and quotes


TRANSFORMS: dict[str, Transform] = {
    "str": _set,
    "int": _int,
    "ip": _ip,
    "lower": _lower,
    "hashes": _hashes,
    "task_command": _task_command,
}

#: Columns a mapping may target besides the schema's: prefixes filled by ``hashes`` and
#: temporaries (``_name``) that the mapper consumes.
HASH_PREFIXES = ("process.hash", "file.hash")


@dataclass(frozen=True, slots=True)
class EventSpec:
    kind: str
    action: str | None
    outcome: str | None
    fields: dict[str, tuple[str, Transform]]
    #: (source field, column, transform) in the order they apply: the channel's common
    #: fields first, the event's own after them, so an event's own mapping wins a column.
    steps: tuple[tuple[str, str, Transform], ...] = ()


@dataclass(slots=True)
class WinEvent:
    """A Windows record, unwrapped from whatever carried it."""

    channel: str | None
    provider: str | None
    event_id: int | None
    computer: str | None
    ts: datetime | None
    record: int | None
    data: dict[str, Any]
    raw: str


def _compile_fields(spec: dict[str, Any] | None) -> dict[str, tuple[str, Transform]]:
    out: dict[str, tuple[str, Transform]] = {}
    for src, target in (spec or {}).items():
        if isinstance(target, dict):
            to, via = target["to"], target.get("via", "str")
        else:
            to, via = target, "str"
        if via not in TRANSFORMS:
            raise ValueError(f"windows.yaml: field {src}: unknown transform {via!r}")
        check_target(to, via, f"windows.yaml field {src}")
        out[str(src)] = (to, TRANSFORMS[via])
    return out


def check_target(to: str, via: str, where: str) -> None:
    """Fail on a mapping target that is not a column of the model."""
    if to.startswith("_"):
        return
    if via == "hashes":
        if to not in HASH_PREFIXES:
            raise ValueError(f"{where}: hashes go to one of {HASH_PREFIXES}, not {to!r}")
        return
    if to not in schema.FIELD_BY_NAME:
        raise ValueError(f"{where}: {to!r} is not a column of the event model")


class WindowsMapper:
    """The compiled form of ``windows.yaml``."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.channels: dict[str, tuple[dict[str, tuple[str, Transform]], dict[int, EventSpec]]] = {}
        self._common_steps: dict[str, tuple[tuple[str, str, Transform], ...]] = {}
        for key, block in doc["channels"].items():
            common = _compile_fields(block.get("common"))
            events: dict[int, EventSpec] = {}
            for eid, ev in (block.get("events") or {}).items():
                kind = ev.get("kind", "generic")
                if kind not in schema.KINDS:
                    raise ValueError(f"windows.yaml {key}/{eid}: unknown kind {kind!r}")
                outcome = ev.get("outcome")
                if outcome not in (None, "success", "failure", "status", "unknown"):
                    raise ValueError(f"windows.yaml {key}/{eid}: bad outcome {outcome!r}")
                own = _compile_fields(ev.get("fields"))
                fields = dict(common)
                fields.update(own)
                steps = tuple((k, to, fn) for k, (to, fn) in common.items() if k not in own)
                steps += tuple((k, to, fn) for k, (to, fn) in own.items())
                events[int(eid)] = EventSpec(kind, ev.get("action"), outcome, fields, steps)
            for name in block["match"]:
                self.channels[name.lower()] = (common, events)
                self._common_steps[name.lower()] = tuple((k, to, fn) for k, (to, fn) in common.items())
        self._hosts: dict[str, str] = {}  # computer name -> host key, memoised

    def map(self, ev: WinEvent) -> dict[str, Any]:
        """The model row of one Windows event (never raises on odd field values)."""
        row: dict[str, Any] = {
            "ts": ev.ts,
            "event.code": None if ev.event_id is None else str(ev.event_id),
            "event.provider": ev.provider,
            "event.dataset": ev.channel,
            "raw": ev.raw,
        }
        if ev.computer:
            row["host.name"] = ev.computer
            hk = self._hosts.get(ev.computer)
            if hk is None:
                if len(self._hosts) > 100_000:
                    self._hosts.clear()
                hk = self._hosts[ev.computer] = host_key(ev.computer) or ""
            if hk:
                row["host"] = hk
        key = (ev.channel or "").lower()
        chan = self.channels.get(key)
        spec = chan[1].get(ev.event_id) if (chan and ev.event_id is not None) else None
        steps = spec.steps if spec else self._common_steps.get(key, ())
        data = ev.data
        for k, to, fn in steps:
            v = data.get(k)
            if v is not None:
                fn(v, to, row)
        if spec is None:
            row["kind"] = "generic"
        else:
            row["kind"] = spec.kind
            if spec.action:
                row["event.action"] = spec.action
            if spec.outcome == "status":
                st = row.get("auth.status")
                row["event.outcome"] = (
                    "unknown" if st is None else ("success" if to_int(st) == 0 else "failure")
                )
            elif spec.outcome:
                row["event.outcome"] = spec.outcome
        _derive(row)
        return row


def _derive(row: dict[str, Any]) -> None:
    """Fields computed from others: names from paths, full paths of share access."""
    local = row.pop("_share_local", None)
    rel = row.get("share.path")
    if rel and rel != "\\":
        if local:
            base = local[4:] if local.startswith("\\??\\") else local
            row["file.path"] = base.rstrip("\\") + "\\" + rel.lstrip("\\")
        row.setdefault("file.name", basename(rel))
    exe = row.get("process.executable")
    if exe and "process.name" not in row:
        row["process.name"] = basename(exe)
    fp = row.get("file.path")
    if fp and "file.name" not in row:
        row["file.name"] = basename(fp)
    sd = row.get("source.domain")
    if sd is not None and sd.startswith("\\\\"):
        row["source.domain"] = sd[2:]


@cache
def load_mapper() -> WindowsMapper:
    """The mapper built from the shipped ``windows.yaml``."""
    text = resources.files("wormsign.ingest").joinpath("mappings/windows.yaml").read_text("utf-8")
    return WindowsMapper(yaml.load(text, Loader=_YAML_LOADER))
