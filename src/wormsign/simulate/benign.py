"""Everyday activity of one host on one day: logons, logon scripts, apps, browsing, file shares, typos."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wormsign.simulate.emit import Emitter
from wormsign.simulate.net import conn, ephemeral, logon_id, share_access, sid, sides, smb_logon
from wormsign.simulate.org import Host, Org
from wormsign.simulate.procs import Proc, dns_query, net_connect, process
from wormsign.simulate.util import MS_HOUR, sysmon_time, zeek_uid
from wormsign.simulate.winlog import SECURITY, SYSMON

H = MS_HOUR
GPT_INI = "corp.example\\Policies\\{31B2F340-016D-11D2-945F-00C04FB984F9}\\gpt.ini"


@cache
def config() -> dict[str, Any]:
    with open(Path(__file__).with_name("benign.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def web_visit(em: Emitter, org: Org, r: random.Random, h: Host, t: int, proc: Proc, name: str, ip: str, *,
              dur: tuple[float, float], ob: tuple[int, int], rb: tuple[int, int]) -> None:
    """``proc`` on ``h`` visits the web site ``name`` (``ip``) over HTTPS: Sysmon DNS and connection
    on the host, Zeek dns and conn on the wire. ``dur`` (seconds), ``ob`` and ``rb`` (bytes sent
    and received) are (low, high) ranges, drawn from ``r`` in that order."""
    dns_query(em, r, h, t, proc, name, [ip])
    _dns(em, org, r, h, t, name, [ip])
    sport = ephemeral(r)
    net_connect(em, h, t + 30, proc, h.ip(t), sport, ip, 443, name)
    conn(em, r, t + 30, h.ip(t), sport, ip, 443, service="ssl", dur=r.uniform(*dur),
         ob=ob[0] + int(r.random() * (ob[1] - ob[0])), rb=rb[0] + int(r.random() * (rb[1] - rb[0])),
         local_resp=False)


def _dns(em: Emitter, org: Org, r: random.Random, h: Host, t: int, name: str, answers: list[str]) -> None:
    sport = ephemeral(r)
    em.zrow("dns", t, zeek_uid(r), (h.ip(t), sport, org.dc(h.idx).ip(t), 53, "udp", int(r.random() * 65536),
                                    "0.001200", name, 1, "C_INTERNET", 1, "A", 0, "NOERROR", False, False, True,
                                    True, 0, answers, ["300.000000"] * len(answers), False))


def logon_interactive(em: Emitter, org: Org, r: random.Random, h: Host, t: int, user: str, *, ok: bool = True) -> None:
    data = {
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": h.netbios + "$", "SubjectDomainName": org.netbios,
        "SubjectLogonId": "0x3e7", "TargetUserName": user, "TargetDomainName": org.netbios,
        "LogonType": "2", "LogonProcessName": "User32 ", "AuthenticationPackageName": "Negotiate",
        "WorkstationName": h.netbios, "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0",
        "ProcessId": "0x2a4", "ProcessName": "C:\\Windows\\System32\\svchost.exe", "IpAddress": "127.0.0.1",
        "IpPort": "0",
    }
    dc = org.dc(h.idx)
    if ok:
        data.update({"TargetUserSid": sid(org, user), "TargetLogonId": logon_id(r), "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
                     "ImpersonationLevel": "%%1833", "ElevatedToken": "%%1843", "VirtualAccount": "%%1843"})
        em.event(h, t, SECURITY, 4624, data)
        kd = {"TargetUserName": user, "TargetDomainName": org.domain.upper(), "TargetSid": sid(org, user),
              "ServiceName": "krbtgt", "ServiceSid": "S-1-5-21-3623811015-3361044348-30300820-502",
              "TicketOptions": "0x40810010", "Status": "0x0", "TicketEncryptionType": "0x12", "PreAuthType": "2",
              "IpAddress": "::ffff:" + h.ip(t), "IpPort": str(ephemeral(r)), "CertIssuerName": "",
              "CertSerialNumber": "", "CertThumbprint": ""}
        em.event(dc, t - 40, SECURITY, 4768, kd)
        em.event(dc, t - 20, SECURITY, 4769, {
            "TargetUserName": f"{user}@{org.domain.upper()}", "TargetDomainName": org.domain.upper(),
            "ServiceName": h.netbios + "$", "ServiceSid": sid(org, h.name), "TicketOptions": "0x40810000",
            "TicketEncryptionType": "0x12", "IpAddress": "::ffff:" + h.ip(t), "IpPort": str(ephemeral(r)),
            "Status": "0x0", "LogonGuid": "{00000000-0000-0000-0000-000000000000}", "TransmittedServices": "-"})
        em.zrow("kerberos", t - 40, zeek_uid(r), (h.ip(t), ephemeral(r), dc.ip(t), 88, "AS",
                                                 f"{user}/{org.domain.upper()}", f"krbtgt/{org.domain.upper()}",
                                                 True, None, None, None, "aes256-cts-hmac-sha1-96", True, True,
                                                 None, None, None, None))
    else:
        data.update({"TargetUserSid": "S-1-0-0", "Status": "0xc000006d", "FailureReason": "%%2313",
                     "SubStatus": "0xc000006a"})
        em.event(h, t, SECURITY, 4625, data)
        em.event(dc, t + 5, SECURITY, 4771, {
            "TargetUserName": user, "TargetSid": sid(org, user), "ServiceName": f"krbtgt/{org.domain.upper()}",
            "TicketOptions": "0x40810010", "Status": "0x18", "PreAuthType": "2", "IpAddress": "::ffff:" + h.ip(t),
            "IpPort": str(ephemeral(r)), "CertIssuerName": "", "CertSerialNumber": "", "CertThumbprint": ""})


def lockout(em: Emitter, org: Org, h: Host, t: int, user: str, caller: Host, name: str | None = None) -> None:
    """4740 on the domain controller: ``user`` locked, caller computer ``caller`` (the workstation
    name its attempt gave: ``name``, when that is not the host's own)."""
    dc = org.dc(h.idx)
    em.event(dc, t, SECURITY, 4740, {
        "TargetUserName": user, "TargetDomainName": name or caller.netbios, "TargetSid": sid(org, user),
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": dc.netbios + "$", "SubjectDomainName": org.netbios,
        "SubjectLogonId": "0x3e7"})


def workstation_day(em: Emitter, org: Org, r: random.Random, h: Host, day0: int, weekday: int) -> None:
    cfg = config()
    user = h.owner or "user"
    if weekday >= 5 and r.random() > cfg["weekend_active"]:
        return
    t0 = day0 + int(r.uniform(*cfg["workday_start_hour"]) * H)
    t_end = t0 + int(r.uniform(*cfg["workday_length_hours"]) * H)
    if r.random() < cfg["lockout"]:
        for i in range(cfg["lockout_threshold"]):
            logon_interactive(em, org, r, h, t0 - 60_000 + i * 6000, user, ok=False)
        lockout(em, org, h, t0 - 60_000 + cfg["lockout_threshold"] * 6000, user, h)
        t0 += int(r.uniform(0.3, 1.5) * H)  # the helpdesk unlocks it
    elif r.random() < cfg["mistype"]:
        logon_interactive(em, org, r, h, t0 - 9000, user, ok=False)
    logon_interactive(em, org, r, h, t0, user)
    uname = f"{org.netbios}\\{user}"
    winlogon = Proc("{" + f"{h.idx:08X}-0000-0000-0000-000000000001" + "}", 612, "C:\\Windows\\System32\\winlogon.exe",
                    "winlogon.exe", "NT AUTHORITY\\SYSTEM")
    ui = process(em, r, h, t0 + 900, "C:\\Windows\\System32\\userinit.exe", "C:\\Windows\\system32\\userinit.exe",
                 winlogon, uname)
    explorer = process(em, r, h, t0 + 1400, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", ui, uname)
    # logon script from NETLOGON
    script = process(em, r, h, t0 + 1700, "C:\\Windows\\System32\\cmd.exe",
                     f"C:\\Windows\\system32\\cmd.exe /c \"\\\\{org.domain}\\NETLOGON\\logon.bat\"", ui, uname)
    dc = org.dc(h.idx)
    uid, sport = sides(r, (h, dc), lambda me, rr: smb_logon(em, org, me, rr, t0 + 1800, h, dc, user, org.netbios,
                                                            ok=True, kerberos=True))
    for me in (h, dc):
        share_access(em, org, me, t0 + 1850, h, dc, user, "NETLOGON", "logon.bat", "0x120089", uid=uid, sport=sport,
                     size=812)
        share_access(em, org, me, t0 + 1200, h, dc, user, "SYSVOL", GPT_INI, "0x120089", uid=uid, sport=sport,
                     size=22)
    process(em, r, h, t0 + 2300, "C:\\Windows\\System32\\net.exe", "net use S: \\\\fs-01\\Shared /persistent:no",
            script, uname)
    apps = cfg["apps"]
    sites = cfg["sites"]
    span = max(t_end - t0 - 5000, 60_000)
    running: list[Proc] = []
    rnd = r.random
    for _ in range(r.randint(*cfg["app_starts"])):
        a = apps[int(rnd() * len(apps))]
        image = a["image"].replace("{user}", user)
        t = t0 + 3000 + int(rnd() * span)
        p = process(em, r, h, t, image, a["cmd"].replace("{image}", image), explorer, uname,
                    cwd=f"C:\\Users\\{user}\\")
        if a["web"]:
            running.append(p)
    browser = running[0] if running else explorer
    for _ in range(r.randint(*cfg["web_sessions"])):
        name, ip = sites[int(rnd() * len(sites))]
        t = t0 + 5000 + int(rnd() * span)
        p = running[int(rnd() * len(running))] if running else browser
        web_visit(em, org, r, h, t, p, name, ip, dur=(0.2, 120.0), ob=(800, 40_000), rb=(2000, 2_000_000))
    fss = org.by_role["fs"]
    for _ in range(r.randint(*cfg["file_server_visits"])):
        fs = fss[r.randrange(len(fss))]
        t = t0 + 4000 + r.randrange(span)
        uid, sport = sides(r, (h, fs), lambda me, rr: smb_logon(em, org, me, rr, t, h, fs, user, org.netbios,
                                                                ok=True, kerberos=True))
        doc = f"Projects\\{r.choice(['Q3', 'Budget', 'Specs', 'Minutes'])}\\{user}-{r.randrange(100)}.docx"
        for me in (h, fs):
            share_access(em, org, me, t + 100, h, fs, user, "Shared", doc, r.choice(["0x1", "0x2", "0x120089"]),
                         uid=uid, sport=sport, local_path="\\??\\D:\\Shares\\Shared", size=r.randrange(10**4, 10**6))
    em.event(h, t_end, SECURITY, 4634, {"TargetUserSid": sid(org, user), "TargetUserName": user,
                                         "TargetDomainName": org.netbios, "TargetLogonId": "0x4f2a1", "LogonType": "2"})


def server_day(em: Emitter, org: Org, r: random.Random, h: Host, day0: int) -> None:
    cfg = config()
    services = Proc("{" + f"{h.idx:08X}-0000-0000-0000-000000000002" + "}", 640, "C:\\Windows\\System32\\services.exe",
                    "C:\\Windows\\system32\\services.exe", "NT AUTHORITY\\SYSTEM")
    images, rnd = cfg["server_images"], r.random
    for _ in range(r.randint(*cfg["server_processes"])):
        cmd = images[int(rnd() * len(images))]
        image = cmd.split(" ", 1)[0]
        process(em, r, h, day0 + int(rnd() * 86_000_000), image, cmd, services, "NT AUTHORITY\\SYSTEM")
    # Windows Update check
    t = day0 + r.randrange(86_000_000)
    _dns(em, org, r, h, t, "fe2cr.update.microsoft.com", ["20.72.205.209"])
    em.event(h, t, SYSMON, 22, {"RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": services.guid, "ProcessId": "640",
                                "QueryName": "fe2cr.update.microsoft.com", "QueryStatus": "0",
                                "QueryResults": "::ffff:20.72.205.209;", "Image": services.image,
                                "User": "NT AUTHORITY\\SYSTEM"})
