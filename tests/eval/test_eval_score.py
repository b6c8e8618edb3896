"""Scoring a hunt against hand-written truth, with answers worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from wormsign.eval import pool, score, truth_from_dict
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
                hosts=[dict(h, infector=None) if h["host"].lower().startswith("ws-0003") else h for h in hosts[2:]])
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
