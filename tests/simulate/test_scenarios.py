"""Every scenario generates, and shows its signature behaviour in the records it wrote."""

from __future__ import annotations

import gzip
import re
from collections import Counter

import orjson

import pytest

from wormsign.simulate import SCENARIOS, simulate
from tests.simulate.conftest import Run


def test_scenarios_listed() -> None:
    assert set(SCENARIOS) == {"emotet", "emotet-qakbot", "wannacry", "notpetya", "spray", "benign"}


def test_unknown_scenario(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown scenario"):
        simulate("conficker", 20, 1, 1, tmp_path)


@pytest.mark.parametrize("name", sorted({"emotet", "emotet-qakbot", "wannacry", "notpetya", "spray", "benign"}))
def test_generates(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    t = run.truth
    assert t["format"] == "wormsign.truth/1" and t["scenario"] == name
    assert len(run.docs) > 1000 and len(run.zeek["conn"]) > 500
    ids = [d["event"]["id"] for d in run.docs]
    assert len(ids) == len(set(ids)), "event.id is unique"
    # record ids increase per host and channel, in time order
    last: dict[tuple[str, str], tuple[int, str]] = {}
    for d in run.docs:
        key = (d["host"]["name"], d["winlog"]["channel"])
        rec, ts = d["winlog"]["record_id"], d["@timestamp"]
        if key in last:
            assert rec > last[key][0] and ts >= last[key][1]
        last[key] = (rec, ts)
    assert (run.out / "feeds" / "feodo_ipblocklist.csv").is_file() and (run.out / "feeds" / "hashes.txt").is_file()


def test_record_ids_follow_time_across_days(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.simulate.conftest import load

    # NotPetya starts at 23:57: its credential dumper runs after midnight, in the next day's file
    run = load(tmp_path, simulate("notpetya", 16, 2, 8, tmp_path, attack_at=23.95))
    last: dict[tuple[str, str], tuple[int, str]] = {}
    for d in sorted(run.docs, key=lambda d: d["winlog"]["record_id"]):
        key = (d["host"]["name"], d["winlog"]["channel"])
        if key in last:
            assert d["@timestamp"] >= last[key][1], (key, d["winlog"]["record_id"])
        last[key] = (d["winlog"]["record_id"], d["@timestamp"])
    assert any(d["@timestamp"][11:13] == "00" and d["event"]["id"] in run.attack_ids for d in run.docs)
    for f in (tmp_path / "logs" / "winlogbeat").glob("*.ndjson.gz"):
        day = f.name.split("-")[1].replace(".", "-")
        with gzip.open(f) as fh:
            assert all(orjson.loads(x)["@timestamp"].startswith(day) for x in fh)


def test_emotet_lockouts(runs: dict[str, Run]) -> None:
    run = runs["emotet"]
    t = run.truth
    assert t["patient_zero"] and len(t["infections"]) >= 3 and t["lockouts"]
    locks = run.attack_docs("4740")
    assert len(locks) == len(t["lockouts"])
    for lk in t["lockouts"]:
        assert any(d["winlog"]["event_data"]["TargetUserName"] == lk["account"]
                   and d["winlog"]["event_data"]["TargetDomainName"] == lk["source_host"].upper()
                   and d["host"]["hostname"] == lk["dc"] for d in locks)
    fails = run.attack_docs("4625")
    assert len(fails) > 20
    assert {d["winlog"]["event_data"]["SubStatus"] for d in fails} <= {"0xc000006a", "0x0"}
    # beacons to the Emotet C2 set
    c2 = {a.rsplit(":", 1)[0] for a in t["c2"]["emotet"]}
    attack_uids = run.attack_ids
    beacons = [r for r in run.zeek["conn"] if r["id.resp_h"] in c2]
    assert len(beacons) > 20 and all(r["uid"] in attack_uids for r in beacons)
    # the phishing chain on patient zero: Office -> script host -> loader with a Run key
    p0 = [d for d in run.attack_docs("1") if d["host"]["hostname"] == t["patient_zero"]]
    parents = {d["winlog"]["event_data"]["ParentImage"].rsplit("\\", 1)[-1] for d in p0}
    assert parents & {"WINWORD.EXE", "EXCEL.EXE"}
    assert any("\\CurrentVersion\\Run\\" in d["winlog"]["event_data"]["TargetObject"]
               for d in run.attack_docs("13"))


def test_emotet_qakbot_delivery(runs: dict[str, Run]) -> None:
    t = runs["emotet-qakbot"].truth
    assert t["deliveries"] and {d["to_family"] for d in t["deliveries"]} == {"qakbot"}
    assert set(t["c2"]["emotet"]).isdisjoint(t["c2"]["qakbot"])
    assert set(t["hashes"]["emotet"]).isdisjoint(t["hashes"]["qakbot"])
    tasks = runs["emotet-qakbot"].attack_docs("4698")
    assert any(i["family"] == "qakbot" and i["technique"] == "admin-share-copy+scheduled-task"
               for i in t["infections"]) == bool(tasks)


def test_notpetya_no_failures(runs: dict[str, Run]) -> None:
    run = runs["notpetya"]
    assert len(run.truth["infections"]) >= 3 and not run.truth["lockouts"]
    assert run.attack_docs("4625") == [] and run.attack_docs("4771") == []
    ok = run.attack_docs("4624")
    assert ok and {d["winlog"]["event_data"]["LogonType"] for d in ok} == {"3"}
    accounts = {d["winlog"]["event_data"]["TargetUserName"] for d in ok}
    assert all(a.startswith("adm-") for a in accounts)
    reboot = [d for d in run.attack_docs("4698") if "shutdown.exe" in d["winlog"]["event_data"]["TaskContent"]]
    assert len(reboot) >= len(run.truth["infections"]) - 1


def test_wannacry_no_logons(runs: dict[str, Run]) -> None:
    run = runs["wannacry"]
    t = run.truth
    assert len(t["infections"]) >= 3
    assert not any(run.attack_docs(c) for c in ("4624", "4625", "4776", "4648"))
    ids = run.attack_ids
    fan = Counter(r["id.orig_h"] for r in run.zeek["conn"] if r["uid"] in ids and r["id.resp_p"] == "445")
    assert max(fan.values()) > 50
    services = {d["host"]["hostname"] for d in run.attack_docs("7045")
                if d["winlog"]["event_data"]["ServiceName"] == "mssecsvc2.0"}
    assert services == {i["host"] for i in t["infections"]}


def test_spray_no_spread(runs: dict[str, Run]) -> None:
    run = runs["spray"]
    t = run.truth
    assert t["infections"] == [] and t["patient_zero"] is None and t["attacked"]
    fails = run.attack_docs("4625")
    assert len({d["winlog"]["event_data"]["TargetUserName"] for d in fails}) >= 20
    assert len({d["winlog"]["event_data"]["IpAddress"] for d in fails}) == 1
    assert len(t["sources"]) == 1 and all(d["winlog"]["event_data"]["WorkstationName"] == t["sources"][0].upper()
                                          for d in fails)
    assert run.attack_docs("7045") == [] and run.attack_docs("5145") == []


def test_benign_traps_and_no_attack(runs: dict[str, Run]) -> None:
    run = runs["benign"]
    t = run.truth
    assert t["attack_event_ids"] == [] and t["infections"] == [] and t["patient_zero"] is None
    assert t["lockouts"] == [] and t["c2"] == {} and t["attacked"] == []
    # deployment tools install the same file as a service on many hosts
    svc = Counter(d["winlog"]["event_data"]["ServiceName"] for d in run.docs if d["event"]["code"] == "7045")
    assert max(svc.values()) >= 5
    pushed = {d["host"]["hostname"] for d in run.docs if d["event"]["code"] == "5145"
              and d["winlog"]["event_data"]["ShareName"] == "\\\\*\\ADMIN$"}
    assert len(pushed) >= 5
    # the scanner sweeps 135 and 445
    scan = [r for r in run.zeek["conn"] if r["id.resp_p"] in ("135", "445") and r["id.orig_h"] == "10.10.0.15"]
    assert len({r["id.resp_h"] for r in scan}) >= 15
    # users mistype passwords
    assert any(d["event"]["code"] == "4625" for d in run.docs)
    assert all(re.fullmatch(r"[0-9.]+", r["ts"]) for r in run.zeek["conn"][:50])
