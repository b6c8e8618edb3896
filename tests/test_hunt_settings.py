"""DuckDB's memory limit in large jobs (ingest, resolution, hunt) follows a container's cap, never above it."""

from __future__ import annotations

import os

import pytest
from wormsign import hunt, store
from wormsign.store import Case


def test_memory_follows_a_lower_container_cap(tmp_path, monkeypatch):
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cap = tmp_path / "memory.max"
    cap.write_text(f"{2 * 2**30}\n")
    none = tmp_path / "none.max"
    none.write_text("max\n")
    monkeypatch.setattr(store, "CGROUP_LIMITS", (str(none), str(cap)))
    assert store.memory_bytes() == min(machine, 2 * 2**30)
    monkeypatch.setattr(store, "CGROUP_LIMITS", (str(none), str(tmp_path / "missing")))
    assert store.memory_bytes() == machine
    monkeypatch.setattr(store, "CGROUP_LIMITS", (str(cap),))
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        before = case.rows("SELECT current_setting('memory_limit')")[0][0]
        with hunt._settings(case):
            during = case.rows("SELECT current_setting('memory_limit')")[0][0]
        after = case.rows("SELECT current_setting('memory_limit')")[0][0]
    assert during == ("1.0 GiB" if machine >= 2 * 2**30 else f"{max(machine // 2**21, 256)}.0 MiB")
    # put back as it was (DuckDB prints the restored limit rounded to 0.1)
    (a, unit_a), (b, unit_b) = after.split(), before.split()
    assert unit_a == unit_b and abs(float(a) - float(b)) < 0.15


def test_memory_follows_wormsign_memory(tmp_path, monkeypatch):
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    monkeypatch.setattr(store, "CGROUP_LIMITS", ())
    monkeypatch.setenv("WORMSIGN_MEMORY", "1GiB")
    assert store.memory_bytes() == min(machine, 2**30)
    with Case.open(str(tmp_path / "c.duckdb")) as case, hunt._settings(case):
        assert case.rows("SELECT current_setting('memory_limit')")[0][0] == "512.0 MiB"
    monkeypatch.setenv("WORMSIGN_MEMORY", "1.5g")
    assert store.memory_bytes() == min(machine, 3 * 2**29)
    monkeypatch.setenv("WORMSIGN_MEMORY", str(2**40 * 1024))  # above the machine's: the machine's
    assert store.memory_bytes() == machine
    monkeypatch.setenv("WORMSIGN_MEMORY", "lots")
    with pytest.raises(ValueError, match="WORMSIGN_MEMORY: not a size: 'lots'"):
        store.memory_bytes()
