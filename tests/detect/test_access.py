"""Patient zero's initial-access chain, read from process starts on a real case."""

from __future__ import annotations

from pathlib import Path

from huntrows import T0, ev, lure, make_case

from wormsign.detect import access, config, prep

WORD = "C:\\Program Files\\Office\\WINWORD.EXE"


def test_chain_starts_at_the_lure_and_a_user_opening_word_is_no_lure(tmp_path: Path) -> None:
    cfg = config.load()
    rows = [ev(-30, "ws-01", "process", "1", **{"process.executable": "C:\\Windows\\System32\\cmd.exe",
               "process.parent.executable": "C:\\Windows\\explorer.exe"})]
    rows += lure(0, "ws-01")
    rows += [ev(0, "ws-02", "process", "1", **{"process.executable": WORD,
                "process.parent.executable": "C:\\Windows\\explorer.exe"})]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        prep.prepare(case, cfg)
        chain = access.initial_access(case, "ws-01", T0.replace(hour=10), cfg)
        benign = access.initial_access(case, "ws-02", T0.replace(hour=10), cfg)
    assert [r["process"].rsplit("\\", 1)[-1] for r in chain] == ["WINWORD.EXE", "powershell.exe"]
    assert all(r["ref"].startswith("d" * 64 + ":") for r in chain)
    assert access.is_lure(chain, cfg)
    assert not access.is_lure(benign, cfg)
    # Word opened from the mail client is the phishing entry; PowerShell from Word runs the lure
    assert [r["attack"] for r in chain] == [["T1566", "T1566.001", "T1204.002"], ["T1204.002", "T1059.001"]]
    assert benign and all(r["attack"] == [] for r in benign)
