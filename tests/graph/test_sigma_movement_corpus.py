"""On real recordings, a program started through WMI is lateral movement to look at (medium), not
"act now", unless more ties its host to an attack; the service control manager starting a shell
itself (Meterpreter's getsystem) stays high. Files of ../shared/corpus/evtx-attack-samples, whose
README names each technique."""

from __future__ import annotations

from pathlib import Path

import pytest

import wormsign

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"
WMI = "sigma:9a1ceda1-c2d7-48b5-8278-c4148cc90eb3"
SCM_SHELL = "sigma:fe5ea126-77af-4939-ab3b-1728171d1a52"
FILES = [
    "Lateral Movement/LM_wmi_PoisonHandler_Mr-Un1k0d3r_sysmon_1_13.evtx",  # WmiPrvSE starts the payload
    "Persistence/sysmon_20_21_1_CommandLineEventConsumer.evtx",  # a WMI consumer's command line
    # Meterpreter's getsystem: services.exe starts cmd.exe to write to its pipe
    "Privilege Escalation/sysmon_13_1_meterpreter_getsystem_NamedPipeImpersonation.evtx",
]


def test_wmi_children_are_medium_and_a_service_shell_high(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    with wormsign.open_case(tmp_path / "case") as case:
        wormsign.ingest(case, [CORPUS / f for f in FILES], workers=1)
        res = wormsign.hunt(case)  # the in-house Sigma rules, as the command runs them
    rules = {a["id"]: a["rule"] for a in res.alerts}
    assert sorted(set(rules.values()) & {WMI, SCM_SHELL}) == [WMI, SCM_SHELL]
    incidents = res.document["incidents"]
    wmi = [i for i in incidents if {rules[x] for x in i["alerts"]} == {WMI}]
    assert len(wmi) >= 2 and {i["severity"] for i in wmi} == {"medium"}
    shell = [i for i in incidents if SCM_SHELL in {rules[x] for x in i["alerts"]}]
    assert shell and {i["severity"] for i in shell} == {"high"}
