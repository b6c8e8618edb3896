"""DuckDB's memory limit in large jobs (ingest, resolution, hunt) follows a container's cap, never above it."""

from __future__ import annotations

import os

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
