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
from wormsign.ingest.base import NULLS, basename, clean, clean_ip, derive_names, host_key, to_int

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


#: Sysmon 3 ``Initiated`` and WFP 5156 ``Direction`` (message ids or rendered text) -> network.direction.
_DIRECTIONS = {"true": "outbound", "false": "inbound", "%%14593": "outbound", "%%14592": "inbound",
               "outbound": "outbound", "inbound": "inbound", "1": "outbound", "0": "inbound"}


def _direction(v: Any, to: str, row: dict[str, Any]) -> None:
    v = clean(v)
    if v is not None:
        d = _DIRECTIONS.get(str(v).strip().lower())
        if d:
            row[to] = d


def _ip_port(v: Any, to: str, row: dict[str, Any]) -> None:
    """``10.0.0.5:49152`` or ``[fe80::1]:49152`` (RdpCoreTS ClientIP) -> ``<to>.ip`` and ``<to>.port``."""
    v = clean(v)
    if v is None:
        return
    text = str(v).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdecimal() or (host.count(":") and not host.startswith("[")):
        host, port = text, ""  # a bare address (IPv6 without brackets included)
    ip = clean_ip(host.strip("[]"))
    if ip is not None:
        row[f"{to}.ip"] = ip
        if port:
            row[f"{to}.port"] = int(port)


TRANSFORMS: dict[str, Transform] = {
    "str": _set,
    "int": _int,
    "ip": _ip,
    "lower": _lower,
    "hashes": _hashes,
    "task_command": _task_command,
    "direction": _direction,
    "ip_port": _ip_port,
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
    if via == "ip_port":
        if to not in ("source", "destination"):
            raise ValueError(f"{where}: ip_port goes to source or destination, not {to!r}")
        return
    if to not in schema.FIELD_BY_NAME:
        raise ValueError(f"{where}: {to!r} is not a column of the event model")


#: Columns that :func:`_derive` reads: an event whose mapping fills none of them skips it.
_DERIVE_FROM = frozenset(("_share_local", "share.path", "process.executable", "file.path", "source.domain"))


def _compile_steps(steps: tuple[tuple[str, str, Transform], ...], name: str) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """The steps of one event as one Python function (``fn(data, row)``), in their order.

    Applying a mapping field by field costs a call and a loop turn per field, for every
    record; the generated function does the same lookups and assignments inline (the plain
    ``str`` transform written out, the others called). Field and column names enter the
    source only through ``repr``.
    """
    env: dict[str, Any] = {"NULLS": NULLS}
    lines = ["def " + name + "(data, row):", "    get = data.get"]
    for i, (k, to, fn) in enumerate(steps):
        lines.append(f"    v = get({k!r})")
        lines.append("    if v is not None:")
        if fn is _set:
            env["_set"] = _set
            lines.append("        if v.__class__ is str:")
            lines.append("            if v not in NULLS:")
            lines.append(f"                row[{to!r}] = v")
            lines.append("        else:")
            lines.append(f"            _set(v, {to!r}, row)")
        elif fn is _int:
            env["_int"] = _int
            lines.append("        if v.__class__ is str and len(v) < 19 and v.isdigit() and v.isascii():")
            lines.append(f"            row[{to!r}] = int(v)")
            lines.append("        else:")
            lines.append(f"            _int(v, {to!r}, row)")
        else:
            env[f"_f{i}"] = fn
            lines.append(f"        _f{i}(v, {to!r}, row)")
    if not steps:
        lines.append("    return None")
    exec("\n".join(lines), env)  # noqa: S102 - our own generated code, names quoted by repr
    return env[name]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """What :meth:`WindowsMapper.map` applies to one event: spec (None: channel common only),
    the compiled steps, and whether :func:`_derive` has anything to do."""

    spec: EventSpec | None
    apply: Callable[[dict[str, Any], dict[str, Any]], None]
    derive: bool
    #: (source field, column, transform) in the order they apply (what ``apply`` does)
    steps: tuple[tuple[str, str, Transform], ...] = ()


class WindowsMapper:
    """The compiled form of ``windows.yaml``."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.channels: dict[str, tuple[dict[str, tuple[str, Transform]], dict[int, EventSpec]]] = {}
        self._common_steps: dict[str, tuple[tuple[str, str, Transform], ...]] = {}
        #: channel key -> (event id -> compiled, compiled common steps)
        self._compiled: dict[str, tuple[dict[int, _Compiled], _Compiled]] = {}
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
            common_steps = tuple((k, to, fn) for k, (to, fn) in common.items())
            compiled = (
                {
                    eid: _Compiled(sp, _compile_steps(sp.steps, f"_event_{eid}"),
                                   any(to in _DERIVE_FROM for _, to, _ in sp.steps), sp.steps)
                    for eid, sp in events.items()
                },
                _Compiled(None, _compile_steps(common_steps, "_common"),
                          any(to in _DERIVE_FROM for _, to, _ in common_steps), common_steps),
            )
            for name in block["match"]:
                self.channels[name.lower()] = (common, events)
                self._common_steps[name.lower()] = common_steps
                self._compiled[name.lower()] = compiled
        self._hosts: dict[str, str] = {}  # computer name -> host key, memoised
        self._codes: dict[int, str] = {}  # event id -> its text
        self._by_channel: dict[str | None, tuple[dict[int, _Compiled], _Compiled] | None] = {}

    def host_of(self, computer: str) -> str:
        """The host key of a computer name ("" for none), memoised."""
        hk = self._hosts.get(computer)
        if hk is None:
            if len(self._hosts) > 100_000:
                self._hosts.clear()
            hk = self._hosts[computer] = host_key(computer) or ""
        return hk

    def compiled(self, channel: str | None) -> tuple[dict[int, _Compiled], _Compiled] | None:
        """What applies to a channel's events (by event id, and its common fields), or None."""
        return self._compiled.get((channel or "").lower())

    def source_fields(self) -> frozenset[str]:
        """Every EventData field some mapping reads."""
        return frozenset(k for evs, common in self._compiled.values()
                         for comp in (*evs.values(), common) for k, _, _ in comp.steps)

    def map(self, ev: WinEvent) -> dict[str, Any]:
        """The model row of one Windows event (never raises on odd field values)."""
        return self.map_parts(ev.channel, ev.provider, ev.event_id, ev.computer, ev.ts, ev.data, ev.raw)

    def map_parts(
        self,
        channel: str | None,
        provider: str | None,
        event_id: int | None,
        computer: str | None,
        ts: datetime | None,
        data: dict[str, Any],
        raw: str,
    ) -> dict[str, Any]:
        """:meth:`map` of a :class:`WinEvent`'s parts, without building one (the hot path)."""
        if event_id is None:
            code = None
        else:
            code = self._codes.get(event_id)
            if code is None:
                if len(self._codes) > 100_000:
                    self._codes.clear()
                code = self._codes[event_id] = str(event_id)
        row: dict[str, Any] = {
            "ts": ts,
            "event.code": code,
            "event.provider": provider,
            "event.dataset": channel,
            "raw": raw,
        }
        if computer:
            row["host.name"] = computer
            hk = self.host_of(computer)
            if hk:
                row["host"] = hk
        try:
            chan = self._by_channel[channel]
        except KeyError:
            if len(self._by_channel) > 10_000:
                self._by_channel.clear()
            chan = self._by_channel[channel] = self._compiled.get((channel or "").lower())
        if chan is None:
            row["kind"] = "generic"
            _derive(row)
            return row
        comp = chan[0].get(event_id) if event_id is not None else None
        if comp is None:
            comp = chan[1]
        comp.apply(data, row)
        spec = comp.spec
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
        if comp.derive:
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
    derive_names(row)
    sd = row.get("source.domain")
    if sd is not None and sd.startswith("\\\\"):
        row["source.domain"] = sd[2:]


@cache
def load_mapper() -> WindowsMapper:
    """The mapper built from the shipped ``windows.yaml``."""
    text = resources.files("wormsign.ingest").joinpath("mappings/windows.yaml").read_text("utf-8")
    return WindowsMapper(yaml.load(text, Loader=_YAML_LOADER))
