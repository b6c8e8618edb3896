"""Network actions between hosts, as both ends and the sensor record them.

Every function is called once per side: ``me`` is the host being generated, and only its
records (plus deferred ones for domain controllers) are emitted. All random draws happen
before any side test, so both sides of one action agree on ports, uids and logon ids.
"""

from __future__ import annotations

import random
from functools import lru_cache

from wormsign.simulate.emit import Emitter
from wormsign.simulate.org import Host, Org
from wormsign.simulate.realism import dash
from wormsign.simulate.util import MS_DAY, guid, sysmon_time, zeek_uid
from wormsign.simulate.winlog import SECURITY, SYSMON

Z = "{00000000-0000-0000-0000-000000000000}"


def sid(org: Org, account: str) -> str:
    """A stable domain SID for an account name."""
    return _sid(account)


@lru_cache(maxsize=65536)
def _sid(account: str) -> str:
    return f"S-1-5-21-3623811015-3361044348-30300820-{1100 + (sum(map(ord, account)) * 7919) % 90000}"


def logon_id(r: random.Random) -> str:
    return f"0x{0x100000 + int(r.random() * 0x9EFFFFF):x}"


def ephemeral(r: random.Random) -> int:
    return 49152 + int(r.random() * 16383)


def conn(em: Emitter, r: random.Random, t: int, sip: str, sport: int, dip: str, dport: int, *,
         proto: str = "tcp", service: str | None = None, state: str = "SF", dur: float = 0.5,
         ob: int = 0, rb: int = 0, attack: bool = False, uid: str | None = None,
         local_resp: bool = True) -> str:
    """A Zeek conn row; returns its uid."""
    uid = uid or zeek_uid(r)
    hist = {"SF": "ShADadFf", "S0": "S", "REJ": "Sr", "RSTO": "ShADadR", "SH": "Sh"}.get(state, "ShADadFf")
    if proto == "udp":
        hist = "Dd"
    op = max(1, ob // 1200 + 2) if state == "SF" else 1
    rp = max(1, rb // 1200 + 2) if state in ("SF", "RSTO") else (1 if state == "REJ" else 0)
    em.zrow("conn", t, uid, (
        sip, sport, dip, dport, proto, service, f"{dur:.6f}" if state == "SF" else None,
        ob if state == "SF" else None, rb if state == "SF" else None, state, True, local_resp, 0, hist,
        op, ob + 40 * op, rp, rb + 40 * rp, None,
    ), attack)
    return uid


def smb_logon(em: Emitter, org: Org, me: Host, r: random.Random, t: int, src: Host, dst: Host, account: str,
              domain: str, *, ok: bool, sub_status: str = "0xc000006a", status: str = "0xc000006d",
              attack: bool = False, kerberos: bool = False, logon_type: int = 3,
              claimed: str | None = None, logon: list[str] | None = None) -> tuple[str, int]:
    """A network logon of ``account`` from ``src`` to ``dst``; returns the connection uid and port.

    NTLM names the client's workstation (``claimed``: the name the client sends, a brute-forcer's
    random one); Kerberos names none, and on a share of logons (per seed) records no address
    either: the DC's service ticket for ``TARGET$`` just before, from the client's address, has it.
    Where the run's Sysmon logs SMB, both ends log the connection (Sysmon 3, Initiated). ``logon``
    gets the new logon's id (what the target's 4697 and 4698 name as their subject's logon)."""
    sport, uid, lid = ephemeral(r), zeek_uid(r), logon_id(r)
    if logon is not None:
        logon.append(lid)
    kuid, kport = zeek_uid(r), ephemeral(r)
    sip, dip = src.ip(t), dst.ip(t)
    local = domain != org.netbios
    real = org.real
    kerberos = kerberos and not local  # a local account has no ticket: NTLM
    noip = kerberos and r.random() < real.kerberos_no_ip
    t_ticket = t - 5 - int(r.random() * 1500)
    wks = claimed or src.netbios
    if me is dst:
        common = {
            "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-", "SubjectLogonId": "0x0",
            "TargetUserName": account, "TargetDomainName": domain, "LogonType": str(logon_type),
            "LogonProcessName": "Kerberos" if kerberos else "NtLmSsp ",
            "AuthenticationPackageName": "Kerberos" if kerberos else "NTLM",
            "WorkstationName": "-" if kerberos else wks, "TransmittedServices": "-",
            "ProcessId": "0x0", "ProcessName": "-", "IpAddress": "-" if noip else sip,
            "IpPort": "-" if noip else str(sport),
        }
        if ok:
            common.update({
                "TargetUserSid": sid(org, account), "TargetLogonId": lid, "LogonGuid": Z,
                "LmPackageName": "-" if kerberos else "NTLM V2", "KeyLength": "0" if kerberos else "128",
                "ImpersonationLevel": "%%1833", "RestrictedAdminMode": "-", "TargetOutboundUserName": "-",
                "TargetOutboundDomainName": "-", "VirtualAccount": "%%1843", "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842",
            })
            em.event(dst, t, SECURITY, 4624, common, attack)
        else:
            common.update({
                "TargetUserSid": "S-1-0-0", "Status": status, "FailureReason":
                "%%2307" if status == "0xc0000234" else "%%2313", "SubStatus": sub_status,
                "LmPackageName": "-", "KeyLength": "0",
            })
            em.event(dst, t, SECURITY, 4625, common, attack)
        if not local and not kerberos:
            st = "0x0" if ok else (status if status == "0xc0000234" else sub_status)
            dc = org.dc(dst.idx)
            em.event(dc, t + 3, SECURITY, 4776, {
                "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", "TargetUserName": account,
                "Workstation": wks, "Status": st,
            }, attack)
        if kerberos and ok:
            service_ticket(em, org, max(t_ticket, t - t % MS_DAY), src, dst, account, kport, attack)
        if real.smb_sysmon:
            smb_connect(em, org, dst, t - 2, sip, sport, dip, inbound=True, attack=attack)
    if me is src and real.smb_sysmon:
        smb_connect(em, org, src, t - 2, sip, sport, dip, inbound=False, attack=attack)
    if me is src:
        conn(em, r, t, sip, sport, dip, 445, service="smb,ntlm" if not kerberos else "smb,gssapi,krb",
             dur=0.05 + r.random(), ob=900 + int(r.random() * 4000), rb=800 + int(r.random() * 3000), attack=attack,
             uid=uid)
        if not kerberos:
            em.zrow("ntlm", t, uid, (sip, sport, dip, 445, account, wks, domain, dst.netbios,
                                     dst.fqdn, org.domain, ok), attack)
        else:
            em.zrow("kerberos", t, kuid, (sip, kport, org.dc(src.idx).ip(t), 88, "TGS",
                                                f"{account}/{org.domain.upper()}", f"cifs/{dst.fqdn}", True,
                                                None, None, None, "aes256-cts-hmac-sha1-96", True, True,
                                                None, None, None, None), attack)
    return uid, sport


def service_ticket(em: Emitter, org: Org, t: int, src: Host, dst: Host, account: str, port: int,
                   attack: bool) -> None:
    """4769 on ``src``'s domain controller: ``account`` asked, from ``src``'s address, for a ticket to
    ``dst``'s machine account (what a Kerberos logon to ``dst`` rides on)."""
    em.event(org.dc(src.idx), t, SECURITY, 4769, {
        "TargetUserName": f"{account}@{org.domain.upper()}", "TargetDomainName": org.domain.upper(),
        "ServiceName": dst.netbios + "$", "ServiceSid": sid(org, dst.name), "TicketOptions": "0x40810000",
        "TicketEncryptionType": "0x12", "IpAddress": "::ffff:" + src.ip(t), "IpPort": str(port),
        "Status": "0x0", "LogonGuid": Z, "TransmittedServices": "-"}, attack)


def smb_connect(em: Emitter, org: Org, me: Host, t: int, sip: str, sport: int, dip: str, *, inbound: bool,
                attack: bool) -> None:
    """Sysmon 3 for an SMB session as the kernel (System, pid 4) logs it on either end: outbound, the
    source is the logging host; inbound (``Initiated`` false), the destination and its listening port.
    Host names are '-' on the run's share of records (Sysmon often resolves none)."""
    no_names = dash(org.real.sysmon_dash, t, sport, me.idx)
    em.event(me, t, SYSMON, 3, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": system_guid(me), "ProcessId": "4",
        "Image": "System", "User": "NT AUTHORITY\\SYSTEM", "Protocol": "tcp",
        "Initiated": "false" if inbound else "true", "SourceIsIpv6": "false", "SourceIp": sip,
        "SourceHostname": "-" if no_names or inbound else me.fqdn, "SourcePort": str(sport),
        "SourcePortName": "-", "DestinationIsIpv6": "false", "DestinationIp": dip,
        "DestinationHostname": "-" if no_names or not inbound else me.fqdn, "DestinationPort": "445",
        "DestinationPortName": "microsoft-ds"}, attack)


SHARES = {"ADMIN$": "\\??\\C:\\Windows", "C$": "\\??\\C:\\", "IPC$": "", "NETLOGON":
          "\\??\\C:\\Windows\\SYSVOL\\sysvol\\corp.example\\SCRIPTS", "SYSVOL": "\\??\\C:\\Windows\\SYSVOL\\sysvol"}


def share_access(em: Emitter, org: Org, me: Host, t: int, src: Host, dst: Host, account: str, share: str,
                 rel: str | None, mask: str, *, uid: str, sport: int, attack: bool = False,
                 local_path: str | None = None, size: int = 0, fuid: str = "") -> None:
    """5140 (and 5145 for ``rel``) on ``dst``; smb_mapping and smb_files at the sensor."""
    sip, dip = src.ip(t), dst.ip(t)
    if me is dst:
        base = {
            "SubjectUserSid": sid(org, account), "SubjectUserName": account, "SubjectDomainName": org.netbios,
            "SubjectLogonId": "0x" + uid[-6:].encode().hex()[:7], "ObjectType": "File", "IpAddress": sip,
            "IpPort": str(sport), "ShareName": "\\\\*\\" + share,
            "ShareLocalPath": local_path if local_path is not None else SHARES.get(share, "\\??\\D:\\" + share),
        }
        em.event(dst, t, SECURITY, 5140, {**base, "AccessMask": "0x1", "AccessList": "%%4416"}, attack)
        if rel:
            em.event(dst, t + 40, SECURITY, 5145, {
                **base, "RelativeTargetName": rel, "AccessMask": mask,
                "AccessList": "%%4417" if mask == "0x2" else "%%4416", "AccessReason": "-",
            }, attack)
    if me is src:
        em.zrow("smb_mapping", t, uid, (sip, sport, dip, 445, f"\\\\{dip}\\{share}", None,
                                        "NTFS" if share != "IPC$" else None, "DISK" if share != "IPC$" else "PIPE"),
                attack)
        if rel:
            em.zrow("smb_files", t + 40, uid, (
                sip, sport, dip, 445, fuid or uid.replace("C", "F", 1), "SMB::FILE_WRITE" if mask == "0x2"
                else "SMB::FILE_OPEN", f"\\\\{dip}\\{share}", rel, size, None, None, None, None, None, 0, 0, 0,
            ), attack)


def file_written_by_system(em: Emitter, dst: Host, r: random.Random, t: int, path: str, attack: bool) -> None:
    """Sysmon 11 for a file an SMB client wrote: the writer is the System process."""
    em.event(dst, t, SYSMON, 11, {
        "RuleName": "-", "UtcTime": sysmon_time(t), "ProcessGuid": system_guid(dst), "ProcessId": "4",
        "Image": "System", "TargetFilename": path, "CreationUtcTime": sysmon_time(t), "User": "NT AUTHORITY\\SYSTEM",
    }, attack)


def system_guid(h: Host) -> str:
    return guid(random.Random(h.idx * 7 + 1))


def services_guid(h: Host) -> str:
    return guid(random.Random(h.idx * 7 + 2))


def svchost_guid(h: Host) -> str:
    return guid(random.Random(h.idx * 7 + 3))


def sides(r: random.Random, hosts: tuple[Host, ...], call):  # type: ignore[no-untyped-def]
    """Run ``call(me, rng)`` once per side with identical random draws; returns the last result."""
    s = r.getrandbits(64)
    res = None
    for me in hosts:
        res = call(me, random.Random(s))
    return res
