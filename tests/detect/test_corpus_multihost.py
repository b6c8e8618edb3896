"""The real multi-host EVTX of ../shared/corpus/real-multihost: one source touching many hosts.

Expectations come from the folder's README (the lab offsec.lan: 10.23.123.11 and 10.23.23.9 are
the hosts the activity comes from, as the account admmig; no log of theirs is in the folder, so
the address is the right name for the source). Each file is hunted on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from huntrows import Hunted, hunt_each

FOLDER = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "real-multihost"
RDP_SERVERS = {
    "rootdc1",
    "fs03vuln",
    "fs03",
    "mssql01",
    "dhcp01",
    "webiis01",
    "prtg-mon",
    "exchange01",
    "pki01",
    "wsus01",
    "adfs01",
}
SHARPHOUND_4799 = {
    "atanids01",
    "dhcp01",
    "exchange01",
    "pki01",
    "mssql01",
    "wsus01",
    "atacore01",
    "webiis01",
    "fs01",
    "adfs01",
    "prtg-mon",
}
SHARPHOUND_SMB = {
    "dhcp01",
    "exchange01",
    "atanids01",
    "wsus01",
    "pki01",
    "fs01",
    "webiis01",
    "atacore01",
    "mssql01",
    "fs03vuln",
    "win10-02",
    "fs02",
    "prtg-mon",
    "srvdefender01",
    "adfs01",
}

#: file -> (rule, an ATT&CK id of the README's, source, the targets it names)
EXPECTED: dict[str, tuple[str, str, str, set[str]]] = {
    "ID5145-service massive remote creation via named pipe - Tchopper.evtx": (
        "remote-service",
        "T1021.002",
        "10.23.23.9",
        {"fs03"},
    ),
    "ID1149-RDP success logins to multiple hosts.evtx": (
        "rdp-fanout",
        "T1021.001",
        "10.23.123.11",
        RDP_SERVERS,
    ),
    "ID4799-4624-Local admin group enumerated by SharpHound.evtx": (
        "enum-fanout",
        "T1069.001",
        "10.23.23.9",
        SHARPHOUND_4799,
    ),
    "ID5140-5145-Bloodhound-SharpHound enumeration via SMB.evtx": (
        "enum-fanout",
        "T1135",
        "10.23.23.9",
        SHARPHOUND_SMB,
    ),
    "ID4768-4771-Kerberos brutforce with non existing users.evtx": (
        "spray",
        "T1110.003",
        "10.23.123.11",
        {"rootdc1"},
    ),
}
#: file -> why no alert names a source: the recording shows one host's side only.
ONE_SIDED: dict[str, str] = {
    "ID7000,7009,7045-Payload deployed via service - Tchopper.evtx": (
        "FS03's System log alone: 244 installs with no logon or connection that names who made them"
    ),
    "ID4688-Obfuscated payload transfer via service name - Tchopper.evtx": (
        "FS03's process starts alone (services.exe -> cmd.exe): no logon or session names the caller"
    ),
    "ID131-RDP brutforce (no user info).evtx": "connections accepted, no authentication: no logon to a host",
    "ID33205-SQL Server failed login with non existing accounts.evtx": (
        "SQL Server's own audit names no client address for its failed logins"
    ),
}


@pytest.fixture(scope="module")
def hunted(tmp_path_factory: pytest.TempPathFactory) -> Hunted:
    if not FOLDER.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return hunt_each(tmp_path_factory.mktemp("mh"), {n: FOLDER / n for n in (*EXPECTED, *ONE_SIDED)})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_source_reaching_many_hosts_is_named(hunted: dict[str, Any], name: str) -> None:
    rule, technique, source, targets = EXPECTED[name]
    alerts, _, _ = hunted[name]
    got = [a for a in alerts if a["rule"] == rule and a["source_host"] == source]
    assert got, f"{name}: raised {sorted({(a['rule'], a['source_host']) for a in alerts})}"
    assert technique in got[0]["attack"]
    assert set().union(*(a["target_hosts"] for a in got)) >= targets


@pytest.mark.parametrize("name", sorted(ONE_SIDED))
def test_one_sided_recording_names_no_source(hunted: dict[str, Any], name: str) -> None:
    alerts, _, _ = hunted[name]
    assert not [a for a in alerts if a.get("source_host") and a["source_host"] != a["host"]], ONE_SIDED[name]


@pytest.mark.parametrize("name", sorted((*EXPECTED, *ONE_SIDED)))
def test_no_outbreak_no_high_lateral_and_every_record_kept(hunted: dict[str, Any], name: str) -> None:
    """Reaching many hosts is not spreading: no outbreak; each record stored or rejected with a reason."""
    _, incidents, rep = hunted[name]
    assert not [i for i in incidents if i["type"] == "outbreak"]
    assert rep.stats.read == rep.stats.stored + rep.stats.rejected
    assert rep.stats.rejected == 0, rep.rejects[:3]


def test_services_by_the_hundred_on_one_host_are_raised_without_a_source(hunted: dict[str, Any]) -> None:
    """Tchopper on FS03's System log: 244 services in minutes. No caller is in the file, so it is
    no lateral movement, but no installer does that: an execution incident on FS03."""
    alerts, incidents, _ = hunted["ID7000,7009,7045-Payload deployed via service - Tchopper.evtx"]
    (storm,) = [a for a in alerts if a["rule"] == "service-storm"]
    assert (storm["host"], storm["source_host"], storm["fields"]["count"]) == ("fs03", None, 244)
    assert "T1569.002" in storm["attack"]
    assert [(i["type"], i["severity"]) for i in incidents] == [("execution", "medium")]
