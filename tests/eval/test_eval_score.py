"""Scoring a hunt against hand-written truth, with answers worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from wormsign.eval import EvalError, pool, score, summarise, truth_from_dict
from wormsign.eval.docs import incidents_from_dict


def _score(truth: dict[str, Any], incidents: dict[str, Any] | None):
    return score(truth_from_dict(truth), incidents_from_dict(incidents))


def _hosts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["incidents"][0]["hosts"]


def test_perfect_hunt_scores_one_everywhere(truth, incidents):
    s = _score(truth, incidents)
    assert (s.true_infected, s.found_infected, s.true_positives) == (5, 5, 5)
    assert s.recall == 1.0 and s.precision == 1.0
    assert s.infector_accuracy == 1.0 and s.infector_accuracy_found == 1.0
    assert s.patient_zero_right is True and s.patient_zero_found == "ws-0001"
    # first spread 10:30 (ws-0002), first alert 10:35
    assert s.first_spread == "2026-03-02T10:30:00Z"
    assert s.time_to_first_alert_s == 300.0
    assert s.false_incidents == 0 and s.false_incidents_per_10k_host_days == 0.0
    assert s.incidents == 1 and s.incidents_by_severity == {"critical": 1, "high": 0, "medium": 0, "low": 0}
    assert (s.high_incidents, s.false_highs, s.false_highs_per_10k_host_days) == (1, 0, 0.0)
    assert (s.true_lockouts, s.lockouts_matched, s.lockouts_right) == (2, 2, 2)
    assert s.lockout_attribution == 1.0
    assert s.missed == [] and s.extra == []


def test_missing_host_lowers_recall_by_one_fifth(truth, incidents):
    del _hosts(incidents)[4]  # ws-0005
    s = _score(truth, incidents)
    assert s.recall == pytest.approx(0.8)
    assert s.precision == 1.0
    assert s.missed == ["ws-0005"]
    assert s.infector_accuracy == pytest.approx(0.8)  # a missed host has no right infector
    assert s.infector_accuracy_found == 1.0


def test_attacked_host_is_not_counted_as_infected(truth, incidents):
    _hosts(incidents)[1]["state"] = "attacked"  # ws-0002 reported as only attacked
    s = _score(truth, incidents)
    assert s.recall == pytest.approx(0.8) and s.missed == ["ws-0002"]


def test_wrong_infector(truth, incidents):
    _hosts(incidents)[3]["infector"] = "ws-0003"  # ws-0004 was infected by ws-0002
    s = _score(truth, incidents)
    assert s.recall == 1.0
    assert s.infectors_right == 4
    assert s.infector_accuracy == pytest.approx(0.8)


def test_patient_zero_given_an_infector_is_wrong(truth, incidents):
    _hosts(incidents)[0]["infector"] = "ws-0099"
    assert _score(truth, incidents).infector_accuracy == pytest.approx(0.8)


def test_wrong_patient_zero(truth, incidents):
    incidents["incidents"][0]["patient_zero"] = "ws-0002"
    s = _score(truth, incidents)
    assert s.patient_zero_right is False and s.patient_zero_found == "ws-0002"


def test_patient_zero_comes_from_the_incident_holding_the_outbreak(truth, incidents):
    # an earlier, small, false outbreak must not take over patient zero
    decoy = {"id": "INC-0002", "type": "outbreak", "first_seen": "2026-03-02T09:00:00Z",
             "first_alert": "2026-03-02T09:05:00Z", "patient_zero": "ws-0090",
             "hosts": [{"host": "ws-0090", "state": "infected", "infected_at": None, "infector": None},
                       {"host": "ws-0091", "state": "infected", "infected_at": "2026-03-02T09:01:00Z",
                        "infector": "ws-0090"}]}
    incidents["incidents"].append(decoy)
    s = _score(truth, incidents)
    assert s.patient_zero_right is True
    assert s.precision == pytest.approx(5 / 7) and s.extra == ["ws-0090", "ws-0091"]
    assert s.false_incidents == 1
    assert s.false_incidents_per_10k_host_days == pytest.approx(1 / 200 * 10_000)
    assert s.time_to_first_alert_s == -5100.0  # the decoy alerted 85 min before the first spread


def test_false_incident_on_benign(truth, incidents):
    benign = dict(truth, scenario="benign", patient_zero=None, infections=[], lockouts=[], hosts=50, days=4)
    incidents["incidents"][0]["accounts"] = {}
    s = _score(benign, incidents)
    assert s.recall is None and s.patient_zero_right is None and s.time_to_first_alert_s is None
    assert s.precision == 0.0
    assert s.false_incidents == 1
    assert s.false_incidents_per_10k_host_days == pytest.approx(50.0)  # 1 per 200 host-days


def test_non_outbreak_incidents_are_not_false_outbreaks(truth, incidents):
    benign = dict(truth, scenario="spray", patient_zero=None, infections=[], lockouts=[])
    incidents["incidents"][0]["type"] = "spray"
    s = _score(benign, incidents)
    assert s.false_incidents == 0 and s.found_infected == 0


def test_lockout_wrong_source(truth, incidents):
    incidents["incidents"][0]["accounts"]["locked"][1]["source_host"] = "ws-0003"
    s = _score(truth, incidents)
    assert (s.lockouts_matched, s.lockouts_right) == (2, 1)
    assert s.lockout_attribution == 0.5


def test_lockout_outside_tolerance_is_not_matched(truth, incidents):
    incidents["incidents"][0]["accounts"]["locked"][0]["ts"] = "2026-03-02T11:20:00Z"  # an hour late
    s = _score(truth, incidents)
    assert (s.lockouts_matched, s.lockouts_right) == (1, 1)
    assert s.lockout_attribution == 0.5


def test_lockouts_from_any_incident_type_count(truth, incidents):
    locked = incidents["incidents"][0]["accounts"]["locked"]
    incidents["incidents"][0]["accounts"]["locked"] = []
    incidents["incidents"].append({"id": "INC-0002", "type": "bruteforce", "hosts": [],
                                   "accounts": {"locked": locked}})
    assert _score(truth, incidents).lockout_attribution == 1.0


def test_one_reported_lockout_matches_one_truth_lockout(truth, incidents):
    truth["lockouts"].append(dict(truth["lockouts"][0], time="2026-03-02T10:21:00Z"))
    s = _score(truth, incidents)
    assert (s.true_lockouts, s.lockouts_matched) == (3, 2)


@pytest.mark.parametrize("doc", [None, {"format": "wormsign.incidents/1"}, {"incidents": []}])
def test_empty_incidents_score_zero_recall(truth, doc):
    s = _score(truth, doc)
    assert s.recall == 0.0 and s.true_positives == 0 and s.missed == [f"ws-000{i}" for i in range(1, 6)]
    assert s.precision is None and s.time_to_first_alert_s is None
    assert s.patient_zero_right is False and s.lockout_attribution == 0.0


def test_pool_sums_counts_before_dividing(truth, incidents):
    full = _score(truth, incidents)
    del _hosts(incidents)[1:]  # only patient zero found
    part = _score(truth, incidents)
    p = pool([full, part])
    assert p["runs"] == 2
    assert p["recall"] == pytest.approx(6 / 10)
    assert p["precision"] == 1.0
    assert p["patient_zero_rate"] == 1.0
    assert p["false_incidents_per_10k_host_days"] == 0.0
    assert p["time_to_first_alert_s"] == 300.0 and p["alerted"] == 2


def test_split_outbreak_is_judged_by_the_part_that_starts_first(truth, incidents):
    # the hunt splits the outbreak: ws-0001 -> ws-0002 (early), and a bigger later part
    # rooted wrongly at ws-0003
    hosts = _hosts(incidents)
    early = {"id": "INC-0002", "type": "outbreak", "first_seen": "2026-03-02T10:00:00Z",
             "patient_zero": "ws-0001", "hosts": hosts[:2]}
    late = dict(incidents["incidents"][0], patient_zero="ws-0003", first_seen="2026-03-02T10:40:00Z",
                hosts=[dict(h, infector=None) if h["host"].lower().startswith("ws-0003") else h
                       for h in hosts[2:]])
    incidents["incidents"] = [late, early]
    s = _score(truth, incidents)
    assert s.patient_zero_found == "ws-0001" and s.patient_zero_right is True
    assert s.recall == 1.0 and s.false_incidents == 0
    assert s.infectors_right == 4  # ws-0003's infector ws-0001 was lost in the split


def test_settings_match_the_documented_formats():
    from pathlib import Path

    from wormsign.eval.docs import settings

    cfg = settings()
    doc = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    for fmt in cfg["formats"].values():
        assert f'"format": "{fmt}"' in doc
    assert cfg["outbreak_types"] and all(f"`{t}`" in doc for t in cfg["outbreak_types"])
    assert cfg["lockout_tolerance_s"] > 0 and cfg["host_days_unit"] == 10_000
    assert cfg["suite"]["seeds"] and cfg["suite"]["sizes"] and cfg["suite"]["days"] >= 1
    # every severity and truth host set eval.yaml names is one incidents.json and truth.json have
    assert all(f"`{sev}`" in doc for sev in cfg["severities"])
    assert set(cfg["false_highs"]["severities"]) <= set(cfg["severities"])
    sets = truth_from_dict({}).host_sets()
    assert set(cfg["false_highs"]["in_truth"]) == {"actor", "target"}
    assert all(set(names) <= set(sets) for names in cfg["false_highs"]["in_truth"].values())
    floor = cfg["floors"]["false_highs_per_10k_host_days"]
    assert floor["max"] == 1 and set(floor["scenarios"]) == {"benign", "spray"}


def _high(iid: str, hosts: list[tuple[str, str]], severity: str = "high", **extra: Any) -> dict[str, Any]:
    return {"id": iid, "type": "sigma", "severity": severity,
            "hosts": [{"host": h, "state": st} for h, st in hosts], **extra}


def test_truth_hosts_by_what_the_truth_says_of_them(truth):
    truth["sources"] = ["WS-0077.corp.example"]
    sets = truth_from_dict(truth).host_sets()
    assert sets["infected"] == {f"ws-000{i}" for i in range(1, 6)}
    assert sets["patient_zero"] == {"ws-0001"} and sets["attacked"] == {"ws-0050"}
    assert sets["sources"] == {"ws-0077"} and sets["lockout_sources"] == {"ws-0001", "ws-0002"}
    with pytest.raises(EvalError, match=r"sources\[0\] is not a host name"):
        truth_from_dict(dict(truth, sources=[7]))


@pytest.mark.parametrize(
    ("inc", "false"),
    [
        (_high("X", [("ws-0090", "source"), ("ws-0091", "attacked")]), True),
        (_high("X", [("ws-0090", "source"), ("ws-0091", "attacked")], severity="critical"), True),
        (_high("X", [("ws-0090", "source"), ("ws-0091", "attacked")], severity="medium"), False),
        (_high("X", []), True),  # names no host at all: nothing a responder can act on
        (_high("X", [("ws-0090", "source"), ("ws-0050", "attacked")]), False),  # truly attacked
        (_high("X", [("ws-0090", "source"), ("ws-0004", "attacked")]), False),  # infected, as target
        (_high("X", [("WS-0003.corp.example", "infected")]), False),
        (_high("X", [("ws-0090", "source")], under_attack=["ws-0050"]), False),
        (_high("X", [("ws-0090", "source")], patient_zero="ws-0001"), False),
        (_high("X", [], edges=[{"source": "ws-0002", "target": "ws-0090"}]), False),
        (_high("X", [], edges=[{"source": "ws-0090", "target": "ws-0005"}]), False),
        # a lockout's source (ws-0066) and the sprayer (ws-0077) are in the truth as attackers,
        # not as targets: a push that reaches them is not about them
        (_high("X", [("ws-0066", "source"), ("ws-0091", "attacked")]), False),
        (_high("X", [("ws-0090", "source"), ("ws-0066", "attacked")]), True),
        (_high("X", [("ws-0077", "source"), ("ws-0091", "attacked")]), False),
        (_high("X", [("ws-0090", "source"), ("ws-0077", "attacked")]), True),
        (_high("X", [], edges=[{"source": "ws-0090", "target": "ws-0077"}]), True),
        (_high("X", [], edges=[{"source": "ws-0077", "target": "ws-0090"}]), False),
    ],
)
def test_false_highs_by_role(truth, inc, false):
    truth["sources"] = ["ws-0077"]
    truth["lockouts"].append({"account": "bob", "time": None, "source_host": "ws-0066"})
    s = _score(truth, {"incidents": [inc]})
    assert s.high_incidents == (inc["severity"] in ("high", "critical"))
    assert s.false_highs == int(false)
    assert [i["id"] for i in s.false_high_incidents] == (["X"] if false else [])
    assert s.false_highs_per_10k_host_days == pytest.approx(false * 10_000 / 200)


def test_severities_outside_the_list_are_counted_as_other(truth):
    doc = {"incidents": [_high("A", [], severity="HIGH"), _high("B", [], severity="info"), {"id": "C"}]}
    s = _score(truth, doc)
    assert s.incidents_by_severity == {"critical": 0, "high": 1, "medium": 0, "low": 0, "other": 2}
    assert s.high_incidents == 1 and s.false_highs == 1
    with pytest.raises(EvalError, match="severity is not a string"):
        _score(truth, {"incidents": [_high("A", [], severity=3)]})


def test_pool_and_floor_verdicts(truth, incidents):
    benign = dict(truth, scenario="benign", patient_zero=None, infections=[], lockouts=[], attacked=[],
                  hosts=100, days=2)
    quiet = _score(benign, {"incidents": [_high("A", [("ws-0090", "source")], severity="low")]})
    noisy = _score(benign, {"incidents": [_high("A", [("ws-0090", "source")])]})
    outbreak = _score(truth, incidents)
    summary = summarise([quiet, noisy, outbreak])
    b = summary["scenarios"]["benign"]
    assert b["incidents_by_severity"] == {"critical": 0, "high": 1, "medium": 0, "low": 1}
    assert b["incidents_per_run_by_severity"]["high"] == 0.5 and b["host_days"] == 400
    assert b["false_highs"] == 1 and b["false_highs_per_10k_host_days"] == pytest.approx(25.0)
    assert summary["overall"]["false_highs"] == 1 and summary["overall"]["high_incidents"] == 2
    assert summary["floors"]["false_highs_per_10k_host_days"] == {"max": 1.0, "scenarios": {"benign": False}}
    assert summarise([quiet])["floors"]["false_highs_per_10k_host_days"]["scenarios"] == {"benign": True}
