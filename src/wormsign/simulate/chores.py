"""What real hosts log every day that is easy to take for an attack, as much as each seed draws.

A host's own day: its machine account's TGT requests at the DC (4768 ``HOST$`` from its address, at
boot and every few hours), services it installs locally (updates, drivers: 7045 and 4697 by the
machine itself, no logon from anywhere), and a user's copies of megabytes to the file share.
Planned across hosts (``plan_chores``): an admin copying an installer to ADMIN$ of a few hosts
(some having downloaded and run it on their own workstation first, some starting each copy with a
scheduled task), and one day's push of one installer to many workstations with no baseline before it.
"""

from __future__ import annotations

import random

from wormsign.simulate.emit import Emitter
from wormsign.simulate.net import (
    ephemeral, file_written_by_system, share_access, sid, sides, smb_logon, svchost_guid,
)
from wormsign.simulate.org import Host, Org
from wormsign.simulate.plan import Action, Plan
from wormsign.simulate.procs import (
    Proc, file_created, process, service_installed, services_proc, task_created,
)
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
        for k in range(r.randint(*c["admin_copies"])):
            admin = org.admins[r.randrange(len(org.admins))]
            src = _admin_host(org, admin)
            pkg = c["admin_installers"][r.randrange(len(c["admin_installers"]))]
            t = day0 + int(r.uniform(9.0, 17.0) * MS_HOUR)
            size = r.randrange(20_000_000, 300_000_000)
            # drawn apart, so that every other draw of the run stays what it was
            x = rng(plan.seed, "admin-install", d, k)
            first = t - x.randrange(5, 90) * 60_000 if x.random() < c["admin_install_first"] else None
            start = x.random() < c["admin_copy_start"]
            for h in r.sample(hosts, min(len(hosts), r.randint(*c["admin_copy_hosts"]))):
                if h is not src:
                    t += r.randrange(20_000, 240_000)
                    plan.add("copy", t, src, h, account=admin, share="ADMIN$", rel=f"Temp\\{pkg}", size=size,
                             sha=_sha(pkg), install=first, start=start)
                    first = None  # the admin's own run comes with the batch's first copy
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
    """An admin copies an installer to a host's share (a file), having run it on their own
    workstation first with the batch's first copy (``install``: when), and starts it on the host
    with a scheduled task (``start``) or leaves it there, nothing started."""
    r, p = a.rng(seed), a.p
    assert a.src is not None and a.dst is not None
    lid: list[str] = []
    uid, sport = smb_logon(em, org, me, r, a.t, a.src, a.dst, p["account"], org.netbios, ok=True,
                           kerberos=True, logon=lid)
    share_access(em, org, me, a.t + 300, a.src, a.dst, p["account"], p["share"], p["rel"], "0x2", uid=uid,
                 sport=sport, size=p["size"], fuid=zeek_uid(r, "F"))
    if me is a.dst:
        t_written = a.t + 300 + p["size"] // 50_000
        file_written_by_system(em, a.dst, r, t_written, "C:\\Windows\\" + p["rel"], False)
        if p.get("start"):
            start_copy(em, org, random.Random(r.getrandbits(64)), a.dst, t_written, p, lid[0])
    if me is a.src and p.get("install") is not None:
        install_own(em, org, rng(seed, "admin-install", a.id), a.src, p["install"], p)


def _engine(rel: str) -> tuple[str, str]:
    name = rel.rsplit("\\", 1)[-1]
    switch, engine = config()["admin_installer_engines"][name]
    return str(switch), str(engine)


def install_own(em: Emitter, org: Org, r: random.Random, h: Host, t: int, p: dict) -> None:
    """The admin downloads the installer with the browser and runs it from Explorer on their own
    workstation (elevated, as the admin account): Sysmon 1 and 11. Inno Setup writes its engine
    under the setup's name and starts it with the setup's path; NSIS writes its plugins; an .msi
    runs in msiexec."""
    user = f"{org.netbios}\\{h.owner or 'user'}"
    admin = f"{org.netbios}\\{p['account']}"
    home = f"C:\\Users\\{h.owner or 'user'}"
    name = p["rel"].rsplit("\\", 1)[-1]
    setup = f"{home}\\Downloads\\{name}"
    explorer = Proc("{" + f"{h.idx:08X}-0000-0000-0000-00000000000E" + "}", 4410, "C:\\Windows\\explorer.exe",
                    "C:\\Windows\\Explorer.EXE", user)
    chrome = process(em, r, h, t, "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                     '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"', explorer, user,
                     cwd="C:\\Program Files\\Google\\Chrome\\Application\\")
    t_run = t + r.randrange(60_000, 600_000)
    file_created(em, h, t_run - r.randrange(5_000, 50_000), chrome, setup)
    _, engine = _engine(p["rel"])
    if engine == "msi":
        msi = "C:\\Windows\\System32\\msiexec.exe"
        process(em, r, h, t_run, msi, f'"{msi}" /i "{setup}"', explorer, admin, integrity="High")
        return
    run = process(em, r, h, t_run, setup, f'"{setup}"', explorer, admin, sha=tuple(p["sha"]),
                  integrity="High", cwd=home + "\\Downloads\\")
    unpack = "is" if engine == "inno" else "ns"
    tmp = f"{home}\\AppData\\Local\\Temp\\{unpack}-{zeek_uid(r)[1:6].upper()}.tmp\\"
    if engine == "inno":
        eng = tmp + name.rsplit(".", 1)[0] + ".tmp"
        file_created(em, h, t_run + 400, run, eng)
        sl5 = f'/SL5="$A{r.randrange(0x1000, 0xFFFF):X},{p["size"]},832512,{setup}"'
        process(em, r, h, t_run + 900, eng, f'"{eng}" {sl5}', run, admin, integrity="High",
                cwd=home + "\\Downloads\\")
    else:
        for dll in ("System.dll", "nsDialogs.dll"):
            file_created(em, h, t_run + 400, run, tmp + dll)


def start_copy(em: Emitter, org: Org, r: random.Random, h: Host, t: int, p: dict, logon: str) -> None:
    """The admin starts the copy on ``h`` with a scheduled task run as SYSTEM (``schtasks /s``):
    4698 by the admin's network logon, the installer (or msiexec) under the Task Scheduler."""
    path = "C:\\Windows\\" + p["rel"]
    switch, engine = _engine(p["rel"])
    image, args = (("C:\\Windows\\System32\\msiexec.exe", f'/i "{path}" {switch}') if engine == "msi"
                   else (path, switch))
    name = p["rel"].rsplit("\\", 1)[-1].split("-", 1)[0].split("_", 1)[0].split(".", 1)[0] + " install"
    t_task = t + r.randrange(20_000, 120_000)
    task_created(em, org, r, h, t_task, f"\\{name}", image, args, p["account"], subject_logon=logon)
    svc = Proc(svchost_guid(h), 1200 + h.idx % 50, "C:\\Windows\\System32\\svchost.exe",
               "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", "NT AUTHORITY\\SYSTEM")
    process(em, r, h, t_task + r.randrange(2_000, 30_000), image, f'"{image}" {args}', svc,
            "NT AUTHORITY\\SYSTEM", sha=tuple(p["sha"]) if engine != "msi" else None)


HANDLERS = {"copy": emit_copy}
