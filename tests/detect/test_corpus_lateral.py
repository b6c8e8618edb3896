"""The real lateral-movement samples of ../shared/corpus each raise the matching hunt alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.hunt import hunt
from wormsign.ingest import ingest_paths
from wormsign.store import Case

#: File (Lateral Movement folder) -> the alerts it must raise, with evidence from that file.
EXPECTED: dict[str, set[str]] = {
    "LM_5145_Remote_FileCopy.evtx": {"admin-share-copy"},
    "LM_Remote_Service01_5145_svcctl.evtx": {"remote-service"},
    "LM_Remote_Service02_7045.evtx": set(),
    "LM_renamed_psexecsvc_5145.evtx": {"psexec", "admin-share-copy", "remote-service"},
    "LM_REMCOM_5145_TargetHost.evtx": {"psexec", "admin-share-copy", "remote-service"},
    "LM_ScheduledTask_ATSVC_target_host.evtx": {"remote-task"},
    "LM_WMI_4624_4688_TargetHost.evtx": {"wmi-exec"},
    "LM_wmiexec_impacket_sysmon_whoami.evtx": {"wmi-exec"},
    "remote_file_copy_system_proc_file_write_sysmon_11.evtx": {"admin-share-copy", "psexec"},
    "LM_sysmon_psexec_smb_meterpreter.evtx": {"remote-service"},
    "smbmap_upload_exec_sysmon.evtx": {"admin-share-copy", "wmi-exec"},
}

#: File -> (an alert it must not raise, why its telemetry cannot show that movement).
ABSENT: dict[str, tuple[str, str]] = {
    "LM_Remote_Service02_7045.evtx": (
        "remote-service", "three service installs (7045) and nothing else: no logon, session or connection "
                          "ties them to another host, so here they are local installs"),
    "remote_file_copy_system_proc_file_write_sysmon_11.evtx": (
        "remote-service", "services.exe starts PSEXESVC.exe in the system session, and no logon or connection "
                          "of this file names the host that wrote it; the copy and PsExec are raised"),
}


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    corpus = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"
    folder = corpus / "Lateral Movement"
    if not folder.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    with Case.open(str(tmp_path_factory.mktemp("corpus") / "lm.duckdb")) as case:
        ingest_paths([str(folder / f) for f in EXPECTED], case, workers=1)
        digests = {d: Path(f).name for d, f in case.rows("SELECT digest, file FROM sources")}
        result = hunt(case)
    out: dict[str, set[str]] = {f: set() for f in EXPECTED}
    for a in result.alerts:
        for ref in a["evidence"]:
            name = digests.get(ref.split(":", 1)[0])
            if name:
                out[name].add(a["rule"])
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_raises_its_alert(raised: dict[str, set[str]], name: str) -> None:
    assert EXPECTED[name] <= raised[name], f"{name}: raised {sorted(raised[name])}"


@pytest.mark.parametrize("name", sorted(ABSENT))
def test_file_cannot_show_remote_movement(raised: dict[str, set[str]], name: str) -> None:
    rule, why = ABSENT[name]
    assert rule not in raised[name], f"{name}: {why}"
