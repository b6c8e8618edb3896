"""A case another process holds (issue 17, defect 8): a clear message naming the case and its holder
after ``--wait`` seconds, never a traceback; and a wait that ends when the holder lets go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign.store import Case

WORMSIGN = Path(sys.executable).with_name("wormsign")
HOLD = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1] + '/catalog.duckdb'); print('held', flush=True); "
        "time.sleep(float(sys.argv[2]))")


def _hold(case: Path, seconds: float) -> subprocess.Popen[str]:
    """A second process that opens the case for writing and keeps it ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(case), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([str(WORMSIGN), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def case(tmp_path: Path) -> Path:
    path = tmp_path / "held.duckdb"
    Case.open(str(path)).close()
    return path


@pytest.mark.parametrize("command", [["stats"], ["hunt", "--no-sigma"], ["ingest", "EVIDENCE"]])
def test_locked_case_is_named_with_its_holder(case: Path, tmp_path: Path, command: list[str]) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "a.ndjson").write_text("{}\n")
    args = [str(evidence) if a == "EVIDENCE" else a for a in command]
    holder = _hold(case, 120)
    try:
        r = _run(*args, "--case", str(case), "--wait", "0.5")
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1, r.stdout + r.stderr
    err = " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr and "IOException" not in r.stderr
    assert str(case) in err and f"process {holder.pid}" in err and "in use" in err
    assert "after waiting 0.5 s" in err


def test_wait_ends_when_the_holder_lets_go(case: Path) -> None:
    holder = _hold(case, 1.0)
    try:
        r = _run("stats", "--case", str(case), "--wait", "60")
    finally:
        holder.wait()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 events" in r.stdout
