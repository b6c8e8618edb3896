"""The harder network: each real-log behaviour drawn per seed, checked in the records a run wrote."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.simulate.conftest import Run, load
from wormsign.simulate import simulate
from wormsign.simulate.realism import config, draw

_TMP: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    _TMP.append(tmp_path_factory.mktemp("realism"))


@cache
def run(scenario: str, seed: int, hosts: int = 24, days: int = 1) -> Run:
    out = _TMP[-1] / f"{scenario}-{seed}-{hosts}-{days}"
    return load(out, simulate(scenario, hosts, days, seed, out, attack_at=9.0))


def ev(d: dict[str, Any]) -> dict[str, str]:
    return d["winlog"]["event_data"]


def ms(d: dict[str, Any]) -> float:
    return datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000


def of(r: Run, code: str) -> list[dict[str, Any]]:
    return [d for d in r.docs if d["event"]["code"] == code]


def seed_where(**want: bool) -> int:
    """The first seed whose drawn realism has each of ``want`` (booleans, or a share above zero)."""
    for s in range(1, 200):
        real = draw(s)
        if all(bool(getattr(real, k)) == v for k, v in want.items()):
            return s
    raise AssertionError(want)


def test_each_behaviour_varies_by_seed() -> None:
    reals = [draw(s) for s in range(1, 41)]
    for k in ("smb_sysmon", "random_netbios", "random_netbios_success", "fixed_names", "one_day_push"):
        assert {getattr(x, k) for x in reals} == {True, False}, k
    assert {x.kerberos_lateral > 0 for x in reals} == {True, False}
    for k in ("sysmon_dash", "kerberos_no_ip", "dhcp_move", "local_install", "tgt_hours"):
        assert len({round(getattr(x, k), 6) for x in reals}) > 30, k
    assert draw(7) == draw(7)


def test_kerberos_logons_without_name_or_address_ride_on_a_ticket() -> None:
    r = run("notpetya", seed_where(kerberos_lateral=True))
    logons = [d for d in of(r, "4624")
              if ev(d)["LogonType"] == "3" and ev(d)["AuthenticationPackageName"] == "Kerberos"]
    assert logons and all(ev(d)["WorkstationName"] == "-" for d in logons)
    blind = [d for d in logons if ev(d)["IpAddress"] == "-"]
    assert 0 < len(blind) < len(logons)
    tickets = of(r, "4769")
    addr = {i["host"]: i["infector"] for i in r.truth["infections"]}
    ips = {(d["host"]["hostname"], d["@timestamp"][:13]): d["host"]["ip"][0] for d in r.docs}
    checked = 0
    for d in blind:
        host, user = d["host"]["hostname"], ev(d)["TargetUserName"]
        before = [t for t in tickets if ev(t)["ServiceName"] == host.upper() + "$"
                  and ev(t)["TargetUserName"].split("@")[0] == user and 0 <= ms(d) - ms(t) <= 2000]
        assert len(before) == 1, (host, user, d["@timestamp"])
        assert before[0]["host"]["hostname"].startswith("dc-")
        src = addr.get(host) if d["event"]["id"] in r.attack_ids else None
        if src is not None:
            assert ev(before[0])["IpAddress"] == "::ffff:" + ips[(src, d["@timestamp"][:13])]
            checked += 1
    assert checked >= 1


def test_sysmon_network_names_and_direction() -> None:
    r = run("emotet", seed_where(smb_sysmon=True))
    net = of(r, "3")
    ip = {d["event"]["id"]: d["host"]["ip"][0] for d in net}
    out = [d for d in net if ev(d)["Initiated"] == "true"]
    inb = [d for d in net if ev(d)["Initiated"] == "false"]
    assert out and inb
    assert all(ev(d)["SourceIp"] == ip[d["event"]["id"]] for d in out)
    assert all(ev(d)["DestinationIp"] == ip[d["event"]["id"]] for d in inb)
    assert {ev(d)["DestinationPort"] for d in inb} >= {"445"}
    dashed = [d for d in net if ev(d)["SourceHostname"] == "-" and ev(d)["DestinationHostname"] == "-"]
    assert 0 < len(dashed) < len(net)
    assert any(ev(d)["SourceHostname"] == d["host"]["name"] for d in out)
    quiet = run("emotet", seed_where(smb_sysmon=False))
    assert not [d for d in of(quiet, "3") if ev(d)["Initiated"] == "false" and ev(d)["Image"] == "System"]


def test_machine_accounts_ask_for_tgts_from_their_address() -> None:
    r = run("benign", 3, days=2)
    tgts = [d for d in of(r, "4768") if ev(d)["TargetUserName"].endswith("$")]
    per_host = Counter(ev(d)["TargetUserName"] for d in tgts)
    hosts = {d["host"]["hostname"] for d in r.docs}
    assert set(per_host) == {h.upper() + "$" for h in hosts}
    assert min(per_host.values()) >= 2 * 2  # every few hours, both days
    own = {(d["host"]["hostname"].upper() + "$", d["@timestamp"][:16]): d["host"]["ip"][0] for d in r.docs}
    matched = [d for d in tgts if (ev(d)["TargetUserName"], d["@timestamp"][:16]) in own]
    assert matched
    for d in matched:
        assert ev(d)["IpAddress"] == "::ffff:" + own[(ev(d)["TargetUserName"], d["@timestamp"][:16])]


def test_local_service_installs_have_no_inbound_logon() -> None:
    r = run("benign", 3, hosts=40, days=2)
    names = {s[0] for s in config()["local_services"]}
    local = [d for d in of(r, "7045") if ev(d)["ServiceName"] in names]
    assert len({d["host"]["hostname"] for d in local}) >= 3
    subject = {(d["host"]["hostname"], d["@timestamp"]): ev(d) for d in of(r, "4697")}
    inbound = [d for d in of(r, "4624") if ev(d)["LogonType"] == "3"]
    for d in local:
        s = subject[(d["host"]["hostname"], d["@timestamp"])]
        assert s["SubjectLogonId"] == "0x3e7" and s["SubjectUserName"] == d["host"]["hostname"].upper() + "$"
        assert not [x for x in inbound if x["host"]["hostname"] == d["host"]["hostname"]
                    and 0 <= ms(d) - ms(x) <= 120_000], d["@timestamp"]


def test_worm_names_fixed_for_one_seed_random_for_another() -> None:
    fixed = run("wannacry", seed_where(fixed_names=True))
    rand = run("wannacry", seed_where(fixed_names=False))
    for r, want in ((fixed, True), (rand, False)):
        svc = {d["host"]["hostname"]: ev(d)["ServiceName"] for d in r.attack_docs("7045")}
        assert len(svc) >= 3 and svc.keys() == {i["host"] for i in r.truth["infections"]}
        if want:
            assert set(svc.values()) == {"mssecsvc2.0"}
            assert any(ev(d)["TargetFilename"] == "C:\\Windows\\tasksche.exe" for d in r.attack_docs("11"))
        else:
            assert len(set(svc.values())) == len(svc) and "mssecsvc2.0" not in svc.values()
            assert not any("mssecsvc" in ev(d)["TargetFilename"] or "tasksche" in ev(d)["TargetFilename"]
                           for d in r.attack_docs("11"))
    np_fixed = run("notpetya", seed_where(fixed_names=True))
    np_rand = run("notpetya", seed_where(fixed_names=False))
    assert {ev(d)["RelativeTargetName"] for d in np_fixed.attack_docs("5145")} == {"perfc.dat"}
    names = [ev(d)["RelativeTargetName"] for d in np_rand.attack_docs("5145")]
    assert len(names) >= 2 and len(set(names)) == len(names) and "perfc.dat" not in names
    em_fixed = run("emotet", seed_where(fixed_names=True))
    em_rand = run("emotet", seed_where(fixed_names=False))
    assert len({ev(d)["RelativeTargetName"].rsplit("\\", 1)[-1] for d in em_fixed.attack_docs("5145")}) == 1
    copies = [ev(d)["RelativeTargetName"] for d in em_rand.attack_docs("5145")]
    assert len(copies) >= 2 and len(set(copies)) == len(copies)


def test_brute_force_claims_random_workstation_names() -> None:
    hosts_nb = {f"WS-{i:04d}" for i in range(1, 100)}
    r = run("emotet", seed_where(random_netbios=True, random_netbios_success=False))
    fails = r.attack_docs("4625")
    names = Counter(ev(d)["WorkstationName"] for d in fails)
    assert len(fails) > 20 and len(names) > len(fails) * 0.9 and not set(names) & hosts_nb
    failed = {ev(d)["Workstation"] for d in r.attack_docs("4776") if ev(d)["Status"] != "0x0"}
    assert failed and failed <= set(names)
    for lk in r.attack_docs("4740"):
        assert ev(lk)["TargetDomainName"] in names
    ok = [d for d in r.attack_docs("4624") if ev(d)["AuthenticationPackageName"] == "NTLM"]
    assert ok and {ev(d)["WorkstationName"] for d in ok} <= hosts_nb
    plain = run("emotet", seed_where(random_netbios=False))
    src = {i["infector"].upper() for i in plain.truth["infections"] if i["infector"]}
    assert {ev(d)["WorkstationName"] for d in plain.attack_docs("4625")} <= src
    both = run("emotet", seed_where(random_netbios=True, random_netbios_success=True, kerberos_lateral=False))
    ok = [d for d in both.attack_docs("4624") if ev(d)["AuthenticationPackageName"] == "NTLM"]
    assert ok and not {ev(d)["WorkstationName"] for d in ok} & hosts_nb


def test_one_day_push_and_admin_copies() -> None:
    seed = seed_where(one_day_push=True)
    r = run("benign", seed, hosts=40, days=3)
    packages = set(config()["push_packages"])
    runs = [d for d in of(r, "1") if ev(d)["Image"].rsplit("\\", 1)[-1] in packages]
    assert len({d["@timestamp"][:10] for d in runs}) == 1 and len({ev(d)["Image"] for d in runs}) == 1
    assert len({d["host"]["hostname"] for d in runs}) >= 0.15 * 31 - 1
    parents = {ev(d)["ParentImage"].rsplit("\\", 1)[-1] for d in runs}
    assert parents <= {"PSEXESVC.exe", "PDQDeployRunner-1.exe"}
    none = run("benign", seed_where(one_day_push=False), hosts=40, days=3)
    assert not [d for d in of(none, "1") if ev(d)["Image"].rsplit("\\", 1)[-1] in packages]
    # admins copy installers to ADMIN$ (nothing started), users copy megabytes to the share
    writes = [d for d in of(r, "5145") if ev(d)["AccessMask"] == "0x2"]
    installers = set(config()["admin_installers"])
    assert any(ev(d)["ShareName"] == "\\\\*\\ADMIN$"
               and ev(d)["RelativeTargetName"].split("\\")[-1] in installers for d in writes)
    big = [x for x in r.zeek["smb_files"] if x["action"] == "SMB::FILE_WRITE" and int(x["size"]) >= 1_000_000]
    assert any(x["path"].endswith("\\Shared") for x in big)
    assert any(x["path"].endswith("\\ADMIN$") for x in big)


def test_dhcp_moves_show_in_zeek_and_sysmon() -> None:
    seeds = sorted(range(1, 30), key=lambda s: draw(s).dhcp_move)
    assert draw(seeds[-1]).dhcp_move > 3 * draw(seeds[0]).dhcp_move
    r = run("benign", seeds[-1], hosts=60, days=2)
    moves = {x["host_name"]: x["assigned_addr"] for x in r.zeek["dhcp"]}
    assert len(moves) >= 2
    out = [d for d in of(r, "3") if ev(d)["Initiated"] == "true"]
    seen = {(d["host"]["hostname"], ev(d)["SourceIp"]) for d in out}
    # a host that moved logs its connections from the old address, then from the one DHCP gave it
    moved = [h for h, ip in moves.items() if (h, ip) in seen and len({a for n, a in seen if n == h}) >= 2]
    assert moved
    for h in moved:
        first = min(ms(d) for d in out if d["host"]["hostname"] == h and ev(d)["SourceIp"] == moves[h])
        lease = min(float(x["ts"]) * 1000 for x in r.zeek["dhcp"] if x["host_name"] == h)
        assert first >= lease



def test_admins_run_their_installer_first_and_start_some_copies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin's ADMIN$ copies, with the knobs on (off in the suite): some admins downloaded the
    installer with the browser and ran it on their own workstation first (Git for Windows is Inno
    Setup: the setup writes its engine under its own name and starts it with its own path), some
    start each copy with a scheduled task."""
    import wormsign.simulate.chores as chores

    c = {**config(), "admin_install_first": 0.5, "admin_copy_start": 0.4}
    monkeypatch.setattr(chores, "config", lambda: c)
    r = load(tmp_path / "b", simulate("benign", 40, 3, 27, tmp_path / "b"))
    starts = of(r, "1")
    engines = [d for d in starts if "/SL5=" in ev(d)["CommandLine"]]
    assert engines
    for d in engines:
        setup = ev(d)["ParentImage"]
        assert "\\Downloads\\" in setup and setup in ev(d)["CommandLine"]
        assert ev(d)["User"].split("\\")[-1].startswith("adm-")
        host = d["host"]["hostname"]
        writes = [w for w in of(r, "11")
                  if w["host"]["hostname"] == host and ev(w)["TargetFilename"] == setup]
        assert writes and all(ev(w)["Image"].endswith("chrome.exe") and ms(w) < ms(d) for w in writes)
    installers = set(config()["admin_installers"])
    tasks = [d for d in of(r, "4698") if ev(d)["TaskName"].endswith(" install")]
    assert tasks and all(ev(d)["SubjectUserName"].startswith("adm-") for d in tasks)
    ran = {d["host"]["hostname"] for d in starts if ev(d)["ParentImage"].endswith("svchost.exe")
           and (ev(d)["Image"].rsplit("\\", 1)[-1] in installers or "msiexec" in ev(d)["Image"])}
    assert {d["host"]["hostname"] for d in tasks} <= ran
    # off (the suite's setting): the copies alone, as before
    monkeypatch.setattr(chores, "config", lambda: {**c, "admin_install_first": 0.0, "admin_copy_start": 0.0})
    off = load(tmp_path / "off", simulate("benign", 40, 3, 27, tmp_path / "off"))
    assert not [d for d in of(off, "1") if "/SL5=" in ev(d)["CommandLine"]]
    assert not [d for d in of(off, "4698") if ev(d)["TaskName"].endswith(" install")]
