"""``wormsign hunt --from/--to`` on real recordings: the hunt considers the events of the window
only, and leaves the tables stored for the whole case as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.store import Case

START, END = "2019-03-18", "2019-04-01T00:00:00Z"
T0, T1 = datetime(2019, 3, 18, tzinfo=UTC), datetime(2019, 4, 1, tzinfo=UTC)


def _stored(case_path: Path) -> dict[str, Any]:
    """Every stored table of the case (rows and a hash of their content, but the last hunt's
    alerts), every meta value but the last hunt's, and the case's files."""
    with Case.open(str(case_path), read_only=True) as c:
        names = [n for (n,) in c.rows("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'")]
        out: dict[str, Any] = {n: c.rows(f'SELECT count(*), bit_xor(hash(t)) FROM "{n}" t')[0]
                               for n in names if n not in ("alerts", "meta")}
        out["meta"] = {k: v for k, v in c.rows("SELECT key, value FROM meta") if k != "hunt"}
    out["files"] = sorted((str(p.relative_to(case_path)), p.stat().st_size, p.stat().st_mtime_ns)
                          for p in case_path.rglob("*.parquet"))
    return out


def _hunt(case_path: Path, out: Path, *extra: str) -> dict[str, Any]:
    res = CliRunner().invoke(app, ["hunt", "--case", str(case_path), "--out", str(out), "--json", *extra])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    doc = json.loads((out / "incidents.json").read_text())
    alerts = [json.loads(line) for line in (out / "alerts.ndjson").read_text().splitlines()]
    assert summary["alerts"] == len(alerts) and len(summary["incidents"]) == len(doc["incidents"])
    return {"summary": summary, "doc": doc, "alerts": alerts}


def _key(a: dict[str, Any]) -> tuple[Any, ...]:
    return a["rule"], a["host"], a.get("source_host"), a["ts"], tuple(a["evidence"])


@pytest.fixture(scope="module")
def lateral_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"
    if not corpus.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    case_path = tmp_path_factory.mktemp("window") / "case"
    res = CliRunner().invoke(app, ["ingest", str(corpus / "Lateral Movement"), "--case", str(case_path),
                                   "-j", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    return case_path


def test_hunt_window_considers_its_events_only(lateral_case: Path, tmp_path: Path) -> None:
    full = _hunt(lateral_case, tmp_path / "full")
    before = _stored(lateral_case)
    assert before["hunt_index"][0] > 0 and before["sigma_cache"][0] > 0  # stored for the whole case

    win = _hunt(lateral_case, tmp_path / "win", "--from", START, "--to", END)
    assert win["doc"]["window"] == {"from": "2019-03-18T00:00:00.000000Z", "to": "2019-04-01T00:00:00.000000Z"}
    assert win["summary"]["window"] == win["doc"]["window"]
    # Every alert stands on events of the window, and only on them.
    with Case.open(str(lateral_case), read_only=True) as c:
        refs = {f"{d}:{r}": ts for d, r, ts in c.rows('SELECT "src.digest", "src.record", ts FROM events')}
    assert win["alerts"]
    for a in win["alerts"]:
        assert a["evidence"]
        assert all(T0 <= refs[e] < T1 for e in a["evidence"]), a
        assert START <= a["ts"] < "2019-04-01"
    # ... and they are the whole case's alerts of that time: the same rules, hosts and evidence.
    inside = [a for a in full["alerts"] if all(T0 <= refs[e] < T1 for e in a["evidence"])]
    assert sorted(map(_key, win["alerts"])) == sorted(map(_key, inside))
    assert len(win["alerts"]) < len(full["alerts"])
    # Nothing stored for the whole case was read into (or replaced by) the window's hunt.
    assert _stored(lateral_case) == before
    again = _hunt(lateral_case, tmp_path / "again")
    assert "window" not in again["doc"]
    assert sorted(map(_key, again["alerts"])) == sorted(map(_key, full["alerts"]))
    assert [i["title"] for i in again["doc"]["incidents"]] == [i["title"] for i in full["doc"]["incidents"]]


def test_hunt_window_from_only_and_zones(lateral_case: Path, tmp_path: Path) -> None:
    """--from alone; a time with a zone is the same instant in UTC."""
    a = _hunt(lateral_case, tmp_path / "a", "--from", "2020-01-01T01:00:00+01:00")
    assert a["doc"]["window"] == {"from": "2020-01-01T00:00:00.000000Z", "to": None}
    assert a["alerts"] and all(x["ts"] >= "2020-01-01" for x in a["alerts"])


def test_hunt_window_refuses_a_bad_time(lateral_case: Path) -> None:
    res = CliRunner().invoke(app, ["hunt", "--case", str(lateral_case), "--from", "last tuesday"])
    assert res.exit_code == 2 and "ISO 8601" in res.output
    res = CliRunner().invoke(app, ["hunt", "--case", str(lateral_case), "--from", END, "--to", START])
    assert res.exit_code == 1 and "after" in res.output
