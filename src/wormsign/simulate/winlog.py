"""Windows events as Winlogbeat 8 ships them: ECS NDJSON documents with ``winlog.event_data``."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from wormsign.simulate.org import Host
from wormsign.simulate.util import digest_hex, iso

SECURITY = "Security"
SYSTEM = "System"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
CHANNEL_CODE = {SECURITY: "S", SYSTEM: "Y", SYSMON: "M"}

_PROVIDERS = {
    SECURITY: ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-a5ba-3e3b0328c30d}"),
    SYSTEM: ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}"),
    SYSMON: ("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"),
}
# event id -> (task, action) as Winlogbeat's event.action / winlog.task show them
_TASKS: dict[int, tuple[str, str]] = {
    4624: ("Logon", "logged-in"), 4625: ("Logon", "logon-failed"), 4634: ("Logoff", "logged-out"),
    4648: ("Logon", "logged-in-explicit"), 4672: ("Special Logon", "logged-in-special"),
    4740: ("User Account Management", "locked-out-user-account"),
    4768: ("Kerberos Authentication Service", "kerberos-authentication-ticket-requested"),
    4769: ("Kerberos Service Ticket Operations", "kerberos-service-ticket-requested"),
    4771: ("Kerberos Authentication Service", "kerberos-preauth-failed"),
    4776: ("Credential Validation", "credential-validated"),
    4697: ("Security System Extension", "service-installed"),
    4698: ("Other Object Access Events", "scheduled-task-created"),
    5140: ("File Share", "network-share-object-accessed"),
    5145: ("Detailed File Share", "network-share-object-access-checked"),
    7045: ("None", "added-service"), 7036: ("None", "service-state-changed"),
    1: ("Process Create (rule: ProcessCreate)", "Process Create (rule: ProcessCreate)"),
    3: ("Network connection detected (rule: NetworkConnect)", "Network connection detected (rule: NetworkConnect)"),
    11: ("File created (rule: FileCreate)", "File created (rule: FileCreate)"),
    13: ("Registry value set (rule: RegistryEvent)", "Registry value set (rule: RegistryEvent)"),
    15: ("File stream created (rule: FileCreateStreamHash)", "File stream created (rule: FileCreateStreamHash)"),
    22: ("Dns query (rule: DnsQuery)", "Dns query (rule: DnsQuery)"),
    23: ("File Delete archived (rule: FileDelete)", "File Delete archived (rule: FileDelete)"),
}
_FAILURES = frozenset((4625, 4771))
_FAIL, _OK = ["Audit Failure"], ["Audit Success"]
_SYSMON_USER = {"identifier": "S-1-5-18", "domain": "NT AUTHORITY", "name": "SYSTEM", "type": "User"}


class WinEvent(NamedTuple):
    """One Windows record before it is numbered: sorted by (ts, seq) per host and channel."""

    ts: int
    seq: int
    channel: str
    eid: int
    data: str  # the event_data object, already JSON: a third of the memory of the dict
    attack: bool
    failure: bool  # an "Audit Failure" record


def is_failure(eid: int, data: dict[str, str]) -> bool:
    return eid in _FAILURES or (eid == 4776 and data.get("Status", "0x0") != "0x0")


def pack(data: dict[str, str]) -> str:
    """The event_data as compact JSON text (orjson's own bytes keep a large spare buffer)."""
    return orjson.dumps(data).decode()


if hasattr(orjson, "Fragment"):
    def _unpack(b: str) -> Any:
        return orjson.Fragment(b)
else:  # older orjson: parse it back
    _unpack = orjson.loads


def document(ev: WinEvent, host: Host, record_id: int, event_id: str) -> dict[str, Any]:
    """The Winlogbeat document of one event on ``host``."""
    provider, pguid = _PROVIDERS[ev.channel]
    task, action = _TASKS.get(ev.eid, ("None", str(ev.eid)))
    code = str(ev.eid)
    winlog: dict[str, Any] = {
        "api": "wineventlog",
        "channel": ev.channel,
        "computer_name": host.fqdn,
        "event_data": _unpack(ev.data),
        "event_id": code,
        "opcode": "Info",
        "process": {"pid": 4 if ev.channel == SYSMON else 780, "thread": {"id": 1000 + record_id % 7000}},
        "provider_guid": pguid,
        "provider_name": provider,
        "record_id": record_id,
        "task": task,
    }
    event: dict[str, Any] = {
        "id": event_id,
        "code": code,
        "kind": "event",
        "provider": provider,
        "action": action,
    }
    if ev.channel == SECURITY:
        winlog["keywords"] = _FAIL if ev.failure else _OK
        event["outcome"] = "failure" if ev.failure else "success"
    elif ev.channel == SYSMON:
        winlog["user"] = _SYSMON_USER
        winlog["version"] = 5 if ev.eid == 1 else 2
    else:
        winlog["keywords"] = ["Classic"]
    return {
        "@timestamp": iso(ev.ts),
        "agent": _agent(host),
        "ecs": _ECS,
        "host": _host(host, host.ip(ev.ts)),
        "event": event,
        "log": _LOG,
        "winlog": winlog,
    }


_ECS = {"version": "8.0.0"}
_LOG = {"level": "information"}


def _agent(host: Host) -> dict[str, Any]:
    a = host.memo.get("agent")
    if a is None:
        a = host.memo["agent"] = {"type": "winlogbeat", "version": "8.12.2", "name": host.name,
                                  "id": host_agent_id(host)}
    return a


def _host(host: Host, ip: str) -> dict[str, Any]:
    """The ``host`` object (add_host_metadata), one per address the host has had."""
    key = "host:" + ip
    h = host.memo.get(key)
    if h is None:
        h = host.memo[key] = {
            "name": host.fqdn,
            "hostname": host.name,
            "ip": [ip],
            "mac": [host.mac.replace(":", "-").upper()],
            "os": {"family": "windows", "name": host.os, "kernel": host.build, "platform": "windows"},
        }
    return h


def host_agent_id(host: Host) -> str:
    h = digest_hex("md5", "agent", host.name)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# The same document as ``document`` gives, put together from JSON pieces: the parts that do not
# change per event are serialised once (per host and address, per channel and event id), so a
# record costs one string join. ``orjson.dumps(document(...))`` is the reference (tests compare).
_J = orjson.dumps


def _kind_parts(channel: str, eid: int, failure: bool) -> tuple[str, str, str, str]:
    provider, pguid = _PROVIDERS[channel]
    task, action = _TASKS.get(eid, ("None", str(eid)))
    code = _J(str(eid)).decode()
    if channel == SECURITY:
        tail = ',"keywords":' + _J(_FAIL if failure else _OK).decode() + "}}"
        outcome = ',"outcome":' + _J("failure" if failure else "success").decode()
    elif channel == SYSMON:
        tail = ',"user":' + _J(_SYSMON_USER).decode() + ',"version":' + ("5" if eid == 1 else "2") + "}}"
        outcome = ""
    else:
        tail = ',"keywords":["Classic"]}}'
        outcome = ""
    head = ('","code":' + code + ',"kind":"event","provider":' + _J(provider).decode() + ',"action":'
            + _J(action).decode() + outcome + '},"log":' + _J(_LOG).decode() + ',"winlog":{"api":"wineventlog",'
            '"channel":' + _J(channel).decode() + ',"computer_name":')
    mid = (',"event_id":' + code + ',"opcode":"Info","process":{"pid":' + ("4" if channel == SYSMON else "780")
           + ',"thread":{"id":')
    rest = '}},"provider_guid":' + _J(pguid).decode() + ',"provider_name":' + _J(provider).decode() + ',"record_id":'
    return head, mid, rest, ',"task":' + _J(task).decode() + tail


_KINDS: dict[tuple[str, int, bool], tuple[str, str, str, str]] = {}


def line(ev: WinEvent, host: Host, record_id: int, event_id: str) -> str:
    """``orjson.dumps(document(ev, host, record_id, event_id))``, as text, built faster.
    ``event_id`` is a channel letter and digits (no JSON escaping needed)."""
    key = (ev.channel, ev.eid, ev.failure)
    parts = _KINDS.get(key)
    if parts is None:
        parts = _KINDS[key] = _kind_parts(*key)
    ip = host.ip(ev.ts)
    pre = host.memo.get("line:" + ip)
    if pre is None:
        pre = host.memo["line:" + ip] = (
            '","agent":' + _J(_agent(host)).decode() + ',"ecs":' + _J(_ECS).decode() + ',"host":'
            + _J(_host(host, ip)).decode() + ',"event":{"id":')
    comp = host.memo.get("line:fqdn")
    if comp is None:
        comp = host.memo["line:fqdn"] = _J(host.fqdn).decode() + ',"event_data":'
    head, mid, rest, tail = parts
    return (f'{{"@timestamp":"{iso(ev.ts)}{pre}"{event_id}{head}{comp}{ev.data}{mid}'
            f"{1000 + record_id % 7000}{rest}{record_id}{tail}")
