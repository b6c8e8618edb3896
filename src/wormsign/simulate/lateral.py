"""Remote execution over SMB, as deployment tools and worms both do it: copy, then service, task or WMI."""

from __future__ import annotations

import random

from wormsign.simulate.emit import Emitter
from wormsign.simulate.net import conn, ephemeral, file_written_by_system, share_access, smb_logon, svchost_guid
from wormsign.simulate.org import Host, Org
from wormsign.simulate.procs import Proc, process, service_installed, services_proc, task_created
from wormsign.simulate.util import zeek_uid

SHARE_ROOT = {"ADMIN$": "C:\\Windows\\", "C$": "C:\\"}


def _rpc(em: Emitter, t: int, uid: str, src: Host, sport: int, dst: Host, pipe: str, endpoint: str,
         ops: list[str], attack: bool) -> None:
    for i, op in enumerate(ops):
        em.zrow("dce_rpc", t + 30 * i, uid, (src.ip(t), sport, dst.ip(t), 445, f"{0.0005 + 0.0003 * i:.6f}",
                                             pipe, endpoint, op), attack)


def push(em: Emitter, org: Org, me: Host, r: random.Random, t: int, src: Host, dst: Host, *, account: str,
         domain: str, share: str, rel: str, sha: tuple[str, str], how: str, name: str, args: str = "",
         attack: bool = False, kerberos: bool = False, size: int = 250_000, t_run: int | None = None,
         guid: str | None = None, pid: int | None = None,
         launch: tuple[str, str, tuple[str, str]] | None = None,
         claimed: str | None = None) -> tuple[int, str]:
    """Copy a binary to ``dst``'s ``share`` and start it with a service (``how='service'``) or a
    scheduled task (``how='task'``). Returns (time the binary starts, its path on the target).

    ``t_run`` fixes when it starts (the plan's infection time); ``guid``/``pid`` fix the started
    process; ``launch`` = (image, command line, hashes) starts another program instead (PsExec);
    ``claimed`` is the workstation name an NTLM logon gives, when not ``src``'s own."""
    lid: list[str] = []
    uid, sport = smb_logon(em, org, me, r, t, src, dst, account, domain, ok=True, attack=attack,
                           kerberos=kerberos, claimed=claimed, logon=lid)
    path = SHARE_ROOT[share] + rel
    t_copy = t + 200 + r.randrange(800)
    fuid = zeek_uid(r, "F")
    t_reg = t_copy + 300 + r.randrange(1500)
    t_go = t_reg + 100 + r.randrange(900)
    if t_run is not None:
        t_copy, t_reg = t + (t_run - t) * 3 // 10, t + (t_run - t) * 8 // 10
    else:
        t_run = t_go
    share_access(em, org, me, t_copy, src, dst, account, share, rel, "0x2", uid=uid, sport=sport, attack=attack,
                 size=size, fuid=fuid)
    rr = random.Random(r.getrandbits(64))
    cmd = f'"{path}"' + (f" {args}" if args else "")
    image, run_sha = path, sha
    if launch:
        image, cmd, run_sha = launch
    if me is dst:
        file_written_by_system(em, dst, rr, t_copy + 80, path, attack)
        if how == "service":
            service_installed(em, org, rr, dst, t_reg, name, cmd if (args or launch) else path, account,
                              attack=attack, subject_logon=lid[0])
            process(em, rr, dst, t_run, image, cmd, services_proc(dst), "NT AUTHORITY\\SYSTEM", sha=run_sha,
                    attack=attack, guid=guid, pid=pid)
        else:
            task_created(em, org, rr, dst, t_reg, name, image, args, account, attack=attack,
                         subject_logon=lid[0])
            svc = Proc(svchost_guid(dst), 1200 + dst.idx % 50, "C:\\Windows\\System32\\svchost.exe",
                       "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", "NT AUTHORITY\\SYSTEM")
            process(em, rr, dst, t_run, image, cmd, svc, "NT AUTHORITY\\SYSTEM", sha=run_sha, attack=attack,
                    guid=guid, pid=pid)
    if me is src:
        if how == "service":
            em.zrow("smb_mapping", t_reg - 50, uid, (src.ip(t), sport, dst.ip(t), 445, f"\\\\{dst.ip(t)}\\IPC$",
                                                     None, None, "PIPE"), attack)
            _rpc(em, t_reg, uid, src, sport, dst, "\\pipe\\svcctl", "svcctl",
                 ["OpenSCManagerW", "CreateServiceW", "StartServiceW", "CloseServiceHandle"], attack)
        else:
            _rpc(em, t_reg, uid, src, sport, dst, "\\pipe\\atsvc", "ITaskSchedulerService",
                 ["SchRpcRegisterTask", "SchRpcRun"], attack)
    return t_run, path


def wmi_exec(em: Emitter, org: Org, me: Host, r: random.Random, t: int, src: Host, dst: Host, *, account: str,
             command: str, image: str, sha: tuple[str, str] | None = None, attack: bool = False,
             t_run: int | None = None, guid: str | None = None, pid: int | None = None) -> int:
    """WMIC ``process call create`` on ``dst``: a type-3 logon, DCOM on 135, WmiPrvSE starting the command."""
    smb_logon(em, org, me, r, t, src, dst, account, org.netbios, ok=True, attack=attack, kerberos=True)
    sport, dport, uid1, uid2 = ephemeral(r), r.randrange(49664, 49700), zeek_uid(r), zeek_uid(r)
    t_go = t + 400 + r.randrange(1200)
    t_run = t_go if t_run is None else t_run
    rr = random.Random(r.getrandbits(64))
    if me is src:
        conn(em, r, t + 50, src.ip(t), sport, dst.ip(t), 135, service="dce_rpc", ob=1200, rb=900, attack=attack,
             uid=uid1)
        em.zrow("dce_rpc", t + 60, uid1, (src.ip(t), sport, dst.ip(t), 135, "0.000412", "135",
                                          "IRemoteSCMActivator", "RemoteCreateInstance"), attack)
        conn(em, r, t + 200, src.ip(t), sport + 1, dst.ip(t), dport, service="dce_rpc", ob=5200, rb=3100,
             attack=attack, uid=uid2)
        em.zrow("dce_rpc", t + 220, uid2, (src.ip(t), sport + 1, dst.ip(t), dport, "0.001203", str(dport),
                                           "IWbemServices", "ExecMethod"), attack)
    if me is dst:
        wmi = Proc(svchost_guid(dst).replace("{", "{A"[:1]), 3300 + dst.idx % 90,
                   "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
                   "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", "NT AUTHORITY\\NETWORK SERVICE")
        process(em, rr, dst, t_run, image, command, wmi, f"{org.netbios}\\{account}", sha=sha, attack=attack,
                integrity="High", guid=guid, pid=pid)
    return t_run
