"""The Windows DHCP Server audit log (``DhcpSrvLog-<Day>.log``, ``DhcpV6SrvLog-<Day>.log``), one event a line.

The server writes a legend (free text), a CSV header line (``ID,Date,Time,Description,IP
Address,Host Name,MAC Address,...``; older servers stop at ``MAC Address``), then one event a
line: ``10,06/14/25,08:41:09,Assign,10.44.7.23,WS-0042.corp.example,0015A1B2C3D4,...``. The
legend and blank lines are no records. Columns are taken by the names the header gives.
``Date``/``Time`` are the server's local time (``MM/DD/YY``), read in the zone of
``mappings/dhcpsrv.yaml`` (``WORMSIGN_DHCPSRV_TZ`` overrides it). Each line becomes an event
of the kind and action its ID maps to: ``source.ip`` the client's address, ``source.domain``
its host name, ``message`` its MAC (``00:15:a1:b2:c3:d4``, as Zeek writes one) or DUID,
``event.code`` the ID; ``host`` is the server (see :func:`server_of`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from wormsign import schema
from wormsign.ingest.base import Sink, Source, clean_ip, host_key, iter_lines

#: libyaml's loader when PyYAML has it, else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ENV_TZ = "WORMSIGN_DHCPSRV_TZ"
ENV_SERVER = "WORMSIGN_DHCPSRV_SERVER"
PROVIDER = "Microsoft-Windows-DHCP-Server"
ROLES = frozenset(("id", "date", "time", "description", "ip", "name", "mac", "user", "transaction"))
OUTCOMES = frozenset(("success", "failure", "unknown"))

_TITLE = re.compile(rb"Microsoft DHCP(?:v6)? Service Activity Log", re.IGNORECASE)
_HEADER = re.compile(r"\s*ID\s*,\s*Date\s*,\s*Time\s*,\s*Description\s*,", re.IGNORECASE)
_RECORD = re.compile(r"\s*\d{1,5},\d{1,2}/\d{1,2}/\d{2}(?:\d{2})?,\d{1,2}:\d{2}:\d{2},")
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})")
_MAC = re.compile(r"[0-9A-Fa-f]{12}")
_HOSTLIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_DRIVE = re.compile(r"[A-Za-z](?:\$|:|%3[Aa])?")


@dataclass(frozen=True, slots=True)
class DhcpMapping:
    """The compiled form of ``dhcpsrv.yaml``."""

    timezone: str
    server: str | None
    not_hosts: frozenset[str]
    columns: dict[str, str]  # header column -> role
    layouts: dict[str, tuple[str, ...]]  # dataset -> the longest header of that family
    events: dict[int, tuple[str, str, str | None]]  # ID -> (kind, action, outcome)
    fields: dict[str, str]  # role -> event column


def column_key(name: str) -> str:
    """A header column as the mapping names it: lower case, trimmed, no trailing '.'."""
    return name.strip().rstrip(".").strip().lower()


def compile_mapping(doc: dict[str, Any]) -> DhcpMapping:
    """Check a parsed ``dhcpsrv.yaml`` against the event model; raise ValueError on a wrong entry."""
    zone(str(doc["timezone"]))
    columns = {column_key(str(k)): str(v) for k, v in doc["columns"].items()}
    for col, role in columns.items():
        if role not in ROLES:
            raise ValueError(f"dhcpsrv.yaml: column {col!r}: unknown role {role!r}")
    fields = {str(k): str(v) for k, v in doc["fields"].items()}
    for role, to in fields.items():
        if role not in ROLES:
            raise ValueError(f"dhcpsrv.yaml: fields: unknown role {role!r}")
        if to not in schema.FIELD_BY_NAME:
            raise ValueError(f"dhcpsrv.yaml: fields: {role} -> {to!r} is not a column of the event model")
    events: dict[int, tuple[str, str, str | None]] = {}
    for eid, spec in doc["events"].items():
        kind, action, *rest = spec
        outcome = rest[0] if rest else None
        if kind not in schema.KINDS:
            raise ValueError(f"dhcpsrv.yaml: event {eid}: unknown kind {kind!r}")
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"dhcpsrv.yaml: event {eid}: bad outcome {outcome!r}")
        events[int(str(eid))] = (str(kind), str(action), outcome)
    layouts = {str(k): tuple(column_key(c) for c in v) for k, v in doc["layouts"].items()}
    for name, cols in layouts.items():
        if cols[:4] != ("id", "date", "time", "description"):
            raise ValueError(f"dhcpsrv.yaml: layout {name} does not start with ID,Date,Time,Description")
    server = doc.get("server")
    return DhcpMapping(
        str(doc["timezone"]),
        str(server) if server else None,
        frozenset(str(n).lower() for n in doc.get("not_hosts") or ()),
        columns,
        layouts,
        events,
        fields,
    )


@cache
def load_mapping() -> DhcpMapping:
    text = resources.files("wormsign.ingest").joinpath("mappings/dhcpsrv.yaml").read_text("utf-8")
    return compile_mapping(yaml.load(text, Loader=_YAML_LOADER))


@cache
def zone(name: str) -> tzinfo:
    """The zone of an IANA name (``UTC``, ``Europe/Berlin``); ValueError when unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"dhcpsrv: unknown time zone {name!r}") from exc


def server_of(source: Source, m: DhcpMapping) -> str | None:
    """The name of the server that wrote the file: the setting, else the folder it lies in.

    Folders of the Windows path and collectors' drive folders (``not_hosts``, ``C``, ``C$``,
    ``C%3A``) are skipped; the first other folder names the server when it looks like a host
    name. An archive's member path continues its archive's (``DC01.zip!dhcp/...``). None: no
    folder names one.
    """
    setting = os.environ.get(ENV_SERVER) or m.server
    if setting:
        return setting[:255]
    archive, _, member = source.name.partition("!")
    parts = re.split(r"[\\/]+", archive)
    if member:
        parts[-1] = re.sub(r"\.(zip|gz|tgz|tar|7z)$", "", parts[-1], flags=re.IGNORECASE)
        parts += re.split(r"[\\/]+", member)
    for folder in reversed(parts[:-1]):
        if not folder or folder.lower() in m.not_hosts or _DRIVE.fullmatch(folder):
            continue
        if _HOSTLIKE.fullmatch(folder) and not folder.isdigit():
            return folder
        return None
    return None


def mac_text(v: str) -> str:
    """A MAC as Zeek writes one (``00:15:a1:b2:c3:d4``) when it is 12 hex digits, else as given."""
    if _MAC.fullmatch(v):
        v = v.lower()
        return ":".join(v[i : i + 2] for i in range(0, 12, 2))
    return v


class DhcpSrvReader:
    """The Windows DHCP Server audit log, picked by its legend or CSV header (see the module docstring)."""

    name = "dhcpsrv"

    def sniff(self, head: bytes, source: Source) -> bool:
        if _TITLE.search(head[:2048]):
            return True
        try:
            text = head.decode("utf-8", "strict")
        except UnicodeDecodeError as exc:
            text = head[: exc.start].decode("utf-8")
        lines = [ln.lstrip("\ufeff") for ln in text.split("\n")]
        if any(_HEADER.match(ln) for ln in lines):
            return True
        # A file cut below its header: its first lines are all records.
        lines = [ln for ln in (lines[:-1] if len(lines) > 1 else lines) if ln.strip()][:3]
        return bool(lines) and all(_RECORD.match(ln) for ln in lines)

    def read(self, source: Source, sink: Sink) -> None:
        m = load_mapping()
        tz = zone(os.environ.get(ENV_TZ) or m.timezone)
        server = server_of(source, m)
        host = host_key(server) or "-"
        dataset = "dhcpsrv"
        layout = m.layouts[dataset]
        header: tuple[str, ...] | None = None
        for lineno, line in iter_lines(source, sink):
            line = line.lstrip("\ufeff")
            if header is None:
                if _HEADER.match(line):
                    header = tuple(column_key(c) for c in line.split(","))
                    if "ipv6 address" in header:
                        dataset = "dhcpsrv6"
                    continue
                if "DHCPv6" in line and not line[:1].isdigit():
                    dataset, layout = "dhcpsrv6", m.layouts["dhcpsrv6"]
                if not re.match(r"\s*\d+,", line):
                    continue  # the legend
            parts = line.split(",")
            cols = header or layout
            # Without a header, any older layout (a prefix of the longest, 7 columns or more) is read.
            if len(parts) != len(cols) and (header is not None or not 7 <= len(parts) <= len(cols)):
                sink.reject(lineno, "bad-field-count",
                            f"line {lineno}: {len(parts)} fields, the header names {len(cols)}")
                continue
            row = self._row(m, tz, dict(zip(cols, parts, strict=False)), lineno, sink)
            if row is None:
                continue
            row.update({"host": host, "event.dataset": dataset, "raw": line})
            if server:
                row["host.name"] = server
            sink.add(row)

    @staticmethod
    def _row(m: DhcpMapping, tz: tzinfo, rec: dict[str, str], lineno: int,
             sink: Sink) -> dict[str, Any] | None:
        vals: dict[str, str] = {}
        for col, v in rec.items():
            role = m.columns.get(col)
            v = v.strip()
            if role and v and role not in vals:
                vals[role] = v
        eid_text = vals.get("id", "")
        if not eid_text.isdigit() or len(eid_text) > 5:
            sink.reject(lineno, "bad-id", f"line {lineno}: event ID {eid_text[:20]!r} is not a number")
            return None
        d, t = _DATE.fullmatch(vals.get("date", "")), _TIME.fullmatch(vals.get("time", ""))
        try:
            if d is None or t is None:
                raise ValueError("not MM/DD/YY and HH:MM:SS")
            year = int(d[3]) + (2000 if len(d[3]) == 2 else 0)
            local = datetime(year, int(d[1]), int(d[2]), int(t[1]), int(t[2]), int(t[3]), tzinfo=tz)
            ts = local.astimezone(UTC)
        except ValueError as exc:
            when = f"{vals.get('date', '')[:12]} {vals.get('time', '')[:12]}"
            sink.reject(lineno, "bad-timestamp", f"line {lineno}: {when!r}: {exc}")
            return None
        eid = int(eid_text)
        known = m.events.get(eid)
        if known is None:
            # An ID the mapping does not list (rogue server detection, 50+, writes the domain
            # in Host Name): its description is the action, its columns stay in raw only.
            vals = {k: v for k, v in vals.items() if k in ("id", "date", "time", "description")}
            known = ("generic", (vals.get("description") or "").lower()[:64] or None, None)
        kind, action, outcome = known
        row: dict[str, Any] = {
            "ts": ts,
            "kind": kind,
            "src.record": lineno,
            "event.code": eid_text,
            "event.provider": PROVIDER,
            "event.action": action,
        }
        if outcome:
            row["event.outcome"] = outcome
        for role, to in m.fields.items():
            v = vals.get(role)
            if v is None:
                continue
            if role == "ip":
                ip = clean_ip(v)
                if ip is None:
                    continue
                row[to] = ip
            elif role == "mac":
                row[to] = mac_text(v)
            elif role == "transaction" and v.strip("0") == "":
                continue  # 0: no transaction (the server's own events)
            else:
                row[to] = v
        name = row.get("source.domain")
        if name:
            row["source.host"] = host_key(name)
        return row
