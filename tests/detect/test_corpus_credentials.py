"""Real recordings of password guessing (../shared/corpus) raise brute force or spray, named by the
address the attempts came from and the server they were aimed at; ordinary ones raise neither.

Expectations come from the folders' READMEs (real-multihost) and the file names
(evtx-attack-samples: "kerberos_pwd_spray_4771").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wormsign.hunt import hunt
from wormsign.ingest import ingest_paths
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
KERBEROS_GUESSING = "real-multihost/ID4768-4771-Kerberos brutforce with non existing users.evtx"

#: file -> (rule, source, targets) of every brute-force or spray alert it must raise, and nothing else.
EXPECTED: dict[str, list[tuple[str, str, list[str]]]] = {
    # README: 52 events from 10.23.123.11 against rootdc1, each a different account: 46 x 4768 0x6,
    # 1 x 4768 0x12, 2 x 4771 0x18, 2 successes; one unrelated 4768 from 10.23.42.16. No host
    # telemetry ties 10.23.123.11 to a name, so the address is the source.
    KERBEROS_GUESSING: [("spray", "10.23.123.11", ["rootdc1"])],
    # 7 unknown users (4768 0x6) and 2 bad passwords (4771 0x18) from 172.16.66.1 against the DC.
    "evtx-attack-samples/Credential Access/kerberos_pwd_spray_4771.evtx": [
        ("spray", "172.16.66.1", ["01566s-win16-ir"])],
    # Ordinary: one failed interactive logon; explicit credentials for one account (WMIC, runas,
    # a web shell, an RDP tunnel's logons); SQL Server's own failed logins (no Windows logon).
    "evtx-attack-samples/Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx": [],
    "evtx-attack-samples/Lateral Movement/LM_WMIC_4648_rpcss.evtx": [],
    "evtx-attack-samples/Privilege Escalation/Runas_4624_4648_Webshell_CreateProcessAsUserA.evtx": [],
    "evtx-attack-samples/Command and Control/DE_RDP_Tunnel_5156.evtx": [],
    "real-multihost/ID4799-4624-Local admin group enumerated by SharpHound.evtx": [],
}


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    out: dict[str, list[dict[str, Any]]] = {}
    for i, name in enumerate(EXPECTED):
        with Case.open(str(tmp_path_factory.mktemp("cred") / f"c{i}.duckdb")) as case:
            ingest_paths([str(CORPUS / name)], case, workers=1)
            out[name] = [a for a in hunt(case, sigma_rules=[]).alerts if a["rule"] in ("bruteforce", "spray")]
    return out


@pytest.mark.parametrize("name", list(EXPECTED))
def test_recording_raises_its_credential_alerts(raised: dict[str, list[dict[str, Any]]], name: str) -> None:
    got = sorted((a["rule"], a["source_host"], a["target_hosts"]) for a in raised[name])
    assert got == sorted(EXPECTED[name])


def test_kerberos_user_guessing_counts_every_account_and_status(raised: dict[str, list[dict[str, Any]]]) -> None:
    (spray,) = raised[KERBEROS_GUESSING]
    f = spray["fields"]
    # 46 unknown users, one revoked, two bad passwords: 49 different accounts, all failing
    assert (f["count"], f["failures"]) == (49, 49)
    assert f["statuses"] == ["0x12", "0x18", "0x6"] and f["events"] == ["4768", "4771"]
    assert {"administrator", "admin-hacker", "test1"} <= set(f["accounts"]) and f["claimed_count"] == 0
    # the two accounts that got tickets from that address had not failed first
    assert f["succeeded"] == [] and "admmig" not in f["accounts"]
