"""The candidate rows' condition before the keys (``candidates.PREFILTER``): on Spark only the events
that meet it are joined with their keys files, so it must hold for every row of ``hunt_index``,
read from the shards as ingest wrote them (no keys); and it must drop rows, or it saves nothing.
On the demo and on simulated cases (DuckDB); Spark's rows against DuckDB's:
test_spark_differential.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormsign import demo, library
from wormsign.detect import candidates, config, prep
from wormsign.detect.propagation import bind
from wormsign.engine import passes
from wormsign.simulate import simulate
from wormsign.store import Case


def _check(case_dir: Path) -> tuple[int, int, int]:
    """(rows of hunt_index, events, events that meet the condition) of a resolved case."""
    cfg = config.load(None)
    with Case.open(str(case_dir)) as case:
        for m in prep.MACROS:
            case.engine.execute(m)
        case.engine.execute(candidates.NETLIDS)  # from the keyed events, as the hunt makes it
        sql, params = bind(candidates.PREFILTER, candidates._values(cfg))
        raw = f"read_parquet({case.shard_files(case.shard_ids())})"
        missed = case.rows(f"SELECT count(*) FROM {candidates.INDEX} WHERE eid NOT IN "
                           f"(SELECT eid FROM {raw} WHERE {sql})", params)[0][0]
        assert missed == 0, f"{missed} candidate rows fail the condition before the keys"
        kept = case.rows(f"SELECT count(*) FROM {raw} WHERE {sql}", params)[0][0]
        return (int(case.rows(f"SELECT count(*) FROM {candidates.INDEX}")[0][0]),
                int(case.rows(f"SELECT count(*) FROM {raw}")[0][0]), int(kept))


def _resolved(tmp: Path, paths: list[Path]) -> Path:
    with library.open_case(tmp / "case") as case:
        library.ingest(case, paths)  # resolved: hunt_index stored
    return tmp / "case"


def test_demo_candidate_rows_meet_the_condition_before_the_keys(tmp_path: Path) -> None:
    rows, events, kept = _check(_resolved(tmp_path, [Path(demo.logs())]))
    assert rows > 100 and rows <= kept < events


@pytest.mark.parametrize("scenario", ["emotet-qakbot", "wannacry", "spray"])
def test_scenario_candidate_rows_meet_the_condition_before_the_keys(tmp_path: Path, scenario: str) -> None:
    sim = tmp_path / "sim"
    simulate(scenario, 30, 1, 7, sim)
    rows, events, kept = _check(_resolved(tmp_path, [sim / "logs"]))
    assert rows > 100 and rows <= kept < events


def test_a_branch_that_reads_a_key_unknown_to_the_condition_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    branch = ("a branch on the resolved source", """kind = 'auth' AND "source.host" = 'x'""", ())
    monkeypatch.setattr(candidates, "BRANCHES", (*candidates.BRANCHES, branch))
    with pytest.raises(ValueError, match="reads a resolved key"):
        candidates._prefilter()


@pytest.mark.parametrize("sql", ['"source.host" IS NULL', "host = 'a'", '"host" = 1', '"destination.host" = 1'])
def test_key_references_are_found(sql: str) -> None:
    assert passes.KEY_REF.search(sql)


@pytest.mark.parametrize("sql", ['"source.hostname" = 1', "'a.host' = x", '"user.name" = 1'])
def test_other_columns_are_not_keys(sql: str) -> None:
    assert not passes.KEY_REF.search(sql)
