"""The benign volume option: more everyday records per host-day, none between hosts, all ingestible."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from tests.simulate.conftest import read_zeek_tsv
from wormsign.ingest import ingest_paths
from wormsign.simulate import simulate
from wormsign.simulate.benign import config
from wormsign.store import Case

HOSTS, DAYS, SEED, VOLUME = 30, 2, 3, 4.0


def _per_host(out: Path) -> Counter[str]:
    import orjson

    n: Counter[str] = Counter()
    for f in (out / "logs" / "winlogbeat").glob("*.ndjson.gz"):
        with gzip.open(f, "rb") as fh:
            n.update(orjson.loads(x)["host"]["hostname"] for x in fh)
    return n


def _internal_conns(out: Path) -> Counter[str]:
    rows = [r for f in (out / "logs" / "zeek").glob("*/conn.log.gz") for r in read_zeek_tsv(f)]
    return Counter(f"{r['uid']} {r['id.orig_h']} {r['id.resp_h']}:{r['id.resp_p']}" for r in rows
                   if r["id.resp_h"].startswith("10."))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict]:
    base, loud = tmp_path_factory.mktemp("v1"), tmp_path_factory.mktemp("v4")
    t1 = simulate("emotet", HOSTS, DAYS, SEED, base, attack_at=10.0)
    t4 = simulate("emotet", HOSTS, DAYS, SEED, loud, attack_at=10.0, benign_volume=VOLUME)
    return base, loud, t1, t4


def test_volume_adds_about_the_configured_records(pair: tuple[Path, Path, dict, dict]) -> None:
    base, loud, t1, t4 = pair
    assert config()["volume"] == 1  # the default output is the plain run
    per_unit = config()["background"]["records_per_unit"]
    added = t4["_stats"]["events"] - t1["_stats"]["events"]
    expected = HOSTS * DAYS * (VOLUME - 1) * per_unit
    assert 0.9 * expected < added < 1.1 * expected
    n1, n4 = _per_host(base), _per_host(loud)
    assert n1.keys() == n4.keys() and len(n1) == HOSTS
    assert all(n4[h] > n1[h] + 0.5 * DAYS * (VOLUME - 1) * per_unit / 2 for h in n1)  # every host is louder


def test_volume_changes_no_attack_and_no_traffic_between_hosts(pair: tuple[Path, Path, dict, dict]) -> None:
    base, loud, t1, t4 = pair
    assert t1["infections"] == t4["infections"] and t1["lockouts"] == t4["lockouts"]
    assert len(t1["attack_event_ids"]) == len(t4["attack_event_ids"])
    assert _internal_conns(base) == _internal_conns(loud)  # the noise only talks to the internet


def test_volume_ingests_with_zero_rejects(pair: tuple[Path, Path, dict, dict], tmp_path: Path) -> None:
    _, loud, _, t4 = pair
    with Case.open(str(tmp_path / "case.duckdb")) as case:
        report = ingest_paths([str(loud / "logs")], case, workers=1)
        assert report.unknown == [] and report.stats.rejected == 0, report.rejects[:5]
        assert report.stats.stored == t4["_stats"]["events"]
        kinds = dict(case.rows("SELECT \"event.code\", kind FROM events WHERE \"event.code\" IN ('4672', '11', '22')"))
        assert kinds == {"4672": "auth", "11": "file", "22": "dns"}


def test_volume_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        simulate("benign", 14, 1, 1, tmp_path, benign_volume=0.5)
