"""The truth agrees with the records: every infection edge has the events that show it, on the target."""

from __future__ import annotations

import bisect

import pytest

from tests.simulate.conftest import Run

# technique -> event codes that must be on the target (as attack events)
NEEDED = {
    "admin-share-copy+service": {"5145", "11", "7045", "4697", "1"},
    "admin-share-copy+scheduled-task": {"5145", "11", "4698", "1"},
    "psexec": {"5145", "11", "7045", "1"},
    "wmic": {"5145", "11", "1"},
    "smb-exploit": {"3", "11", "7045", "1"},
}


def _ip_of(run: Run):  # type: ignore[no-untyped-def]
    seen: dict[str, list[tuple[str, str]]] = {}
    for d in run.docs:
        seen.setdefault(d["host"]["hostname"], []).append((d["@timestamp"], d["host"]["ip"][0]))

    def at(host: str, ts: str) -> str:
        lst = seen[host]
        i = bisect.bisect_right(lst, (ts, "~")) - 1
        return lst[max(i, 0)][1]

    return at


@pytest.mark.parametrize("name", ["emotet", "emotet-qakbot", "wannacry", "notpetya"])
def test_every_edge_has_its_events(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    t = run.truth
    ip_at = _ip_of(run)
    attack = run.attack_docs()
    edges = [i for i in t["infections"] if i["infector"]]
    assert edges
    for inf in edges:
        src_ip = ip_at(inf["infector"], inf["time"][:23] + "Z")
        on_target = [d for d in attack if d["host"]["hostname"] == inf["host"] and d["@timestamp"] <= inf["time"][:23] + "Z"]
        codes = {d["event"]["code"] for d in on_target}
        assert NEEDED[inf["technique"]] <= codes, (inf, codes)
        naming = [d for d in on_target if src_ip in (d["winlog"]["event_data"].get("IpAddress"),
                                                     d["winlog"]["event_data"].get("SourceIp"))]
        assert {d["event"]["code"] for d in naming} & {"5145", "3"}, inf
        started = [d for d in on_target if d["event"]["code"] == "1"
                   and any(h.upper() in d["winlog"]["event_data"]["Hashes"] for h in inf["hashes"])]
        assert started and started[-1]["@timestamp"] == inf["time"][:23] + "Z", inf
        # the sensor saw the infector talk to the target
        tgt_ip = ip_at(inf["host"], inf["time"][:23] + "Z")
        assert any(r["id.orig_h"] == src_ip and r["id.resp_h"] == tgt_ip and r["uid"] in run.attack_ids
                   for r in run.zeek["conn"]), inf


@pytest.mark.parametrize("name", ["emotet", "emotet-qakbot", "wannacry", "notpetya", "spray"])
def test_truth_fields(runs: dict[str, Run], name: str) -> None:
    t = runs[name].truth
    hosts = {d["host"]["hostname"] for d in runs[name].docs}
    infected = [i["host"] for i in t["infections"]]
    assert len(infected) == len(set(infected)) and set(infected) <= hosts
    assert set(t["attacked"]) <= hosts and not set(t["attacked"]) & set(infected)
    if infected:
        assert t["patient_zero"] == t["infections"][0]["host"] and t["infections"][0]["infector"] is None
        times = [i["time"] for i in t["infections"]]
        assert times == sorted(times)
        for i in t["infections"][1:]:
            assert i["infector"] in infected and i["hashes"] and len(i["hashes"][0]) == 64
    ids = runs[name].attack_ids
    assert len(ids) == len(t["attack_event_ids"]) > 0


def test_feeds_list_the_families(runs: dict[str, Run]) -> None:
    run = runs["emotet-qakbot"]
    lines = (run.out / "feeds" / "feodo_ipblocklist.csv").read_text().splitlines()
    rows = [ln.replace('"', "").split(",") for ln in lines if not ln.startswith("#")]
    assert rows[0] == ["first_seen_utc", "dst_ip", "dst_port", "c2_status", "last_online", "malware"]
    listed = {(r[1], r[2]): r[5] for r in rows[1:]}
    for fam, name in (("emotet", "Emotet"), ("qakbot", "QakBot")):
        for addr in run.truth["c2"][fam]:
            assert listed[tuple(addr.rsplit(":", 1))] == name
    assert set(listed.values()) - {"Emotet", "QakBot"}  # decoys of other families
    hashes = dict(ln.split(",") for ln in (run.out / "feeds" / "hashes.txt").read_text().splitlines())
    for fam, shas in run.truth["hashes"].items():
        assert all(hashes[s] == fam for s in shas)
