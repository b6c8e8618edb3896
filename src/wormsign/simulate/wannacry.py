"""WannaCry: a port-445 scan fan-out from every infected host, EternalBlue with no logon, a service and a drop."""

from __future__ import annotations

import random

from wormsign.simulate.emit import Emitter
from wormsign.simulate.net import conn, ephemeral
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action, Infection
from wormsign.simulate.procs import Proc, dns_query, file_created, process, service_installed, services_proc
from wormsign.simulate.realism import dash
from wormsign.simulate.util import MS_HOUR, rng, sysmon_time, zeek_uid
from wormsign.simulate.winlog import SYSMON
from wormsign.simulate.worm import Outbreak

SEC = 1000
MSSEC = "C:\\Windows\\mssecsvc.exe"
TASKSCHE = "C:\\Windows\\tasksche.exe"


class WannaCryOutbreak(Outbreak):
    def start(self) -> None:
        ws = self.org.workstations
        p0 = ws[self.r.randrange(len(ws))]
        self.plan.patient_zero = p0.name
        self.sha = self.binary("wannacry", p0, True)
        inf = self.record(p0, self.t0, None, "smb-exploit", "wannacry", self.sha, self.names(p0)[0])
        assert inf is not None
        ext = f"{self.r.choice([41, 77, 103, 188])}.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        self.plan.add("exploit", self.t0 - 8 * SEC, None, p0, attack=True, src_ip=ext, t_run=self.t0,
                      guid=inf.guid, pid=inf.pid, sha=self.sha, names=self.names(p0))
        self.infected(inf)
        self.run()

    def names(self, h: Host) -> tuple[str, str, str]:
        """(dropper, payload, service) on ``h``: WannaCry's own names, or a variant's random ones per host."""
        if self.org.real.fixed_names:
            return MSSEC, TASKSCHE, "mssecsvc2.0"
        r = rng(self.plan.seed, "wcnames", h.name)
        return ("C:\\Windows\\" + self.rand_name(r), "C:\\Windows\\" + self.rand_name(r),
                self.service_name(r, "words"))

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
                inf = self.record(h, t_run, src, "smb-exploit", "wannacry", self.sha, self.names(h)[0])
                if inf:
                    self.plan.add("exploit", t + 200, src, h, attack=True, t_run=t_run, guid=inf.guid, pid=inf.pid,
                                  sha=self.sha, names=self.names(h))
                    self.infected(inf)
            elif h:
                self.plan.attacked.add(h.name)
        self.plan.add("scan445", probes[0][0] if probes else t, src, None, attack=True, probes=probes)


def emit_scan445(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r = a.rng(seed)
    for t, ip, state in a.p["probes"]:
        conn(em, r, t, me.ip(t), ephemeral(r), ip, 445, state=state, dur=0.02, ob=0, rb=0, attack=True)


def emit_exploit(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """EternalBlue against ``dst``: no logon; lsass drops mssecsvc.exe, installs mssecsvc2.0, runs tasksche
    (or a variant's names)."""
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
        "DestinationIsIpv6": "false", "DestinationIp": dst.ip(t),
        "DestinationHostname": "-" if dash(org.real.sysmon_dash, t, sport, dst.idx) else dst.fqdn,
        "DestinationPort": "445", "DestinationPortName": "microsoft-ds"}, True)
    lsass = Proc("{" + f"{dst.idx:08X}-0000-0000-0000-000000000005" + "}", 700, "C:\\Windows\\System32\\lsass.exe",
                 "C:\\Windows\\system32\\lsass.exe", "NT AUTHORITY\\SYSTEM")
    t_run = p["t_run"]
    dropper, payload, service = p["names"]
    file_created(em, dst, t_run - 3000, lsass, dropper, attack=True)
    service_installed(em, org, rr, dst, t_run - 1500, service, f"{dropper} -m security", dst.netbios + "$",
                      attack=True, start_type="auto start")
    svc = process(em, rr, dst, t_run, dropper, f"{dropper} -m security", services_proc(dst),
                  "NT AUTHORITY\\SYSTEM", sha=tuple(p["sha"]), attack=True, guid=p["guid"], pid=p["pid"])
    ks = "iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com"
    dns_query(em, rr, dst, t_run + 500, svc, ks, [], attack=True)
    em.zrow("dns", t_run + 500, zeek_uid(rr), (dst.ip(t), ephemeral(rr), org.dc(dst.idx).ip(t), 53, "udp",
                                               rr.randrange(65536), "0.030000", ks, 1, "C_INTERNET", 1, "A", 3,
                                               "NXDOMAIN", False, False, True, True, 0, None, None, False), attack=True)
    file_created(em, dst, t_run + 2000, svc, payload, attack=True)
    process(em, rr, dst, t_run + 2500, payload, f"{payload} /i", svc,
            "NT AUTHORITY\\SYSTEM", sha=(tuple(p["sha"])[0][::-1], tuple(p["sha"])[1][::-1]), attack=True)


HANDLERS = {"scan445": emit_scan445, "exploit": emit_exploit}
