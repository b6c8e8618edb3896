"""The OTRF lateral-movement recordings (../shared/corpus/otrf-lateral): each raises an alert with
the technique of the dataset's own metadata, naming the machine it came from and the one it
reached, by host name wherever the telemetry ties the address to a host; none reports an outbreak.

Expectations come from the folder's README (OTRF's metadata: the ATT&CK id of each dataset, and
the lab: WORKSTATION5 at 172.18.39.5 runs the tool, WORKSTATION6 at 172.18.39.6 is usually the
target, MORDORDC the domain controller). Each file is hunted on its own, as a responder would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from huntrows import Hunted, hunt_each

from wormsign.detect.rules import load_rules
from wormsign.store import Case

FOLDER = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "otrf-lateral"
ATTACK = {r.id: set(r.attack) for r in load_rules()}

#: file prefix -> (ATT&CK ids any of which is the technique, source host, target host, why).
EXPECTED: dict[str, tuple[set[str], str, str, str]] = {
    "covenant_com_wsman_automation": (
        {"T1047", "T1021.006"},
        "workstation5",
        "workstation6",
        "no metadata; the WSMan automation object has WmiPrvSE start the command in the caller's logon",
    ),
    "covenant_dcom_executeexcel4macro_allowed": (
        {"T1021.003"},
        "workstation5",
        "workstation6",
        "SDWIN-200917174542",
    ),
    "covenant_dcom_iertutil_dll_hijack": (
        {"T1021.003"},
        "workstation5",
        "workstation6",
        "SDWIN-201009183000",
    ),
    "covenant_dcom_registerxll": ({"T1021.003"}, "workstation5", "workstation6", "SDWIN-200918145959"),
    "covenant_psremoting_command": ({"T1021.006"}, "workstation5", "workstation6", "SDWIN-200806115603"),
    "covenant_psremoting_grunt": (
        {"T1021.006"},
        "it001",
        "hr001",
        "no metadata; wsmprovhost.exe -> powershell.exe on HR001, in the logon from IT001's address",
    ),
    "covenant_sc_query_dcerpc_smb_svcctl": ({"T1021.002"}, "workstation5", "mordordc", "SDWIN-200805034820"),
    "covenant_sharpsc_query_dcerpc_smb_svcctl": (
        {"T1021.002"},
        "workstation5",
        "workstation6",
        "SDWIN-200806012009",
    ),
    "covenant_sharpsc_start_dcerpc_smb_svcctl": (
        {"T1021.002"},
        "workstation5",
        "workstation6",
        "SDWIN-200806030120",
    ),
    "covenant_sharpsc_stop_dcerpc_smb_svcctl": (
        {"T1021.002"},
        "workstation5",
        "workstation6",
        "SDWIN-200806031938",
    ),
    "covenant_sharpwmi_create_dcerpc_wmi": ({"T1047"}, "workstation5", "workstation6", "SDWIN-200806035621"),
    "covenant_wmi_remote_event_subscription": (
        {"T1047"},
        "workstation5",
        "workstation6",
        "SDWIN-200724174200",
    ),
    "covenant_wmi_wbemcomn_dll_hijack": ({"T1047"}, "workstation5", "workstation6", "SDWIN-201009173318"),
    "empire_dcom_shellwindows_stager": ({"T1021.003"}, "workstation5", "workstation6", "SDWIN-190518211052"),
    "empire_msbuild_dcerpc_wmi_smb": ({"T1047"}, "workstation5", "workstation6", "SDWIN-190518213907"),
    "empire_psremoting_stager": ({"T1021.006"}, "workstation5", "workstation6", "SDWIN-190518211456"),
    "empire_shell_dcerpc_smb_service_dll_hijack": (
        {"T1574.001", "T1570", "T1021.002"},
        "workstation5",
        "workstation6",
        "SDWIN-190403133337 (T1574.001): the DLL's copy over SMB and its start are the movement",
    ),
    "empire_wmic_add_user_backdoor": ({"T1047"}, "workstation5", "workstation6", "SDWIN-200914080546"),
    "mimikatz_CVE-2020-1472_Unauthenticated_NetrServerAuthenticate2": (
        {"T1210"},
        "workstation5",
        "mordordc",
        "SDWIN-200916232559: Zerologon against the DC",
    ),
    "schtask_modification": ({"T1053.005"}, "workstation5", "workstation6", "SDWIN-201219075059"),
}

#: file prefix -> why its telemetry cannot show the movement.
CANNOT: dict[str, str] = {
    "aadinternals_export_adfsdatabaseconfig_remotely": (
        "ADFS01's own log alone (285 records, technique T0000 in the metadata): the remote export over "
        "HTTP leaves no logon, service, task or process on ADFS01 that another host started"
    ),
    "covenant_dcom_executeexcel4macro_blocked": (
        "the DCOM activation was blocked: WORKSTATION6 logged no logon, process or connection of "
        "WORKSTATION5's; only WORKSTATION5's own MoveExcel4.exe shows the attempt"
    ),
}


def _file(prefix: str) -> Path:
    found = sorted(FOLDER.glob(prefix + "_*.json*")) or sorted(FOLDER.glob(prefix + ".json*"))
    assert len(found) == 1, f"{prefix}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def hunted(tmp_path_factory: pytest.TempPathFactory) -> Hunted:
    if not FOLDER.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return hunt_each(tmp_path_factory.mktemp("otrf"), {p: _file(p) for p in (*EXPECTED, *CANNOT)})


def _lateral(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if not a["rule"].startswith("sigma:") and a.get("source_host")]


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_recording_names_technique_source_and_target(hunted: dict[str, Any], prefix: str) -> None:
    techniques, source, target, why = EXPECTED[prefix]
    alerts, _, _ = hunted[prefix]
    hits = [
        a
        for a in _lateral(alerts)
        if set(a["attack"]) & techniques
        and a["source_host"] == source
        and target in (a.get("target_hosts") or [a["host"]])
    ]
    seen = sorted({(a["rule"], a["source_host"], a["host"]) for a in _lateral(alerts)})
    assert hits, f"{prefix} ({why}): no alert {sorted(techniques)} {source} -> {target}; raised {seen}"
    # every alert that names both ends names hosts, not a bare address, and never a host moving to itself
    for a in _lateral(alerts):
        assert a["source_host"] != a["host"], (prefix, a["rule"])


@pytest.mark.parametrize("prefix", sorted(CANNOT))
def test_recording_cannot_show_the_movement(hunted: dict[str, Any], prefix: str) -> None:
    alerts, _, _ = hunted[prefix]
    assert not _lateral(alerts), f"{prefix}: {CANNOT[prefix]}"


@pytest.mark.parametrize("prefix", sorted((*EXPECTED, *CANNOT)))
def test_no_outbreak_and_every_record_kept(hunted: dict[str, Any], prefix: str) -> None:
    """One technique between two hosts is no spread; every record is stored or rejected with a reason."""
    _, incidents, rep = hunted[prefix]
    assert not [i for i in incidents if i["type"] == "outbreak"], prefix
    assert rep.stats.read == rep.stats.stored + rep.stats.rejected and rep.stats.rejected == 0, prefix


def test_twenty_of_twenty_two() -> None:
    assert len(EXPECTED) + len(CANNOT) == 22 and len(EXPECTED) >= 20
    assert all(
        ATTACK.get(r) for r in ("wmi-exec", "winrm-exec", "dcom-exec", "remote-service", "remote-task")
    )


def test_a_local_psexec_over_the_hosts_link_local_address_is_one_incident(tmp_path: Path) -> None:
    """cmd_psexec_lsa_secrets_dump (the README: local PsExec, PSEXESVC, reg.exe as SYSTEM saving
    LSA secrets on WORKSTATION5): PsExec reaches its own host's IPC$ over the host's IPv6
    link-local address, which WORKSTATION5's own WFP records (5156, outbound and inbound) show
    is its own. The pipes are opened by workstation5 itself, so the service, its pipes and the
    analytics' PsExec alert are one incident on that host, not a second one 'from fe80::...',
    nor a Sigma incident beside the analytics' one. A PsExec on one host and nothing more is
    what an administrator does too: medium, not high."""
    if not FOLDER.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    from wormsign.hunt import hunt
    from wormsign.ingest import ingest_paths

    with Case.open(str(tmp_path / "case")) as case:
        ingest_paths([str(_file("cmd_psexec_lsa_secrets_dump"))], case, workers=1)
        res = hunt(case, sigma_rules=[])  # with the in-house Sigma rules, as `wormsign hunt`
    alerts, incidents = res.alerts, res.incidents
    pipes = [a for a in alerts if a["rule"] == "sigma:223ae3b9-7517-481d-8add-aad704d86f1f"]
    assert pipes and all(a["source_host"] == "workstation5" for a in pipes), pipes
    psexec = {a["id"] for a in alerts if a["rule"] == "psexec" or "PsExec" in a["title"]}
    assert len(psexec) >= 3
    (one,) = [i for i in incidents if psexec & set(i["alerts"])]
    assert psexec <= set(one["alerts"]) and one["severity"] == "medium", one
    assert one["title"].startswith("lateral on workstation5, from itself: psexec, sigma")
    assert not [h for i in incidents for h in i["hosts"] if h["host"].startswith("fe80")]
