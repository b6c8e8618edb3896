"""The per-file infection tree and the next likely hops of an outbreak, on real hunts: the bundled
demo (files: every hop's hash is the truth's hash of that host) and simulated outbreaks hunted
with ``--to`` before their end (hops: the hosts infected after the cut rank first)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wormsign import demo
from wormsign.cli import app
from wormsign.graph.files import exe_path, file_tree
from wormsign.simulate import simulate


def _hunt(args: list[str]) -> None:
    res = CliRunner().invoke(app, ["hunt", *args, "--quiet", "--no-sigma"])
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("files")
    _hunt(["--demo", "--case", str(tmp / "case"), "--out", str(tmp / "out")])
    return tmp


@pytest.fixture(scope="module")
def demo_doc(demo_case: Path) -> dict[str, Any]:
    return json.loads((demo_case / "out" / "incidents.json").read_text())


def test_the_view_and_the_api_give_the_file_tree_and_filter_it_by_hash(demo_case: Path,
                                                                       demo_doc: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from wormsign.api import create_app, load_or_create
    from wormsign.report.view import build_view
    from wormsign.store import Case

    outbreak = next(i for i in demo_doc["incidents"] if i["type"] == "outbreak")
    with Case.open(str(demo_case / "case"), read_only=True) as case:
        view = build_view(case, with_evidence=False)
    files, hops = view["tables"][outbreak["id"]]
    assert files["id"] == "files" and len(files["rows"]) == sum(len(f["hosts"]) for f in outbreak["files"])
    assert {r[2] for r in files["rows"]} == {h["host"] for h in outbreak["hosts"] if h["state"] == "infected"}
    assert hops["id"] == "next_hops" and [r[1] for r in hops["rows"]] == [h["host"] for h in outbreak["next_hops"]]
    assert all(isinstance(c, str) for t in (files, hops) for r in t["rows"] for c in r)
    token, _ = load_or_create(demo_case / "case")
    client = TestClient(create_app(demo_case / "case", token))
    client.headers["Authorization"] = f"Bearer {token}"
    every = client.get("/api/files").json()
    assert every["total"] == len(outbreak["files"]) and view["tables"] == client.get("/api/view").json()["tables"]
    wanted = outbreak["files"][3]
    one = client.get("/api/files", params={"sha256": wanted["sha256"].upper()}).json()
    assert one["total"] == 1 and one["files"][0] == {"incident": outbreak["id"], **wanted}
    assert client.get("/api/files", params={"sha256": "0" * 64}).json() == {"total": 0, "files": []}
    named = client.get("/api/files", params={"name": wanted["names"][0].upper()}).json()
    assert [f["key"] for f in named["files"]] == [wanted["key"]]
    got = client.get(f"/api/incidents/{outbreak['id']}/next-hops").json()
    assert got == {"incident": outbreak["id"], "next_hops": outbreak["next_hops"]}
    assert client.get("/api/incidents/INC-9999/next-hops").status_code == 404


def test_each_infected_host_is_reached_by_one_file_with_the_truths_hash(demo_doc: dict[str, Any]) -> None:
    truth = json.loads((Path(demo.path()) / "truth.json").read_text())
    hashes = {i["host"]: set(i.get("hashes") or []) for i in truth["infections"]}
    outbreak = next(i for i in demo_doc["incidents"] if i["type"] == "outbreak")
    hops = [(f, h) for f in outbreak["files"] for h in f["hosts"]]
    infected = {h["host"] for h in outbreak["hosts"] if h["state"] == "infected"}
    assert sorted(h["host"] for _, h in hops) == sorted(infected)  # one hop per infected host
    assert all(f["sha256"] in hashes[h["host"]] for f, h in hops)  # and the file's hash is the truth's
    assert all(e["file"] and e["file"]["sha256"] for e in outbreak["edges"])  # every edge has its hash
    by_target = {e["target"]: e for e in outbreak["edges"]}
    for f, h in hops:
        assert f["key"] == f["sha256"] and h["name"] in f["names"]
        if h["infector"] is None:  # patient zero's own payload, from the initial-access chain
            assert h["host"] == outbreak["patient_zero"] and h["method"] == "initial-access"
            assert h["evidence"][0] in {s["ref"] for s in outbreak["initial_access"]}
        else:
            e = by_target[h["host"]]
            assert (h["infector"], h["ts"], h["method"]) == (e["source"], e["ts"], e["method"])
    firsts = [f["first_seen"] for f in outbreak["files"]]
    assert firsts == sorted(firsts) and all(f["first_seen"] == f["hosts"][0]["ts"] for f in outbreak["files"])


def test_one_hash_renamed_on_each_host_is_one_file_tree() -> None:
    """Worms rename each copy; the hash ties them into one tree, and a file without a hash is keyed
    by its name."""
    edges = [
        {"source": "a", "target": "b", "ts": "2026-03-02T10:00:00.000000Z", "method": "service", "evidence": ["x:1"],
         "file": {"name": "q1.exe", "path": "C:\\Windows\\q1.exe", "sha256": "AB" * 32}},
        {"source": "b", "target": "c", "ts": "2026-03-02T11:00:00.000000Z", "method": "wmi", "evidence": [],
         "file": {"name": "z9.exe", "path": "C:\\Windows\\z9.exe", "sha256": "AB" * 32}},
        {"source": "a", "target": "d", "ts": "2026-03-02T10:30:00.000000Z", "method": "scheduled-task", "evidence": [],
         "file": {"name": "Other.DLL", "path": "C:\\Windows\\Temp\\Other.DLL", "sha256": None}},
    ]
    chain = [{"step": "file", "file": "C:\\Users\\u\\p.exe", "ts": "2026-03-02T09:00:00.000000Z", "ref": "x:0"},
             {"step": "process", "process": "C:\\Users\\u\\p.exe", "sha256": "ab" * 32, "command_line": "p.exe",
              "ts": "2026-03-02T09:00:01.000000Z", "ref": "x:9"}]
    files = file_tree("a", edges, chain)
    assert [(f["key"], [h["host"] for h in f["hosts"]]) for f in files] == [
        ("ab" * 32, ["a", "b", "c"]), ("name:other.dll", ["d"])]
    assert files[0]["names"] == ["p.exe", "q1.exe", "z9.exe"] and files[0]["hosts"][0]["evidence"] == ["x:9"]
    assert exe_path("C:\\Windows\\mssecsvc.exe -m security") == "C:\\Windows\\mssecsvc.exe"
    assert exe_path('"C:\\Program Files\\x y\\a.exe" /s') == "C:\\Program Files\\x y\\a.exe"


def _cut_hunt(tmp: Path, scenario: str, seed: int, share: float) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """Hunt a simulated outbreak with ``--to`` just before the infection that follows the first
    ``share`` of them; the outbreak incident, the truth and the hosts infected after the cut."""
    truth = simulate(scenario, 40, 1, seed, tmp / "sim")
    inf = sorted(truth["infections"], key=lambda i: i["time"])
    k = max(2, int(len(inf) * share))
    at = [datetime.fromisoformat(inf[j]["time"].replace("Z", "+00:00")) for j in (k - 1, k)]
    cut = at[1] - min(timedelta(minutes=15), (at[1] - at[0]) / 2)
    _hunt([str(tmp / "sim" / "logs"), "--case", str(tmp / "case"), "--out", str(tmp / "out"),
           "--to", cut.isoformat()])
    doc = json.loads((tmp / "out" / "incidents.json").read_text())
    later = {i["host"] for i in inf if datetime.fromisoformat(i["time"].replace("Z", "+00:00")) >= cut}
    outbreak = next(i for i in doc["incidents"] if i["type"] == "outbreak" and i["patient_zero"] == truth["patient_zero"])
    return outbreak, truth, later


def _checked(outbreak: dict[str, Any]) -> list[dict[str, Any]]:
    """The hops, checked for what they must be whatever the scenario."""
    hops = outbreak["next_hops"]
    infected = {h["host"]: h["infected_at"] for h in outbreak["hosts"] if h["state"] == "infected"}
    spread = {e["account"].lower() for e in outbreak["edges"] if e["account"]}
    assert [h["rank"] for h in hops] == list(range(1, len(hops) + 1))
    for h in hops:
        assert h["host"] not in infected and h["evidence"]
        for ev in h["evidence"]:
            if ev["reason"] != "credential":  # a contact from an infected host, after its infection
                assert ev["source"] in infected and ev["ts"] >= infected[ev["source"]], (h["host"], ev)
            if ev["reason"] in ("account", "credential") and ev["account"]:
                assert ev["account"].lower() in spread
    return hops


def test_next_hops_of_an_smb_worm_are_the_hosts_it_was_exploiting(tmp_path: Path) -> None:
    """WannaCry hunted while it spreads: the hosts infected hosts had sent exploit-sized SMB
    sessions to rank first, and the truth shows each of them infected after the cut."""
    outbreak, _, later = _cut_hunt(tmp_path, "wannacry", 1, 0.4)
    hops = _checked(outbreak)
    named = [h for h in hops if not h["host"][0].isdigit()]
    exploited = [h["host"] for h in named if any(e["reason"] == "exploit" for e in h["evidence"])]
    assert len(exploited) >= 2
    assert [h["host"] for h in named[: len(exploited)]] == exploited  # they come first
    assert set(exploited) <= later  # and each was infected after the cut
    # over the named hosts listed, those infected later rank above those never infected
    pos = [h["rank"] for h in named if h["host"] in later]
    neg = [h["rank"] for h in named if h["host"] not in later]
    assert pos and neg and sum(p < n for p in pos for n in neg) / (len(pos) * len(neg)) >= 0.8


def test_next_hops_of_a_credential_worm_list_most_later_victims(tmp_path: Path) -> None:
    """Emotet and Qakbot hunted while they spread: most hosts the truth shows infected after the cut
    are listed (reached over SMB, by the spread's credentials or attempts) before it."""
    outbreak, _, later = _cut_hunt(tmp_path, "emotet-qakbot", 1, 0.4)
    hops = _checked(outbreak)
    listed = {h["host"] for h in hops}
    assert len(listed & later) >= len(later) / 2, (sorted(later), [h["host"] for h in hops])
    assert any(e["reason"] == "credential" for h in hops for e in h["evidence"])
