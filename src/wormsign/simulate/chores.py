"""What real hosts log every day that is easy to take for an attack, as much as each seed draws.

A host's own day: its machine account's TGT requests at the DC (4768 ``HOST$`` from its address, at
boot and every few hours), services it installs locally (updates, drivers: 7045 and 4697 by the
machine itself, no logon from anywhere), and a user's copies of megabytes to the file share.
Planned across hosts (``plan_chores``): an admin copying an installer to ADMIN$ of a few hosts,
and one day's push of one installer to many workstations with no baseline before it.
"""

from __future__ import annotations

import random

from wormsign.simulate.emit import Emitter
from wormsign.simulate.net import ephemeral, file_written_by_system, share_access, sid, sides, smb_logon
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action, Plan
from wormsign.simulate.procs import process, service_installed, services_proc
from wormsign.simulate.realism import config
from wormsign.simulate.util import MS_DAY, MS_HOUR, digest_hex, rng, zeek_uid
from wormsign.simulate.winlog import SECURITY

SYSTEM = "NT AUTHORITY\\SYSTEM"


def host_day(em: Emitter, org: Org, seed: int, h: Host, d: int, day0: int, weekday: int) -> None:
    """The chores of ``h`` on day ``d``."""
    r = rng(seed, "chores", h.name, d)
    real, c = org.real, config()
    boot = day0 + int(r.uniform(6.0, 7.5) * MS_HOUR) if not h.server and weekday < 5 else None
    machine_tgts(em, org, r, h, day0, boot)
    if r.random() < real.local_install:
        at_boot = boot is not None and r.random() < c["boot_install"]
        t = boot + r.randrange(60_000, 240_000) if at_boot and boot else day0 + r.randrange(MS_DAY - MS_HOUR)
        local_install(em, org, r, h, t, c["local_services"][r.randrange(len(c["local_services"]))])
    if not h.server and weekday < 5 and h.owner:
        for _ in range(r.randint(*c["user_copies"])):
            user_copy(em, org, r, h, day0 + int(r.uniform(9.0, 17.0) * MS_HOUR))


def machine_tgts(em: Emitter, org: Org, r: random.Random, h: Host, day0: int, boot: int | None) -> None:
    """4768 for ``HOST$`` at the DC: at boot, then every ``tgt_hours`` (a phase of its own per host)."""
    period = int(org.real.tgt_hours * MS_HOUR)
    phase = rng(org.seed, "tgt-phase", h.name).randrange(period)
    times = [day0 + phase + k * period for k in range(MS_DAY // period + 1)]
    times = [t for t in times if t < day0 + MS_DAY]
    if boot is not None:
        times = sorted([boot, *(t for t in times if abs(t - boot) > 600_000)])
    dc = org.dc(h.idx)
    for t in times:
        em.event(dc, t, SECURITY, 4768, {
            "TargetUserName": h.netbios + "$", "TargetDomainName": org.netbios,
            "TargetSid": sid(org, h.name + "$"),
            "ServiceName": "krbtgt", "ServiceSid": "S-1-5-21-3623811015-3361044348-30300820-502",
            "TicketOptions": "0x40810010", "Status": "0x0", "TicketEncryptionType": "0x12",
            "PreAuthType": "2",
            "IpAddress": "::ffff:" + h.ip(t), "IpPort": str(ephemeral(r)), "CertIssuerName": "",
            "CertSerialNumber": "", "CertThumbprint": ""})


def local_install(em: Emitter, org: Org, r: random.Random, h: Host, t: int, svc: list[str]) -> None:
    """An update or driver installs a service on ``h`` by itself: the installer (Sysmon 1), 7045, 4697
    by the machine account in the SYSTEM logon (0x3e7)."""
    name, image_path, installer = svc
    process(em, r, h, t - 20_000, installer, f'"{installer}" /install', services_proc(h), SYSTEM)
    service_installed(em, org, r, h, t, name, image_path, h.netbios + "$", start_type="auto start",
                      subject_logon="0x3e7")


def user_copy(em: Emitter, org: Org, r: random.Random, h: Host, t: int) -> None:
    """The user of ``h`` copies a file of megabytes to the file share (Kerberos, Shared, write)."""
    user = h.owner or "user"
    fss = org.by_role["fs"]
    fs = fss[r.randrange(len(fss))]
    lo, hi = config()["user_copy_bytes"]
    size = int(lo * (hi / lo) ** r.random())  # log-uniform: most copies a few MB, some hundreds
    name = r.choice(["Exports", "Video", "Backup", "Scans", "Archive"])
    ext = r.choice([".zip", ".pst", ".mp4", ".iso", ".pdf", ".vhdx"])
    rel = f"Users\\{user}\\{name}\\{user}-{r.randrange(10_000)}{ext}"
    uid, sport = sides(r, (h, fs), lambda me, rr: smb_logon(em, org, me, rr, t, h, fs, user, org.netbios,
                                                          ok=True, kerberos=True))
    for me in (h, fs):
        share_access(em, org, me, t + 150, h, fs, user, "Shared", rel, "0x2", uid=uid, sport=sport,
                     local_path="\\??\\D:\\Shares\\Shared", size=size)


def plan_chores(plan: Plan, days: int, d: int, r: random.Random) -> None:
    """The cross-host chores of day ``d``: admins' ADMIN$ copies (workdays) and the run's one-day push."""
    org, c = plan.org, config()
    day0 = org.start + d * MS_DAY
    weekday = ((org.start // MS_DAY) + d + 3) % 7
    hosts = [h for h in org.hosts if h.role != "dc"]
    if weekday < 5:
        for _ in range(r.randint(*c["admin_copies"])):
            admin = org.admins[r.randrange(len(org.admins))]
            src = _admin_host(org, admin)
            pkg = c["admin_installers"][r.randrange(len(c["admin_installers"]))]
            t = day0 + int(r.uniform(9.0, 17.0) * MS_HOUR)
            size = r.randrange(20_000_000, 300_000_000)
            for h in r.sample(hosts, min(len(hosts), r.randint(*c["admin_copy_hosts"]))):
                if h is not src:
                    t += r.randrange(20_000, 240_000)
                    plan.add("copy", t, src, h, account=admin, share="ADMIN$", rel=f"Temp\\{pkg}", size=size,
                             sha=_sha(pkg))
    pr = rng(plan.seed, "one-day-push")
    if org.real.one_day_push and d == pr.randrange(days):
        admin = org.admins[pr.randrange(len(org.admins))]
        tool, rel, service, exec_dir = c["push_tools"][pr.randrange(len(c["push_tools"]))]
        src = _admin_host(org, admin) if tool == "psexec" else org.one("admin")
        package = c["push_packages"][pr.randrange(len(c["push_packages"]))]
        ws = org.workstations
        t = day0 + int(pr.uniform(10.0, 16.0) * MS_HOUR)
        for h in pr.sample(ws, max(2, int(len(ws) * pr.uniform(*c["one_day_push_share"])))):
            if h is src:
                continue
            t += pr.randrange(2_000, 15_000)
            plan.add("deploy", t, src, h, tool=tool, account=admin, rel=rel, service=service, args="",
                     sha=_sha(rel), package=package, package_sha=_sha(package), exec_dir=exec_dir)


def _admin_host(org: Org, admin: str) -> Host:
    """The workstation of the admin's everyday account (adm-jdoe works at jdoe's)."""
    user = admin.removeprefix("adm-")
    return next((h for h in org.workstations if h.owner == user), org.one("admin"))


def _sha(name: str) -> tuple[str, str]:
    return digest_hex("sha256", "installer", name), digest_hex("md5", "installer", name)


def emit_copy(em: Emitter, org: Org, seed: int, me: Host, a: Action) -> None:
    """An admin copies an installer to a host's share (a file, nothing started)."""
    r, p = a.rng(seed), a.p
    assert a.src is not None and a.dst is not None
    uid, sport = smb_logon(em, org, me, r, a.t, a.src, a.dst, p["account"], org.netbios, ok=True,
                           kerberos=True)
    share_access(em, org, me, a.t + 300, a.src, a.dst, p["account"], p["share"], p["rel"], "0x2", uid=uid,
                 sport=sport, size=p["size"], fuid=zeek_uid(r, "F"))
    if me is a.dst:
        t_written = a.t + 300 + p["size"] // 50_000
        file_written_by_system(em, a.dst, r, t_written, "C:\\Windows\\" + p["rel"], False)


HANDLERS = {"copy": emit_copy}
