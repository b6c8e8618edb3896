"""Host-side records: process starts, services, scheduled tasks, DNS queries, connections (Sysmon, 7045, 4698)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from wormsign.simulate.emit import Emitter
from wormsign.simulate.net import services_guid, sid
from wormsign.simulate.org import Host, Org
from wormsign.simulate.realism import dash
from wormsign.simulate.util import digest_hex, sysmon_time
from wormsign.simulate.util import guid as _guid
from wormsign.simulate.winlog import SECURITY, SYSMON, SYSTEM


@dataclass(slots=True)
class Proc:
    guid: str
    pid: int
    image: str
    cmd: str
    user: str


@lru_cache(maxsize=4096)
def image_hashes(image: str) -> tuple[str, str]:
    """(sha256, md5) of a well-known binary, stable per path."""
    key = image.lower()
    return digest_hex("sha256", "bin", key), digest_hex("md5", "bin", key)


def services_proc(h: Host) -> Proc:
    return Proc(services_guid(h), 636 + h.idx % 40, "C:\\Windows\\System32\\services.exe",
                "C:\\Windows\\system32\\services.exe", "NT AUTHORITY\\SYSTEM")


def process(em: Emitter, r: random.Random, h: Host, t: int, image: str, cmd: str, parent: Proc, user: str, *,
            sha: tuple[str, str] | None = None, attack: bool = False, cwd: str = "C:\\Windows\\system32\\",
            integrity: str = "Medium", guid: str | None = None, pid: int | None = None) -> Proc:
    """Sysmon 1 for a new process under ``parent``; returns it as the next parent."""
    sha256, md5 = sha or image_hashes(image)
    g, n = _guid(r), (1000 + int(r.random() * 19000)) & ~3
    p = Proc(guid or g, pid or n, image, cmd, user)
    name = image.rsplit("\\", 1)[-1]
    em.event(h, t, SYSMON, 1, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid),
        "Image": image, "FileVersion": "-", "Description": "-", "Product": "-", "Company": "-",
        "OriginalFileName": name, "CommandLine": cmd, "CurrentDirectory": cwd, "User": user,
        "LogonGuid": "{00000000-0000-0000-0000-000000000000}", "LogonId": "0x3e7" if "SYSTEM" in user else "0x4f2a1",
        "TerminalSessionId": "0" if "SYSTEM" in user else "1",
        "IntegrityLevel": "System" if "SYSTEM" in user else integrity,
        "Hashes": f"SHA256={sha256.upper()},MD5={md5.upper()}",
        "ParentProcessGuid": parent.guid, "ParentProcessId": str(parent.pid), "ParentImage": parent.image,
        "ParentCommandLine": parent.cmd, "ParentUser": parent.user,
    }, attack)
    return p


def service_installed(em: Emitter, org: Org, r: random.Random, h: Host, t: int, name: str, image_path: str,
                      account: str, *, attack: bool = False, start_type: str = "demand start",
                      subject_logon: str | None = None) -> None:
    """7045 in System and 4697 in Security, as the Service Control Manager records a new service
    (``subject_logon``: the installer's logon id, 0x3e7 for SYSTEM; else a network logon's)."""
    em.event(h, t, SYSTEM, 7045, {
        "ServiceName": name, "ImagePath": image_path, "ServiceType": "user mode service",
        "StartType": start_type, "AccountName": "LocalSystem",
    }, attack)
    em.event(h, t, SECURITY, 4697, {
        "SubjectUserSid": sid(org, account), "SubjectUserName": account, "SubjectDomainName": org.netbios,
        "SubjectLogonId": subject_logon or f"0x{r.randrange(0x100000, 0x9FFFFFF):x}", "ServiceName": name,
        "ServiceFileName": image_path, "ServiceType": "0x10",
        "ServiceStartType": "3" if start_type == "demand start" else "2", "ServiceAccount": "LocalSystem",
    }, attack)


def task_xml(command: str, arguments: str, author: str, start: str) -> str:
    """The TaskContent of 4698: the task's XML as Task Scheduler stores it."""
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\r\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\r\n'
        f"  <RegistrationInfo>\r\n    <Author>{author}</Author>\r\n  </RegistrationInfo>\r\n"
        f"  <Triggers>\r\n    <TimeTrigger>\r\n      <StartBoundary>{start}</StartBoundary>\r\n"
        "      <Enabled>true</Enabled>\r\n    </TimeTrigger>\r\n  </Triggers>\r\n"
        '  <Principals>\r\n    <Principal id="Author">\r\n      <UserId>S-1-5-18</UserId>\r\n'
        "      <RunLevel>HighestAvailable</RunLevel>\r\n    </Principal>\r\n  </Principals>\r\n"
        '  <Actions Context="Author">\r\n    <Exec>\r\n'
        f"      <Command>{_xml(command)}</Command>\r\n      <Arguments>{_xml(arguments)}</Arguments>\r\n"
        "    </Exec>\r\n  </Actions>\r\n</Task>"
    )


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def task_created(em: Emitter, org: Org, r: random.Random, h: Host, t: int, name: str, command: str,
                 arguments: str, account: str, *, attack: bool = False,
                 subject_logon: str | None = None) -> None:
    """4698: a scheduled task registered on ``h`` by ``account`` (in logon ``subject_logon``)."""
    start = sysmon_time(t + 60_000).replace(" ", "T")[:19]
    em.event(h, t, SECURITY, 4698, {
        "SubjectUserSid": sid(org, account), "SubjectUserName": account, "SubjectDomainName": org.netbios,
        "SubjectLogonId": subject_logon or f"0x{r.randrange(0x100000, 0x9FFFFFF):x}", "TaskName": name,
        "TaskContent": task_xml(command, arguments, f"{org.netbios}\\{account}", start),
        "ClientProcessStartKey": str(r.randrange(10**15, 10**16)), "ClientProcessId": str(r.randrange(1000, 9000)),
        "ParentProcessId": str(r.randrange(600, 900)), "RpcCallClientLocality": "0", "FqdnLength": "0",
    }, attack)


def dns_query(em: Emitter, r: random.Random, h: Host, t: int, proc: Proc, name: str, answers: list[str],
              attack: bool = False) -> None:
    """Sysmon 22 on the asking host."""
    em.event(h, t, SYSMON, 22, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": proc.guid, "ProcessId": str(proc.pid),
        "QueryName": name, "QueryStatus": "0",
        "QueryResults": ";".join(f"::ffff:{a};" if a[0].isdigit() else f"type:  5 {a};" for a in answers) or "-",
        "Image": proc.image, "User": proc.user,
    }, attack)


def net_connect(em: Emitter, h: Host, t: int, proc: Proc, sip: str, sport: int, dip: str, dport: int,
                dhost: str = "-", attack: bool = False) -> None:
    """Sysmon 3: an outbound TCP connection from ``proc``; host names '-' on the run's share."""
    no_names = dash(em.org.real.sysmon_dash, t, sport, h.idx)
    em.event(h, t, SYSMON, 3, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": proc.guid, "ProcessId": str(proc.pid),
        "Image": proc.image, "User": proc.user, "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false",
        "SourceIp": sip, "SourceHostname": "-" if no_names else h.fqdn, "SourcePort": str(sport),
        "SourcePortName": "-", "DestinationIsIpv6": "false", "DestinationIp": dip,
        "DestinationHostname": "-" if no_names else dhost,
        "DestinationPort": str(dport), "DestinationPortName": {445: "microsoft-ds", 443: "https", 80: "http",
                                                               135: "epmap"}.get(dport, "-"),
    }, attack)


def registry_run(em: Emitter, h: Host, t: int, proc: Proc, name: str, value: str, attack: bool = False) -> None:
    """Sysmon 13: a Run-key value set for persistence."""
    em.event(h, t, SYSMON, 13, {
        "RuleName": "T1060,RunKey", "EventType": "SetValue", "UtcTime": sysmon_time(t), "ProcessGuid": proc.guid,
        "ProcessId": str(proc.pid), "Image": proc.image,
        "TargetObject": f"HKU\\S-1-5-21-3623811015-3361044348-30300820-1104\\Software\\Microsoft\\Windows\\"
                        f"CurrentVersion\\Run\\{name}",
        "Details": value, "User": proc.user,
    }, attack)


def file_created(em: Emitter, h: Host, t: int, proc: Proc, path: str, attack: bool = False) -> None:
    """Sysmon 11 for a file a local process wrote."""
    em.event(h, t, SYSMON, 11, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": proc.guid, "ProcessId": str(proc.pid),
        "Image": proc.image, "TargetFilename": path, "CreationUtcTime": sysmon_time(t), "User": proc.user,
    }, attack)
