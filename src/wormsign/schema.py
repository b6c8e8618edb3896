"""The one event model: every reader yields rows of this Arrow schema.

Field names follow the Elastic Common Schema (ECS) where ECS has a field; the few
wormsign extensions (``share.*``, ``service.image``, ``task.*``, ``rpc.*``, ``auth.*``,
``source.host``/``destination.host``) are marked ``ext`` in ``FIELDS`` below and in
``docs/schema.md``.

Every row carries ``host`` (the resolved host key), ``ts`` (UTC), ``kind`` and a source
pointer (``src.file``, ``src.record``, ``src.digest``) plus the original record (``raw``).
In DuckDB the dotted names are quoted identifiers: ``SELECT "source.ip" FROM events``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: Kinds of event. ``generic`` keeps every record that has no richer meaning.
KINDS: tuple[str, ...] = (
    "auth",  # 4624 4625 4648 4740 4768 4769 4771 4776, LANL auth
    "process",  # Sysmon 1, 4688
    "file",  # Sysmon 11, 23 (and 26)
    "share",  # 5140, 5145
    "service",  # 7045, 4697
    "task",  # 4698, 4702
    "wmi",  # Sysmon 19/20/21, WMI-Activity 5857-5861
    "network",  # Sysmon 3, Zeek conn
    "dns",  # Sysmon 22, Zeek dns
    "smb_file",  # Zeek smb_files
    "smb_mapping",  # Zeek smb_mapping
    "dce_rpc",  # Zeek dce_rpc
    "ntlm",  # Zeek ntlm
    "kerberos",  # Zeek kerberos
    "dhcp",  # Zeek dhcp
    "generic",
)


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the event model."""

    name: str
    type: pa.DataType
    doc: str
    ext: bool = False  # a wormsign extension, not an ECS field

    @property
    def sql(self) -> str:
        """The column as a quoted SQL identifier."""
        return '"' + self.name + '"'


_S = pa.string()
_I = pa.int64()
TS_TYPE = pa.timestamp("us", tz="UTC")

FIELDS: tuple[Field, ...] = (
    # -- the fields every event has ------------------------------------------------
    Field("ts", TS_TYPE, "When the event happened, UTC, microseconds.", ext=True),
    Field("host", _S, "Resolved host key: lower-case short host name, or the IP when unknown.", ext=True),
    Field("kind", _S, "Kind of event, one of schema.KINDS.", ext=True),
    Field("src.file", _S, "Path of the file the record came from (inside an archive: archive!member).", ext=True),
    Field("src.record", _I, "Record number in the file (EVTX record id, or 1-based line).", ext=True),
    Field("src.digest", _S, "SHA-256 of the source file; with src.record it keys the event.", ext=True),
    Field("src.format", _S, "Reader that parsed the record (evtx, ecs, otrf, zeek, lanl, dhcpsrv).", ext=True),
    Field("raw", _S, "The original record, as JSON text (bounded in size).", ext=True),
    # -- event ---------------------------------------------------------------------
    Field("event.id", _S, "Identifier the source gave the event (ECS event.id, Zeek uid), if any."),
    Field("event.code", _S, "Event code: Windows EventID, or Zeek log name."),
    Field("event.provider", _S, "Windows provider name, or the sensor."),
    Field("event.dataset", _S, "Channel or log (Security, Microsoft-Windows-Sysmon/Operational, zeek.conn)."),
    Field("event.action", _S, "What happened (logon, logon-failed, file-write, ...)."),
    Field("event.outcome", _S, "success, failure or unknown."),
    # -- host ----------------------------------------------------------------------
    Field("host.name", _S, "Host name as recorded (often an FQDN)."),
    Field("host.ip", _S, "Address of the host that recorded the event, when known."),
    # -- user ----------------------------------------------------------------------
    Field("user.name", _S, "Account the event is about (logon target, locked account, acting user)."),
    Field("user.domain", _S, "Domain of user.name."),
    Field("user.target.name", _S, "Second account, where there are two (4648 explicit credentials)."),
    Field("winlog.logon.type", _I, "Windows logon type (2, 3, 10, ...)."),
    Field("winlog.logon.id", _S, "Windows logon id."),
    Field("auth.status", _S, "NTSTATUS or Kerberos result code of an authentication.", ext=True),
    Field("auth.sub_status", _S, "Sub-status of a failed logon (0xC000006A bad password, ...).", ext=True),
    Field("auth.package", _S, "Authentication package or protocol (NTLM, Kerberos).", ext=True),
    # -- network -------------------------------------------------------------------
    Field("source.ip", _S, "Source address."),
    Field("source.port", _I, "Source port."),
    Field("source.domain", _S, "Source host name as the record gives it (WorkstationName, SourceHostname)."),
    Field("source.host", _S, "Source resolved to a host key.", ext=True),
    Field("destination.ip", _S, "Destination address."),
    Field("destination.port", _I, "Destination port."),
    Field("destination.domain", _S, "Destination host name as the record gives it."),
    Field("destination.host", _S, "Destination resolved to a host key.", ext=True),
    Field("network.transport", _S, "tcp, udp, icmp."),
    Field("network.protocol", _S, "Application protocol (smb, dce_rpc, dns, ...)."),
    Field("network.bytes", _I, "Bytes in both directions."),
    Field("network.direction", _S, "inbound or outbound, as the host that logged it saw the connection."),
    # -- process -------------------------------------------------------------------
    Field("process.pid", _I, "Process id."),
    Field("process.entity_id", _S, "Unique process id (Sysmon ProcessGuid)."),
    Field("process.executable", _S, "Full path of the process image."),
    Field("process.name", _S, "File name of the process image."),
    Field("process.command_line", _S, "Command line."),
    Field("process.hash.sha256", _S, "SHA-256 of the process image."),
    Field("process.hash.md5", _S, "MD5 of the process image."),
    Field("process.parent.pid", _I, "Parent process id."),
    Field("process.parent.entity_id", _S, "Parent unique process id."),
    Field("process.parent.executable", _S, "Parent image path."),
    Field("process.parent.command_line", _S, "Parent command line."),
    # -- file ----------------------------------------------------------------------
    Field("file.path", _S, "Full path of the file created, written or accessed."),
    Field("file.name", _S, "File name."),
    Field("file.size", _I, "Size in bytes."),
    Field("file.hash.sha256", _S, "SHA-256 of the file."),
    Field("file.hash.md5", _S, "MD5 of the file."),
    # -- share (5140/5145, Zeek smb) -----------------------------------------------
    Field("share.name", _S, "Share name (\\\\*\\ADMIN$).", ext=True),
    Field("share.path", _S, "Path relative to the share (RelativeTargetName).", ext=True),
    Field("share.access_mask", _S, "Requested access mask (0x2 = write data).", ext=True),
    # -- service, task, rpc, dns, url ----------------------------------------------
    Field("service.name", _S, "Service name (7045, 4697)."),
    Field("service.image", _S, "Service binary path and arguments (ImagePath).", ext=True),
    Field("service.start_type", _S, "Service start type.", ext=True),
    Field("task.name", _S, "Scheduled task name.", ext=True),
    Field("task.command", _S, "Command the scheduled task runs.", ext=True),
    Field("rpc.endpoint", _S, "DCE-RPC interface (svcctl, atsvc, ...).", ext=True),
    Field("rpc.operation", _S, "DCE-RPC operation (CreateServiceW, SchedulerJobAdd, ...).", ext=True),
    Field("dns.question.name", _S, "Name asked."),
    Field("dns.answers", _S, "Answers, separated by ';'."),
    Field("url.full", _S, "URL, where the event has one."),
    Field("message", _S, "Free text (WMI query, consumer, ...)."),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
SCHEMA: pa.Schema = pa.schema([pa.field(f.name, f.type) for f in FIELDS])

#: Columns every row must have (a row missing one is rejected).
REQUIRED: tuple[str, ...] = ("ts", "host", "kind", "src.file", "src.record", "src.digest", "src.format")

#: Size bounds. Every field is attacker-written: a longer value is cut and counted.
MAX_FIELD_CHARS = 32 * 1024
MAX_RAW_CHARS = 64 * 1024
MAX_RECORD_BYTES = 8 * 1024 * 1024  # a record above this is rejected outright


def q(name: str) -> str:
    """Quote a column name for SQL (names come only from this module, never from data)."""
    if name not in FIELD_BY_NAME:
        raise KeyError(f"not a column of the event model: {name!r}")
    return '"' + name + '"'


def duckdb_type(t: pa.DataType) -> str:
    """DuckDB column type for an Arrow type of this schema."""
    if t == TS_TYPE:
        return "TIMESTAMPTZ"
    if t == _I:
        return "BIGINT"
    return "VARCHAR"
