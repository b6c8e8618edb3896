"""The learned deployer baseline and the allowlist file."""

from __future__ import annotations

from pathlib import Path

import pytest
from huntrows import copy_exec, deployer_rows, make_case

from wormsign.detect import baseline, config, working


def test_learns_a_deployer_from_pushes_on_two_days(tmp_path: Path) -> None:
    cfg = config.load()
    rows = deployer_rows() + copy_exec(10, "ws-01", "ws-02", "once.exe")
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, cfg)
        b = baseline.learn(case, cfg)
    assert b.deployers == {"sccm-01"}
    assert ("sccm-01", "ccmsetup.exe") in b.known
    known = {"source": "sccm-01", "fname": "ccmsetup.exe", "sha256": None, "kind": "copy"}
    assert b.benign(known, set())
    assert not b.benign({**known, "fname": "never-seen.exe"}, set())  # a known deployer, a new binary
    assert not b.benign(known, {"sccm-01"})  # a deployment preceded by brute force


def test_allowlist_file(tmp_path: Path) -> None:
    p = tmp_path / "allow.yaml"
    p.write_text("deployers: [PDQ-01]\nfiles: [CCMSetup.exe]\n")
    assert baseline.load_allowlist(str(p)) == ({"pdq-01"}, {"ccmsetup.exe"})
    p.write_text("- just a list\n")
    with pytest.raises(ValueError, match="allow.yaml"):
        baseline.load_allowlist(str(p))
