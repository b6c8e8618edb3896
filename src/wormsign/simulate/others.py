"""WannaCry (SMB exploit fan-out), NotPetya (stolen credentials, PsExec/WMIC) and password spray.

Planning lives in the ``*Outbreak`` classes; the ``emit_*`` functions write the records of
one planned action for the host being generated.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from wormsign.simulate.creds import BAD_PASSWORD, NO_SUCH_USER
from wormsign.simulate.emit import Emitter
from wormsign.simulate.lateral import wmi_exec
from wormsign.simulate.net import conn, ephemeral, file_written_by_system, share_access, smb_logon
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action, Infection
from wormsign.simulate.procs import (
    Proc, dns_query, file_created, image_hashes, process, service_installed, services_proc, task_created,
)
from wormsign.simulate.util import MS_HOUR, rng, sysmon_time, weighted, zeek_uid
from wormsign.simulate.winlog import SECURITY, SYSMON
from wormsign.simulate.worm import MIN, Outbreak

SEC = 1000
MSSEC = "C:\\Windows\\mssecsvc.exe"
PERFC = "C:\\Windows\\perfc.dat"
RUNDLL = "C:\\Windows\\System32\\rundll32.exe"


class WannaCryOutbreak(Outbreak):
    def start(self) -> None:
        ws = self.org.workstations
        p0 = ws[self.r.randrange(len(ws))]
        self.plan.patient_zero = p0.name
        self.sha = self.binary("wannacry", p0, True)
        inf = self.record(p0, self.t0, None, "smb-exploit", "wannacry", self.sha, MSSEC)
        assert inf is not None
        ext = f"{self.r.choice([41, 77, 103, 188])}.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        self.plan.add("exploit", self.t0 - 8 * SEC, None, p0, attack=True, src_ip=ext, t_run=self.t0,
                      guid=inf.guid, pid=inf.pid, sha=self.sha)
        self.infected(inf)
        self.run()

    def address_book(self, t: int) -> dict[str, Host]:
        """Address -> host, as of the hour of ``t`` (DHCP moves addresses)."""
        hour = t // MS_HOUR
        if getattr(self, "_book_hour", None) != hour:
            self._book_hour = hour
            self._book = {h.ip(t): h for h in self.org.hosts}
        return self._book

    def vulnerable(self, h: Host) -> bool:
        """Whether ``h`` lacks MS17-010 (drawn once per host)."""
        if not hasattr(self, "_vuln"):
            share = self.fam("wannacry")["vulnerable"]
            self._vuln = {x.idx: x.role != "dc" and rng(self.plan.seed, "ms17-010", x.name).random() < share
                          for x in self.org.hosts}
        return self._vuln[h.idx]

    def infected(self, inf: Infection) -> None:
        r = rng(self.plan.seed, "wc", inf.host.name)
        self.at(inf.time + r.randint(*self.fam("wannacry")["spread_delay_s"]) * SEC, self.scan, inf.host)

    def scan(self, t: int, src: Host) -> None:
        f = self.fam("wannacry")
        r = rng(self.plan.seed, "wcscan", src.name)
        by_ip = self.address_book(t)
        addrs = [f"{src.subnet}.{i}" for i in r.sample(range(1, 255), r.randint(*f["scan_local"]))]
        if not hasattr(self, "_subnets"):
            self._subnets = sorted({h.subnet for h in self.org.hosts})
        subnets, rnd = self._subnets, r.random
        addrs += [f"{subnets[int(rnd() * len(subnets))]}.{1 + int(rnd() * 254)}"
                  for _ in range(r.randint(*f["scan_random"]))]
        probes = []
        for ip in addrs:
            t += 20 + int(rnd() * 380)
            h = by_ip.get(ip)
            if h is src:
                continue
            probes.append((t, ip, "SF" if h else ("S0" if rnd() < 0.5 else "REJ")))
            if h and self.vulnerable(h) and not self.infected_by(h, t):
                t_run = t + r.randint(*f["exploit_s"]) * SEC
                inf = self.record(h, t_run, src, "smb-exploit", "wannacry", self.sha, MSSEC)
                if inf:
                    self.plan.add("exploit", t + 200, src, h, attack=True, t_run=t_run, guid=inf.guid, pid=inf.pid,
                                  sha=self.sha)
                    self.infected(inf)
            elif h:
                self.plan.attacked.add(h.name)
        self.plan.add("scan445", probes[0][0] if probes else t, src, None, attack=True, probes=probes)


def emit_scan445(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r = a.rng(seed)
    for t, ip, state in a.p["probes"]:
        conn(em, r, t, me.ip(t), ephemeral(r), ip, 445, state=state, dur=0.02, ob=0, rb=0, attack=True)


def emit_exploit(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """EternalBlue against ``dst``: no logon; lsass drops mssecsvc.exe, installs mssecsvc2.0, runs tasksche."""
    r, p, dst = a.rng(seed), a.p, a.dst
    assert dst is not None
    t = a.t
    sip = a.src.ip(t) if a.src else p["src_ip"]
    sport, uid = ephemeral(r), zeek_uid(r)
    if a.src is None or me is a.src:
        conn(em, r, t, sip, sport, dst.ip(t), 445, service="smb", dur=r.uniform(2, 9), ob=r.randrange(60_000, 90_000),
             rb=r.randrange(3000, 9000), attack=True, uid=uid)
        em.zrow("smb_mapping", t + 100, uid, (sip, sport, dst.ip(t), 445, f"\\\\{dst.ip(t)}\\IPC$", None, None,
                                              "PIPE"), attack=True)
    if me is not dst:
        return
    rr = random.Random(r.getrandbits(64))
    system = Proc("{" + f"{dst.idx:08X}-0000-0000-0000-000000000004" + "}", 4, "System", "", "NT AUTHORITY\\SYSTEM")
    em.event(dst, t, SYSMON, 3, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": system.guid, "ProcessId": "4", "Image": "System",
        "User": "NT AUTHORITY\\SYSTEM", "Protocol": "tcp", "Initiated": "false", "SourceIsIpv6": "false",
        "SourceIp": sip, "SourceHostname": "-", "SourcePort": str(sport), "SourcePortName": "-",
        "DestinationIsIpv6": "false", "DestinationIp": dst.ip(t), "DestinationHostname": dst.fqdn,
        "DestinationPort": "445", "DestinationPortName": "microsoft-ds"}, True)
    lsass = Proc("{" + f"{dst.idx:08X}-0000-0000-0000-000000000005" + "}", 700, "C:\\Windows\\System32\\lsass.exe",
                 "C:\\Windows\\system32\\lsass.exe", "NT AUTHORITY\\SYSTEM")
    t_run = p["t_run"]
    file_created(em, dst, t_run - 3000, lsass, MSSEC, attack=True)
    service_installed(em, org, rr, dst, t_run - 1500, "mssecsvc2.0", f"{MSSEC} -m security", dst.netbios + "$",
                      attack=True, start_type="auto start")
    svc = process(em, rr, dst, t_run, MSSEC, f"{MSSEC} -m security", services_proc(dst), "NT AUTHORITY\\SYSTEM",
                  sha=tuple(p["sha"]), attack=True, guid=p["guid"], pid=p["pid"])
    ks = "iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com"
    dns_query(em, rr, dst, t_run + 500, svc, ks, [], attack=True)
    em.zrow("dns", t_run + 500, zeek_uid(rr), (dst.ip(t), ephemeral(rr), org.dc(dst.idx).ip(t), 53, "udp",
                                               rr.randrange(65536), "0.030000", ks, 1, "C_INTERNET", 1, "A", 3,
                                               "NXDOMAIN", False, False, True, True, 0, None, None, False), attack=True)
    file_created(em, dst, t_run + 2000, svc, "C:\\Windows\\tasksche.exe", attack=True)
    process(em, rr, dst, t_run + 2500, "C:\\Windows\\tasksche.exe", "C:\\Windows\\tasksche.exe /i", svc,
            "NT AUTHORITY\\SYSTEM", sha=(tuple(p["sha"])[0][::-1], tuple(p["sha"])[1][::-1]), attack=True)


class NotPetyaOutbreak(Outbreak):
    def start(self) -> None:
        ws = self.org.workstations
        p0 = ws[self.r.randrange(len(ws))]
        self.plan.patient_zero = p0.name
        self.sha = self.binary("notpetya", p0, True)
        inf = self.record(p0, self.t0, None, "supply-chain", "notpetya", self.sha, PERFC)
        assert inf is not None
        self.plan.add("np_initial", self.t0 - 20 * SEC, None, p0, attack=True, user=p0.owner or "user", guid=inf.guid,
                      pid=inf.pid, sha=self.sha)
        self.infected(inf)
        self.run()

    def infected(self, inf: Infection) -> None:
        f = self.fam("notpetya")
        r = rng(self.plan.seed, "np", inf.host.name)
        t_dump = inf.time + r.randint(*f["dump_delay"]) * MIN
        reboot = inf.time + r.randint(*f["reboot_after"]) * MIN
        self.plan.add("np_local", inf.time + 15 * SEC, None, inf.host, attack=True, guid=inf.guid, pid=inf.pid,
                      t_dump=t_dump, reboot=reboot)
        self.at(t_dump + r.randint(*f["spread_delay"]) * MIN, self.spread, inf.host)

    def spread(self, t: int, src: Host) -> None:
        f = self.fam("notpetya")
        r = rng(self.plan.seed, "nptargets", src.name)
        account = self.org.admins[r.randrange(len(self.org.admins))]
        for dst in self.targets(r, src, r.randint(*f["targets"])):
            t += r.randint(*f["session_gap_s"]) * SEC
            if self.infected_by(dst, t):
                continue
            method = weighted(r, f["method"])
            t_run = t + r.randint(4, 12) * SEC
            inf = self.record(dst, t_run, src, method, "notpetya", self.sha, PERFC)
            if inf is None:
                continue
            self.plan.add("np_spread", t, src, dst, attack=True, method=method, account=account, t_run=t_run,
                          guid=inf.guid, pid=inf.pid, sha=self.sha)
            self.infected(inf)


def emit_np_initial(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """M.E.Doc's updater writes perfc.dat and starts it with rundll32."""
    r, p, t = a.rng(seed), a.p, a.t
    uname = f"{org.netbios}\\{p['user']}"
    explorer = Proc("{" + f"{me.idx:08X}-0000-0000-0000-00000000000E" + "}", 4410, "C:\\Windows\\explorer.exe",
                    "C:\\Windows\\Explorer.EXE", uname)
    ezvit = process(em, r, me, t - 3 * MIN, "C:\\ProgramData\\Medoc\\Medoc\\ezvit.exe",
                    '"C:\\ProgramData\\Medoc\\Medoc\\ezvit.exe"', explorer, uname)
    sport = ephemeral(r)
    conn(em, r, t - 2 * MIN, me.ip(t), sport, "92.60.184.55", 443, service="ssl", dur=3.2, ob=800, rb=380_000,
         attack=True, local_resp=False)
    file_created(em, me, t + 10 * SEC, ezvit, PERFC, attack=True)
    process(em, r, me, t + 20 * SEC, RUNDLL, f'{RUNDLL} "{PERFC}",#1 30', ezvit, uname, sha=tuple(p["sha"]),
            attack=True, guid=p["guid"], pid=p["pid"])


def emit_np_local(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """On an infected host: the credential dumper and the scheduled reboot."""
    r, p = a.rng(seed), a.p
    perfc = Proc(p["guid"], p["pid"], RUNDLL, f'{RUNDLL} "{PERFC}",#1 30', "NT AUTHORITY\\SYSTEM")
    tmp = f"C:\\Windows\\TEMP\\{zeek_uid(r)[1:5].upper()}.tmp"
    file_created(em, me, p["t_dump"] - 2000, perfc, tmp, attack=True)
    process(em, r, me, p["t_dump"], tmp, f'{tmp} \\\\.\\pipe\\{{{zeek_uid(r)[1:9]}-{zeek_uid(r)[1:5]}}}', perfc,
            "NT AUTHORITY\\SYSTEM", sha=image_hashes(tmp + "dumper"), attack=True)
    hhmm = f"{(p['reboot'] // MS_HOUR) % 24:02d}:{(p['reboot'] // MIN) % 60:02d}"
    cmd = f'schtasks /RU "SYSTEM" /Create /SC once /TN "" /TR "C:\\Windows\\system32\\shutdown.exe /r /f" /ST {hhmm}'
    sch = process(em, r, me, a.t, "C:\\Windows\\System32\\cmd.exe", f"/c {cmd}", perfc, "NT AUTHORITY\\SYSTEM",
                  attack=True)
    process(em, r, me, a.t + 200, "C:\\Windows\\System32\\schtasks.exe", cmd, sch, "NT AUTHORITY\\SYSTEM", attack=True)
    task_created(em, org, r, me, a.t + 600, "\\", "C:\\Windows\\system32\\shutdown.exe", "/r /f",
                 me.netbios + "$", attack=True)


def emit_np_spread(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """Copy perfc.dat to ADMIN$ with stolen admin credentials, then PsExec (service) or WMIC runs it."""
    r, p, src, dst = a.rng(seed), a.p, a.src, a.dst
    assert src is not None and dst is not None
    t, t_run = a.t, p["t_run"]
    uid, sport = smb_logon(em, org, me, r, t, src, dst, p["account"], org.netbios, ok=True, attack=True)
    share_access(em, org, me, t + 400, src, dst, p["account"], "ADMIN$", "perfc.dat", "0x2", uid=uid, sport=sport,
                 attack=True, size=362_360)
    rr = random.Random(r.getrandbits(64))
    cmd = f'{RUNDLL} "{PERFC}",#1 30'
    if me is src:
        explicit_credentials(em, org, src, t - 300, p["account"], dst, p["method"])
    if me is dst:
        file_written_by_system(em, dst, rr, t + 480, PERFC, True)
    if p["method"] == "psexec":
        if me is dst:
            service_installed(em, org, rr, dst, t_run - 1500, "PSEXESVC", "%SystemRoot%\\PSEXESVC.exe", p["account"],
                              attack=True)
            psx = process(em, rr, dst, t_run - 1000, "C:\\Windows\\PSEXESVC.exe", "C:\\Windows\\PSEXESVC.exe",
                          services_proc(dst), "NT AUTHORITY\\SYSTEM", attack=True)
            process(em, rr, dst, t_run, RUNDLL, cmd, psx, "NT AUTHORITY\\SYSTEM", sha=tuple(p["sha"]), attack=True,
                    guid=p["guid"], pid=p["pid"])
        if me is src:
            for i, op in enumerate(["OpenSCManagerW", "CreateServiceW", "StartServiceW"]):
                em.zrow("dce_rpc", t_run - 1600 + 30 * i, uid, (src.ip(t), sport, dst.ip(t), 445, "0.000700",
                                                                "\\pipe\\svcctl", "svcctl", op), attack=True)
    else:
        wr = random.Random(rr.getrandbits(64))
        wmi_exec(em, org, me, wr, t_run - 1500, src, dst, account=p["account"], command=cmd, image=RUNDLL,
                 sha=tuple(p["sha"]), attack=True, t_run=t_run, guid=p["guid"], pid=p["pid"])


def explicit_credentials(em: Emitter, org: Org, src: Host, t: int, account: str, dst: Host, method: str) -> None:
    """4648 on the source: a process used the stolen account's password to reach ``dst``."""
    tool = "C:\\Windows\\dllhost.dat" if method == "psexec" else "C:\\Windows\\System32\\wbem\\WMIC.exe"
    em.event(src, t, SECURITY, 4648, {
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": src.netbios + "$", "SubjectDomainName": org.netbios,
        "SubjectLogonId": "0x3e7", "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
        "TargetUserName": account, "TargetDomainName": org.netbios,
        "TargetLogonGuid": "{00000000-0000-0000-0000-000000000000}", "TargetServerName": dst.fqdn,
        "TargetInfo": dst.fqdn, "ProcessId": "0x" + format(2000 + src.idx % 900, "x"), "ProcessName": tool,
        "IpAddress": "-", "IpPort": "-"}, True)


class SprayOutbreak(Outbreak):
    def start(self) -> None:
        f = self.fam("spray")
        ws = self.org.workstations
        src = ws[self.r.randrange(len(ws))]
        servers = [h for h in self.org.hosts if h.role in ("dc", "fs", "app")]
        t = self.t0
        accounts = self.r.sample(self.org.users + self.org.admins,
                                 min(len(self.org.users) + len(self.org.admins), self.r.randint(*f["accounts"])))
        known = set(accounts)
        accounts += [g for g in f["guessed"] if g not in known]
        self.r.shuffle(accounts)
        pws = self.passwords[: self.r.randint(*f["passwords"])]
        for dst in self.r.sample(servers, min(len(servers), self.r.randint(*f["targets"]))):
            attempts = []
            start = t
            for pw in pws:
                for acc in accounts:
                    t += self.r.randint(*f["attempt_ms"])
                    attempts.append((t, acc, self.org.netbios, BAD_PASSWORD if acc in known else NO_SUCH_USER))
                t += 10 * MIN  # wait out the lockout window between rounds
                del pw
            self.plan.add("bruteforce", start, src, dst, attack=True, attempts=attempts)
            self.plan.attacked.add(dst.name)


HANDLERS: dict[str, Callable[..., None]] = {
    "scan445": emit_scan445, "exploit": emit_exploit, "np_initial": emit_np_initial, "np_local": emit_np_local,
    "np_spread": emit_np_spread,
}
