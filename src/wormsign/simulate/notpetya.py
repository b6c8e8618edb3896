"""NotPetya: credential theft, then PsExec or WMIC with the stolen admin account (no failed logons),
and a scheduled reboot on every infected host."""

from __future__ import annotations

import random

from wormsign.simulate.emit import Emitter
from wormsign.simulate.lateral import wmi_exec
from wormsign.simulate.net import conn, ephemeral, file_written_by_system, share_access, smb_logon
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action, Infection
from wormsign.simulate.procs import (
    Proc, file_created, image_hashes, process, service_installed, services_proc, task_created,
)
from wormsign.simulate.util import MS_HOUR, rng, weighted, zeek_uid
from wormsign.simulate.winlog import SECURITY
from wormsign.simulate.worm import MIN, Outbreak

SEC = 1000
PERFC = "C:\\Windows\\perfc.dat"
RUNDLL = "C:\\Windows\\System32\\rundll32.exe"


class NotPetyaOutbreak(Outbreak):
    def start(self) -> None:
        ws = self.org.workstations
        p0 = ws[self.r.randrange(len(ws))]
        self.plan.patient_zero = p0.name
        self.sha = self.binary("notpetya", p0, True)
        inf = self.record(p0, self.t0, None, "supply-chain", "notpetya", self.sha, self.path(p0))
        assert inf is not None
        self.plan.add("np_initial", self.t0 - 20 * SEC, None, p0, attack=True, user=p0.owner or "user", guid=inf.guid,
                      pid=inf.pid, sha=self.sha, path=self.path(p0))
        self.infected(inf)
        self.run()

    def path(self, h: Host) -> str:
        """Where the worm lies on ``h``: perfc.dat, or a variant's random name per host."""
        if self.org.real.fixed_names:
            return PERFC
        return "C:\\Windows\\" + self.rand_name(rng(self.plan.seed, "npname", h.name), ".dat")

    def infected(self, inf: Infection) -> None:
        f = self.fam("notpetya")
        r = rng(self.plan.seed, "np", inf.host.name)
        t_dump = inf.time + r.randint(*f["dump_delay"]) * MIN
        reboot = inf.time + r.randint(*f["reboot_after"]) * MIN
        self.plan.add("np_local", inf.time + 15 * SEC, None, inf.host, attack=True, guid=inf.guid, pid=inf.pid,
                      t_dump=t_dump, reboot=reboot, path=inf.image)
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
            inf = self.record(dst, t_run, src, method, "notpetya", self.sha, self.path(dst))
            if inf is None:
                continue
            krb = rng(self.plan.seed, "krb", src.name, dst.name)
            kerberos = krb.random() < self.org.real.kerberos_lateral
            self.plan.add("np_spread", t, src, dst, attack=True, method=method, account=account, t_run=t_run,
                          guid=inf.guid, pid=inf.pid, sha=self.sha, path=inf.image, kerberos=kerberos)
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
    file_created(em, me, t + 10 * SEC, ezvit, p["path"], attack=True)
    process(em, r, me, t + 20 * SEC, RUNDLL, f'{RUNDLL} "{p["path"]}",#1 30', ezvit, uname,
            sha=tuple(p["sha"]),
            attack=True, guid=p["guid"], pid=p["pid"])


def emit_np_local(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """On an infected host: the credential dumper and the scheduled reboot."""
    r, p = a.rng(seed), a.p
    perfc = Proc(p["guid"], p["pid"], RUNDLL, f'{RUNDLL} "{p["path"]}",#1 30', "NT AUTHORITY\\SYSTEM")
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
    """Copy perfc.dat (or the variant's name) to ADMIN$ with stolen admin credentials, then PsExec
    (service) or WMIC runs it."""
    r, p, src, dst = a.rng(seed), a.p, a.src, a.dst
    assert src is not None and dst is not None
    t, t_run, path = a.t, p["t_run"], p["path"]
    uid, sport = smb_logon(em, org, me, r, t, src, dst, p["account"], org.netbios, ok=True, attack=True,
                           kerberos=p["kerberos"])
    share_access(em, org, me, t + 400, src, dst, p["account"], "ADMIN$", path.rsplit("\\", 1)[-1], "0x2",
                 uid=uid, sport=sport, attack=True, size=362_360)
    rr = random.Random(r.getrandbits(64))
    cmd = f'{RUNDLL} "{path}",#1 30'
    if me is src:
        explicit_credentials(em, org, src, t - 300, p["account"], dst, p["method"])
    if me is dst:
        file_written_by_system(em, dst, rr, t + 480, path, True)
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


HANDLERS = {"np_initial": emit_np_initial, "np_local": emit_np_local, "np_spread": emit_np_spread}
