"""``wormsign hunt --demo``: the README's main job, end to end on the bundled outbreak."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from wormsign import demo
from wormsign.cli import app


def test_demo_hunt_names_families_deliveries_and_no_c2_overlap(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["hunt", "--demo", "--case", str(tmp_path / "c.duckdb"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    truth = json.loads((Path(demo.path()) / "truth.json").read_text())
    doc = json.loads((out / "incidents.json").read_text())
    outbreak = next(i for i in doc["incidents"] if i["type"] == "outbreak")
    assert outbreak["patient_zero"] == truth["patient_zero"]
    assert {f["family"] for f in outbreak["families"]} == {"emotet", "qakbot"}
    truth_fams = {i["host"]: set(i.get("families") or [i["family"]]) for i in truth["infections"]}
    got = {h["host"]: set(h["families"]) for h in outbreak["hosts"] if h["state"] == "infected"}
    assert got.keys() == truth_fams.keys()
    right = sum(got[h] == truth_fams[h] for h in got)
    assert right / len(got) >= 0.9, (right, len(got))
    # The distributor finding, and the two families' C2 sets kept apart.
    assert any(d["from_family"] == "emotet" and d["to_family"] == "qakbot" for d in outbreak["deliveries"])
    assert "emotet delivered qakbot on" in res.output
    assert "C2 overlap emotet / qakbot: none" in res.output
    assert "patient zero: " + truth["patient_zero"] in res.output
    # The phishing entry: Word opened from Outlook is tagged Phishing (T1566), every tag named
    entry = next(r for r in outbreak["initial_access"] if "T1566" in r["attack"])
    assert entry["parent"].lower().endswith("outlook.exe") and entry["process"].lower().endswith("winword.exe")
    assert entry["ts"] <= min(e["ts"] for e in outbreak["edges"])
    res = CliRunner().invoke(app, ["export", "--case", str(tmp_path / "c.duckdb"), "-o", str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    view = json.loads((tmp_path / "v.json").read_text())
    assert view["attack"]["T1566"] == "Phishing"


def test_hunt_exits_3_when_records_were_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "logs"
    bad.mkdir()
    good = '{"@timestamp": "2026-03-02T09:00:00Z", "winlog": {"channel": "Security", "event_id": 4624, '
    good += '"computer_name": "WS-1", "event_data": {"TargetUserName": "bob"}}}'
    (bad / "broken.ndjson").write_text(good + '\n{"@timestamp": "2026-03-02T09:00:01Z", "winlog": {\n')
    res = CliRunner().invoke(app, ["hunt", str(bad), "--case", str(tmp_path / "c.duckdb"), "--out", str(tmp_path)])
    assert res.exit_code == 3, res.output
    assert (tmp_path / "incidents.json").exists()
