"""The parsed Sigma fields are kept in the case (sigma_cache): a later run on the same events
reads them instead of parsing every record again, finds exactly what a fresh parse finds, and
the cache grows to serve other rule sets and goes stale when events are added."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from wormsign import demo
from wormsign.detect.sigma import run_sigma
from wormsign.detect.sigma.fields import CACHE
from wormsign.ingest import ingest_paths
from wormsign.resolve import ensure_resolved
from wormsign.store import Case

# A rule on a field none of the in-house rules reads (Sysmon 11's TargetFilename).
EXTRA = """
title: Executable written under a user profile
id: 2b5e1f0a-6c55-4c39-9d1e-5f1b8f1f4a11
status: experimental
logsource: {product: windows, category: file_event}
detection:
  selection:
    TargetFilename|contains: '\\Users\\'
    TargetFilename|endswith: '.exe'
  condition: selection
level: medium
"""


def _alerts(run: Any) -> str:
    return json.dumps(sorted(run.alerts, key=lambda a: (a["rule"], a["ts"], a["host"], a["evidence"])),
                      sort_keys=True, default=str)


def _builds(case: Case) -> list[str]:
    """Spy on the statements that (re)build the cache."""
    seen: list[str] = []
    orig = case.engine.execute

    def execute(sql: str, params: Any = ()) -> None:
        if f"TABLE {CACHE} AS" in sql:
            seen.append(sql)
        orig(sql, params)

    case.engine.execute = execute  # type: ignore[method-assign]
    return seen


def test_the_cache_serves_later_runs_with_what_a_fresh_parse_finds(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "extra.yml").write_text(EXTRA, encoding="utf-8")
    path = tmp_path / "c.duckdb"
    with Case.open(str(path)) as case:
        ingest_paths([str(demo.logs())], case, workers=1)
        ensure_resolved(case)
    shutil.copytree(path, tmp_path / "copy.duckdb")  # a case is a directory
    # What a fresh parse finds: a read-only case with no cache parses into a temporary table.
    with Case.open(str(tmp_path / "copy.duckdb"), read_only=True) as ro:
        fresh_builtin = _alerts(run_sigma(ro))
        fresh_extra = _alerts(run_sigma(ro, [str(rules)]))
        assert not ro.engine.has_table(CACHE)
    assert fresh_builtin != fresh_extra and '"sigma:2b5e1f0a' in fresh_extra

    with Case.open(str(path)) as case:
        builds = _builds(case)
        assert _alerts(run_sigma(case)) == fresh_builtin  # builds the cache
        assert _alerts(run_sigma(case)) == fresh_builtin  # reads it
        assert len(builds) == 1
        cols = case.get_meta(CACHE)["cols"]
        assert "TargetFilename" not in cols
        # Another rule set needs a field more: rebuilt once, with the union, then served.
        assert _alerts(run_sigma(case, [str(rules)])) == fresh_extra
        assert len(builds) == 2 and set(cols) < set(case.get_meta(CACHE)["cols"])
        assert _alerts(run_sigma(case)) == fresh_builtin
        assert _alerts(run_sigma(case, [str(rules)])) == fresh_extra
        assert len(builds) == 2
    # A read-only case reads a cache that covers its run.
    with Case.open(str(path), read_only=True) as ro:
        assert _alerts(run_sigma(ro, [str(rules)])) == fresh_extra
        assert not ro.engine.has_table("sigma_events") or ro.rows(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'sigma_events'") == [("VIEW",)]


def test_the_cache_goes_stale_when_events_are_added(tmp_path: Path) -> None:
    logs = sorted(Path(demo.logs()).rglob("*"))
    files = [p for p in logs if p.is_file()]
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        ingest_paths([str(f) for f in files[:-1]], case, workers=1)
        ensure_resolved(case)
        builds = _builds(case)
        run_sigma(case)
        run_sigma(case)
        assert len(builds) == 1
        ingest_paths([str(files[-1])], case, workers=1)
        ensure_resolved(case)
        run_sigma(case)
        assert len(builds) == 2
        assert case.get_meta(CACHE)["state"]["events"] == case.count()


# A rule of a log source the demo has no event of (Sysmon 6), on fields no other rule reads.
ABSENT = """
title: Driver with an expired signature
id: 6f0c3c1e-2a44-4a58-8d7e-3c1f0d9b2e71
status: experimental
logsource: {product: windows, category: driver_load}
detection:
  selection:
    ImageLoaded|endswith: '.sys'
    SignatureStatus: Expired
  condition: selection
level: medium
"""


def test_fields_only_rules_of_absent_log_sources_read_are_not_parsed(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "absent.yml").write_text(ABSENT, encoding="utf-8")
    (rules / "extra.yml").write_text(EXTRA, encoding="utf-8")
    path = tmp_path / "c.duckdb"
    with Case.open(str(path)) as case:
        ingest_paths([str(demo.logs())], case, workers=1)
        ensure_resolved(case)
        assert case.rows("SELECT count(*) FROM events WHERE \"event.code\" = '6'") == [(0,)]
        only_extra = tmp_path / "extra"
        only_extra.mkdir()
        (only_extra / "extra.yml").write_text(EXTRA, encoding="utf-8")
        want = _alerts(run_sigma(case, [str(only_extra)]))
        run = run_sigma(case, [str(rules)])
        cols = case.get_meta(CACHE)["cols"]
        # the rule is converted and run (nothing to report), matches nothing, and its fields are not columns
        assert not any("6f0c3c1e" in s["rule"] for s in run.skipped)
        assert run.converted == run_sigma(case, [str(only_extra)]).converted + 1
        assert "TargetFilename" in cols and "ImageLoaded" not in cols and "SignatureStatus" not in cols
        assert _alerts(run) == want
