"""The in-house rules and the SigmaHQ Windows rules on real attack EVTX files (../shared/corpus)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wormsign.detect.sigma import SigmaRun, run_sigma
from wormsign.ingest import ingest_paths
from wormsign.store import Case

ROOT = Path(__file__).resolve().parents[3]
LM = ROOT.parent / "shared" / "corpus" / "evtx-attack-samples" / "Lateral Movement"
SIGMAHQ = ROOT.parent / "shared" / "sigma" / "rules" / "windows"

pytestmark = pytest.mark.skipif(not LM.is_dir(), reason="../shared/corpus is not beside the repository")


@pytest.fixture(scope="module")
def lm_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    case = Case.open(str(tmp_path_factory.mktemp("sigma") / "lm.duckdb"))
    report = ingest_paths([str(LM)], case, workers=1)
    assert report.stats.rejected == 0 and report.stats.stored > 1000
    yield case
    case.close()


@pytest.fixture(scope="module")
def builtin_run(lm_case: Case) -> SigmaRun:
    return run_sigma(lm_case)


def files_of(case: Case, alert: dict) -> set[str]:
    out = set()
    for ref in alert["evidence"]:
        digest, record = ref.split(":")
        rows = case.rows(
            'SELECT "src.file" FROM events WHERE "src.digest" = ? AND "src.record" = ?', [digest, int(record)]
        )
        out |= {Path(r[0]).name for r in rows}
    return out


def fired_on(run: SigmaRun, case: Case, rule_id: str) -> set[str]:
    return {f for a in run.alerts if a["rule"] == f"sigma:{rule_id}" for f in files_of(case, a)}


def test_builtin_rules_all_convert(builtin_run: SigmaRun) -> None:
    assert builtin_run.skipped == []
    assert builtin_run.loaded == builtin_run.converted == 16


def test_admin_share_write(builtin_run: SigmaRun, lm_case: Case) -> None:
    files = fired_on(builtin_run, lm_case, "51dcf743-a5c4-454a-8dc0-7f417e6cd024")
    assert {
        "LM_5145_Remote_FileCopy.evtx",
        "LM_renamed_psexecsvc_5145.evtx",
        "LM_REMCOM_5145_TargetHost.evtx",
    } <= files
    a = next(
        a
        for a in builtin_run.alerts
        if a["rule"].endswith("51dcf743-a5c4-454a-8dc0-7f417e6cd024")
        and files_of(lm_case, a) == {"LM_5145_Remote_FileCopy.evtx"}
    )
    assert a["source_host"] == "10.0.2.15" and a["target_hosts"] == ["pc01"]
    assert a["fields"]["RelativeTargetName"] in ("malwr.exe", "Windows\\Temp\\setup.bat")


def test_psexec_pipes_on_renamed_psexec(builtin_run: SigmaRun, lm_case: Case) -> None:
    assert fired_on(builtin_run, lm_case, "223ae3b9-7517-481d-8add-aad704d86f1f") == {
        "LM_renamed_psexecsvc_5145.evtx"
    }


def test_service_spawning_shell_on_meterpreter_psexec(builtin_run: SigmaRun, lm_case: Case) -> None:
    files = fired_on(builtin_run, lm_case, "fe5ea126-77af-4939-ab3b-1728171d1a52")
    assert files == {"LM_sysmon_psexec_smb_meterpreter.evtx"}


def test_remote_scheduled_task(builtin_run: SigmaRun, lm_case: Case) -> None:
    files = fired_on(builtin_run, lm_case, "e3c7c814-edaa-487c-a5c9-8034c66ef86d")
    assert files == {"LM_ScheduledTask_ATSVC_target_host.evtx"}


def test_wmi_remote_process(builtin_run: SigmaRun, lm_case: Case) -> None:
    assert "LM_wmiexec_impacket_sysmon_whoami.evtx" in fired_on(
        builtin_run, lm_case, "9a1ceda1-c2d7-48b5-8278-c4148cc90eb3"
    )


@pytest.fixture(scope="module")
def sigmahq_run(lm_case: Case) -> SigmaRun:
    if not SIGMAHQ.is_dir():
        pytest.skip("../shared/sigma is not beside the repository")
    return run_sigma(lm_case, [str(SIGMAHQ)], builtin=False)


def test_sigmahq_windows_rules_convert(sigmahq_run: SigmaRun) -> None:
    run = sigmahq_run
    assert run.loaded > 2000
    # measured: 2381 of 2407 convert and run; the rest are keyword-only rules and log
    # sources the case cannot hold (file_access, IIS configuration, ...)
    assert run.converted >= 0.97 * run.loaded
    assert run.converted + len(run.skipped) == run.loaded
    assert not [s for s in run.skipped if s["reason"].startswith("query failed")]


def test_sigmahq_rules_fire_on_their_samples(sigmahq_run: SigmaRun, lm_case: Case) -> None:
    by_title: dict[str, set[str]] = {}
    for a in sigmahq_run.alerts:
        by_title.setdefault(a["title"], set()).update(files_of(lm_case, a))
    assert "LM_wmiexec_impacket_sysmon_whoami.evtx" in by_title["WmiPrvSE Spawned A Process"]
    assert "LM_5145_Remote_FileCopy.evtx" not in by_title.get("PsExec Service Execution", set())
    assert by_title["HackTool - Potential Impacket Lateral Movement Activity"]
    assert by_title["Security Eventlog Cleared"]
    assert any("psexec" in f.lower() for f in by_title["Suspicious PsExec Execution"])
