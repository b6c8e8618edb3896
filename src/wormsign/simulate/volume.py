"""Background volume: the steady everyday records a real Windows host logs, scaled by ``volume``.

Service logons of SYSTEM (4624 type 5, 4672, 4634), background processes under services.exe
(Sysmon 1), browser or update traffic (Sysmon 22 and 3, Zeek dns and conn) and cache or log
files (Sysmon 11). None of it crosses between hosts, so it adds volume, not lateral movement.
The kinds, their weights and the records per unit of volume are in ``benign.yaml``.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from wormsign.simulate.benign import config, web_visit
from wormsign.simulate.emit import Emitter
from wormsign.simulate.org import Host, Org
from wormsign.simulate.procs import Proc, file_created, process, services_proc
from wormsign.simulate.util import MS_DAY
from wormsign.simulate.winlog import SECURITY

SYSTEM = "NT AUTHORITY\\SYSTEM"
_RECORDS = {"service_logon": 3, "process": 1, "web": 4, "file": 1}


def maker(volume: float) -> Any:
    """The ``background`` hook of the writer for ``volume``, or None when it adds nothing (1)."""
    if volume < 1:
        raise ValueError("benign volume must be at least 1")
    per_day = round((volume - 1) * config()["background"]["records_per_unit"])
    return partial(host_day, records=per_day) if per_day > 0 else None


def _browser(org: Org, h: Host, user: str) -> Proc:
    """The user's browser, running all day (one per host)."""
    image = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
    g = random.Random(h.idx * 7 + 5).randbytes(16).hex().upper()
    return Proc("{" + f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}" + "}", 4000 + (h.idx % 900) * 4,
                image, f'"{image}"', f"{org.netbios}\\{user}")


def host_day(em: Emitter, org: Org, r: random.Random, h: Host, day0: int, weekday: int, *, records: int) -> None:
    """About ``records`` background records of ``h`` over the day starting at ``day0``."""
    cfg = config()["background"]
    kinds = list(cfg["bursts"])
    weights = [cfg["bursts"][k] for k in kinds]
    user = h.owner or "user"
    services = services_proc(h)
    web_proc = services if h.server else _browser(org, h, user)
    images = config()["server_images"] if h.server else cfg["ws_processes"]
    sites = config()["sites"]
    fpat = cfg["server_file"] if h.server else cfg["ws_file"]
    rnd = r.random
    done = 0
    for kind in r.choices(kinds, weights, k=max(1, records * sum(weights) // sum(
            _RECORDS[k] * w for k, w in zip(kinds, weights, strict=True)))):
        if done >= records:
            break
        t = day0 + int(rnd() * (MS_DAY - 60_000))
        if kind == "service_logon":
            _service_logon(em, org, h, t, cfg["privileges"])
        elif kind == "process":
            cmd = images[int(rnd() * len(images))]
            process(em, r, h, t, cmd.split(" ", 1)[0], cmd, services, SYSTEM)
        elif kind == "web":
            name, ip = sites[int(rnd() * len(sites))]
            web_visit(em, org, r, h, t, web_proc, name, ip, dur=(0.1, 30.0), ob=(500, 10_000), rb=(1000, 100_000))
        else:
            file_created(em, h, t, web_proc, fpat.format(user=user, n=int(rnd() * 0xFFFFFF)))
        done += _RECORDS[kind]


def _service_logon(em: Emitter, org: Org, h: Host, t: int, privileges: str) -> None:
    em.event(h, t, SECURITY, 4624, {
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": h.netbios + "$", "SubjectDomainName": org.netbios,
        "SubjectLogonId": "0x3e7", "TargetUserSid": "S-1-5-18", "TargetUserName": "SYSTEM",
        "TargetDomainName": "NT AUTHORITY", "TargetLogonId": "0x3e7", "LogonType": "5",
        "LogonProcessName": "Advapi  ", "AuthenticationPackageName": "Negotiate", "WorkstationName": "-",
        "LogonGuid": "{00000000-0000-0000-0000-000000000000}", "TransmittedServices": "-", "LmPackageName": "-",
        "KeyLength": "0", "ProcessId": "0x27c", "ProcessName": "C:\\Windows\\System32\\services.exe",
        "IpAddress": "-", "IpPort": "-", "ImpersonationLevel": "%%1833", "ElevatedToken": "%%1842",
        "VirtualAccount": "%%1843", "TargetLinkedLogonId": "0x0"})
    em.event(h, t, SECURITY, 4672, {
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": "SYSTEM", "SubjectDomainName": "NT AUTHORITY",
        "SubjectLogonId": "0x3e7", "PrivilegeList": privileges})
    em.event(h, t + 2, SECURITY, 4634, {
        "TargetUserSid": "S-1-5-18", "TargetUserName": "SYSTEM", "TargetDomainName": "NT AUTHORITY",
        "TargetLogonId": "0x3e7", "LogonType": "5"})
