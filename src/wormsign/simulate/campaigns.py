"""Planned administrative activity between hosts: deployments, patch days, scans, backups, helpdesk."""

from __future__ import annotations

import random

from wormsign.simulate.benign import config
from wormsign.simulate.chores import plan_chores
from wormsign.simulate.emit import Emitter
from wormsign.simulate.lateral import push
from wormsign.simulate.net import conn, ephemeral, share_access, smb_logon
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action, Plan
from wormsign.simulate.procs import Proc, process
from wormsign.simulate.util import MS_DAY, MS_HOUR, digest_hex, rng, zeek_uid
from wormsign.simulate.winlog import SECURITY


class BenignDays:
    """The everyday actions, planned a day at a time. Planning every day once up front (keeping
    nothing) gives each day's first action id, the same ids as planning them all at once; the
    writer then asks for a day's actions, and only the days whose actions can still fall on the
    day being written are held."""

    def __init__(self, plan: Plan, days: int) -> None:
        self.plan, self.days = plan, days
        self.first: list[int] = []  # id of the first action each day's planning adds
        self.reach: list[int] = []  # the last day an action of that planning falls on
        held, plan.by_host = plan.by_host, None
        try:
            for d in range(days):
                self.first.append(plan.next_id)
                plan.last_t = -1
                plan_benign(plan, days, only=d)
                self.reach.append(max(d, (plan.last_t - plan.org.start) // MS_DAY))
        finally:
            plan.by_host = held
        self.loaded: dict[int, dict[int, list[Action]]] = {}  # planning day -> host idx -> actions
        self.ready = -1  # the day the loaded plannings are for

    def for_host(self, h: Host, day: int) -> list[Action]:
        """The everyday actions of ``h`` planned on any day whose actions reach ``day``, in the order planned."""
        if day != self.ready:
            self._load(day)
        out: list[Action] = []
        for p in sorted(self.loaded):
            out.extend(self.loaded[p].get(h.idx, ()))
        return out

    def _load(self, day: int) -> None:
        plan = self.plan
        for p in [p for p in self.loaded if self.reach[p] < day]:
            del self.loaded[p]
        saved = plan.next_id, plan.by_host, plan.last_t
        try:
            for p in range(day + 1):
                if self.reach[p] >= day and p not in self.loaded:
                    plan.next_id, plan.by_host = self.first[p], {}
                    plan_benign(plan, self.days, only=p)
                    self.loaded[p] = plan.by_host
        finally:
            plan.next_id, plan.by_host, plan.last_t = saved
        self.ready = day


def plan_benign(plan: Plan, days: int, only: int | None = None) -> None:
    """Add the everyday administration of every day (of day ``only``) to ``plan``."""
    org, seed = plan.org, plan.seed
    c = config()["campaigns"]
    ws = org.workstations
    sccm, pdq, scan, bak, adm = (org.one(x) for x in ("sccm", "pdq", "scanner", "backup", "admin"))
    servers = [h for h in org.hosts if h.server and h is not bak]
    r0 = rng(seed, "campaigns")
    new_pdq_day = r0.randrange(days) if r0.random() < c["pdq_new_binary"] else -1
    weekdays = [((org.start // MS_DAY) + d + 3) % 7 for d in range(days)]  # 1970-01-01 was a Thursday
    patch_days = [d for d in range(days) if weekdays[d] == c["patch_weekday"]] or [0]
    scan_days = [d for d in range(days) if weekdays[d] == c["scan_weekday"]] or [min(1, days - 1)]
    for d in range(days) if only is None else (only,):
        r = rng(seed, "campaigns", d)
        day0 = org.start + d * MS_DAY
        workday = weekdays[d] < 5
        pk = c["sccm_package"]
        for h in r.sample(ws, max(1, int(len(ws) * r.uniform(*c["sccm_daily_share"])))):
            plan.add("deploy", day0 + int(r.uniform(8, 17) * MS_HOUR), sccm, h, tool="sccm", account="svc-sccm",
                     rel=pk["rel"], service=pk["service"], args=pk["args"], sha=_sha("ccmsetup", 1))
        if d in patch_days:
            pk = c["patch_package"]
            t = day0 + int(r.uniform(*c["patch_hours"]) * MS_HOUR)
            for i, h in enumerate(ws):
                plan.add("deploy", t + (i // 50) * 120_000 + r.randrange(60_000), sccm, h, tool="sccm",
                         account="svc-sccm", rel=pk["rel"], service=pk["service"], args=pk["args"],
                         sha=_sha("kb5034441", 1))
        if workday:
            pkg = c["pdq_packages"][r.randrange(len(c["pdq_packages"]))]
            version = 2 if d == new_pdq_day else 1
            t = day0 + int(r.uniform(9, 15) * MS_HOUR)
            for i, h in enumerate(r.sample(ws, max(1, int(len(ws) * r.uniform(*c["pdq_share"]))))):
                plan.add("deploy", t + i * 4000 + r.randrange(3000), pdq, h, tool="pdq", account="svc-pdq",
                         rel="AdminArsenal\\PDQDeployRunner\\service-1\\PDQDeployRunner-1.exe",
                         service="PDQDeployRunner-1", args="", sha=_sha("pdqrunner", 1), package=pkg,
                         package_sha=_sha(pkg, version))
            for _ in range(r.randint(*c["psexec_sessions"])):
                t = day0 + int(r.uniform(9, 17) * MS_HOUR)
                admin = org.admins[r.randrange(len(org.admins))]
                for h in r.sample(org.hosts[1:], min(len(org.hosts) - 1, r.randint(*c["psexec_targets"]))):
                    if h is adm:
                        continue
                    t += r.randrange(3000, 20_000)
                    plan.add("deploy", t, adm, h, tool="psexec", account=admin, rel="PSEXESVC.exe",
                             service="PSEXESVC", args="", sha=_sha("psexesvc", 1))
            for _ in range(r.randint(*c["helpdesk_sessions"])):
                plan.add("helpdesk", day0 + int(r.uniform(8, 17) * MS_HOUR), adm, ws[r.randrange(len(ws))],
                         account=org.admins[r.randrange(len(org.admins))])
        if d in scan_days:
            t = day0 + int(r.uniform(*c["scan_hour"]) * MS_HOUR)
            for i, h in enumerate(org.hosts):
                if h is not scan:
                    plan.add("scan", t + i * 700 + r.randrange(500), scan, h, account="svc-scan")
        t = day0 + int(r.uniform(*c["backup_hour"]) * MS_HOUR)
        targets = servers + [h for h in ws if r.random() < c["backup_ws_share"]]
        for i, h in enumerate(targets):
            plan.add("backup", t + i * 45_000 + r.randrange(30_000), bak, h, account="svc-backup")
        plan_chores(plan, days, d, rng(seed, "chores-plan", d))


def _sha(name: str, version: int) -> tuple[str, str]:
    return digest_hex("sha256", "pkg", name, version), digest_hex("md5", "pkg", name, version)


def emit_deploy(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r = a.rng(seed)
    p = a.p
    assert a.src is not None and a.dst is not None
    t_run, path = push(em, org, me, r, a.t, a.src, a.dst, account=p["account"], domain=org.netbios, share="ADMIN$",
                       rel=p["rel"], sha=tuple(p["sha"]), how="service", name=p["service"], args=p["args"],
                       kerberos=True)
    if me is a.dst and p.get("package"):
        runner = Proc(zeek_uid(r), 4100, path, path, "NT AUTHORITY\\SYSTEM")
        exec_dir = p.get("exec_dir", "C:\\Windows\\AdminArsenal\\PDQDeployRunner\\service-1\\exec\\")
        pkg = exec_dir + p["package"]
        process(em, r, me, t_run + 2500, pkg, f'"{pkg}" /S', runner, "NT AUTHORITY\\SYSTEM", sha=tuple(p["package_sha"]))


def emit_scan(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r = a.rng(seed)
    assert a.src is not None and a.dst is not None
    t, src, dst = a.t, a.src, a.dst
    rl = random.Random(r.getrandbits(64))
    if me is src:
        for port in (135, 139, 445, 3389):
            state = "SF" if port in (135, 445) else r.choice(["REJ", "S0"])
            conn(em, r, t, src.ip(t), ephemeral(r), dst.ip(t), port, state=state, dur=0.01, ob=60, rb=120)
            t += 40
    smb_logon(em, org, me, rl, a.t + 500, src, dst, a.p["account"], org.netbios, ok=True)


def emit_backup(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r = a.rng(seed)
    assert a.src is not None and a.dst is not None
    uid, sport = smb_logon(em, org, me, r, a.t, a.src, a.dst, a.p["account"], org.netbios, ok=True, kerberos=True)
    share_access(em, org, me, a.t + 300, a.src, a.dst, a.p["account"], "C$", "Users", "0x120089", uid=uid,
                 sport=sport)


def emit_helpdesk(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    r = a.rng(seed)
    assert a.src is not None and a.dst is not None
    src, dst, t = a.src, a.dst, a.t
    sport, uid = ephemeral(r), zeek_uid(r)
    if me is src:
        conn(em, r, t, src.ip(t), sport, dst.ip(t), 3389, service="ssl", dur=r.uniform(300, 2400),
             ob=r.randrange(10**5, 10**7), rb=r.randrange(10**6, 10**8), uid=uid)
    if me is dst:
        em.event(dst, t + 900, SECURITY, 4624, {
            "SubjectUserSid": "S-1-5-18", "SubjectUserName": dst.netbios + "$", "SubjectDomainName": org.netbios,
            "SubjectLogonId": "0x3e7", "TargetUserName": a.p["account"], "TargetDomainName": org.netbios,
            "TargetLogonId": f"0x{r.randrange(0x100000, 0x9FFFFFF):x}", "LogonType": "10",
            "LogonProcessName": "User32 ", "AuthenticationPackageName": "Negotiate", "WorkstationName": dst.netbios,
            "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0", "ProcessId": "0x5d8",
            "ProcessName": "C:\\Windows\\System32\\svchost.exe", "IpAddress": src.ip(t), "IpPort": "0"})
        rr = random.Random(r.getrandbits(32))
        parent = Proc("{" + f"{dst.idx:08X}-0000-0000-0000-000000000010" + "}", 900,
                      "C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k termsvcs",
                      "NT AUTHORITY\\NETWORK SERVICE")
        process(em, rr, dst, t + 1500, "C:\\Windows\\System32\\rdpclip.exe", "rdpclip", parent,
                f"{org.netbios}\\{a.p['account']}")


HANDLERS = {"deploy": emit_deploy, "scan": emit_scan, "backup": emit_backup, "helpdesk": emit_helpdesk}
