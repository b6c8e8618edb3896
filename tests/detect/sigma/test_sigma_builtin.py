"""The in-house rule set on constructed worm traces: every rule loads, and each one fires where it should."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sigmacase import event, make_case

from wormsign import schema
from wormsign.detect.sigma import SigmaRun, run_sigma
from wormsign.detect.sigma import fields as sigma_fields
from wormsign.store import Case

S = timedelta(seconds=1)
SPRAY = "sigma:98cbf0da-7938-495c-942f-fa036c1a242e"
BRUTE = "sigma:134d0d57-719b-461d-8e58-be2b3b95170e"
LOCKOUT = "sigma:c60786fa-4aad-4973-9817-4fa4b42a0ca4"
SAME_HASH = "sigma:94dc538e-c396-4d9e-9fb8-b80117d87c66"
SERVICE_PATH = "sigma:3f743abb-6f68-4312-98e3-b37c4127dfd3"
H = "ab" * 32
CMD_HASH = "cd" * 32


def failed(n: int, at: timedelta, ip: str, user: str) -> dict:
    data = {"IpAddress": ip, "TargetUserName": user, "LogonType": 3, "Status": "0xC000006D"}
    cols = {"source.ip": ip} if ip != "-" else {}  # as the Windows mapper sets it
    return event(n, "security", 4625, data, at=at, host="dc-01", kind="auth", **cols)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SigmaRun:
    rows = []
    rows += [failed(i, i * 10 * S, "10.9.9.9", f"user{i}") for i in range(1, 11)]  # spray: 10 users
    rows += [failed(100 + i, i * 20 * S, "10.9.9.8", "admin") for i in range(12)]  # brute force
    rows += [failed(200 + i, i * S, "-", f"local{i}") for i in range(12)]  # no address: not counted
    rows += [
        event(300 + i, "security", 4740, {"TargetUserName": f"user{i}"}, at=i * 60 * S, host="dc-01")
        for i in range(3)
    ]
    for i, host in enumerate(("ws-01", "ws-02", "ws-03")):  # the same dropped file on three hosts
        rows.append(
            event(
                400 + i,
                "sysmon",
                11,
                {"TargetFilename": "C:\\Windows\\mssecsvc.exe"},
                at=i * 60 * S,
                host=host,
                kind="file",
                **{"file.hash.sha256": H},
            )
        )
    for i, host in enumerate(("ws-01", "ws-02", "ws-03", "ws-04")):  # cmd.exe everywhere: not a spread
        rows.append(
            event(
                500 + i,
                "sysmon",
                1,
                {"Image": "C:\\Windows\\System32\\cmd.exe"},
                at=i * S,
                host=host,
                kind="process",
                **{"process.hash.sha256": CMD_HASH},
            )
        )
    rows.append(
        event(
            600,
            "system",
            7045,
            {"ServiceName": "mssecsvc2.0", "ImagePath": "C:\\WINDOWS\\mssecsvc.exe -m security"},
            at=5 * S,
            host="ws-02",
            kind="service",
        )
    )
    rows.append(
        event(
            601,
            "system",
            7045,
            {"ServiceName": "vendor", "ImagePath": '"C:\\Program Files\\Vendor\\svc.exe"'},
            at=5 * S,
            host="ws-03",
            kind="service",
        )
    )
    defender = 'C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\4.18.24020.7-0\\'
    for n, (host, image) in enumerate([("ws-04", f'"{defender}NisSrv.exe"'),  # Defender's platform update
                                       ("ws-05", '"C:\\ProgramData\\Updater\\MsMpEng.exe"')]):  # not Defender's
        rows.append(event(602 + n, "system", 7045, {"ServiceName": "WdNisSvc", "ImagePath": image}, at=5 * S,
                          host=host, kind="service"))
    case = make_case(tmp_path_factory.mktemp("builtin") / "c.duckdb", rows)
    out = run_sigma(case)
    case.close()
    return out


def alerts(run: SigmaRun, rule: str) -> list[dict]:
    return [a for a in run.alerts if a["rule"] == rule]


def test_every_builtin_rule_loads_and_converts(run: SigmaRun) -> None:
    assert run.skipped == []
    assert run.loaded == run.converted == 16


def test_spray(run: SigmaRun) -> None:
    (a,) = alerts(run, SPRAY)
    assert a["fields"]["group"] == {"IpAddress": "10.9.9.9"} and a["fields"]["distinct"] == 10
    assert a["attack"] == ["T1110.003"] and a["severity"] == "high"
    assert a["source_host"] == "10.9.9.9" and a["host"] == "dc-01"


def test_brute_force(run: SigmaRun) -> None:
    (a,) = alerts(run, BRUTE)
    assert a["fields"]["group"] == {"IpAddress": "10.9.9.8", "TargetUserName": "admin"}
    assert a["fields"]["count"] == 12


def test_lockout_burst(run: SigmaRun) -> None:
    (a,) = alerts(run, LOCKOUT)
    assert a["fields"]["count"] == 3 and a["host"] == "dc-01"


def test_same_hash_on_many_hosts(run: SigmaRun) -> None:
    (a,) = alerts(run, SAME_HASH)
    assert a["fields"]["group"] == {"sha256": H}
    assert a["fields"]["distinct"] == 3 and a["target_hosts"] == ["ws-01", "ws-02", "ws-03"]


def test_service_image_in_admin_share_path(run: SigmaRun) -> None:
    a, b = sorted(alerts(run, SERVICE_PATH), key=lambda x: x["host"])
    assert a["host"] == "ws-02" and a["fields"]["ServiceName"] == "mssecsvc2.0"
    assert b["host"] == "ws-05"  # Defender's own platform folder (ws-04) is not a place a worm drops to


def test_field_mapping_names_real_columns() -> None:
    fmap = sigma_fields.load()
    for col in [*fmap.system.values(), *(c for cols in fmap.fallback.values() for c in cols)]:
        assert col in schema.FIELD_BY_NAME


def test_empty_case_runs(tmp_path: Path) -> None:
    with Case.open(str(tmp_path / "empty.duckdb")) as case:
        r = run_sigma(case)
    assert r.alerts == [] and r.converted == 16
