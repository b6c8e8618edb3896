"""Identical Sigma runs give identical alerts: the whole SigmaHQ Windows set on the real corpus
(../shared/corpus), on 1 thread or several, in a fresh case or on the case's kept field cache,
with the rules compiled now or read from the compiled rule cache; the incidents made of them are
identical too, far fewer than the rules and hosts that fired, and every (rule, host) the rules
raised before they ran one pass per log source group still fires."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
import pytest

from wormsign.detect.sigma import SigmaRun, fields, run_sigma
from wormsign.graph.incidents import other_incidents
from wormsign.ingest import ingest_paths
from wormsign.store import Case

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus"
SIGMAHQ = ROOT.parent / "shared" / "sigma" / "rules" / "windows"
OTRF = CORPUS / "otrf-lateral"
FIRED = ROOT / "tests" / "data" / "sigma" / "sigmahq-corpus-fired.tsv"
#: Every EVTX folder of the corpus, and the OTRF recordings whose PowerShell 4103 events hold a
#: ``Payload`` (SigmaHQ's OpenSSH rules spell that field ``payload``). All 54 OTRF files would
#: add 262,000 events and 2.5 minutes to the test for no other field or rule family.
SOURCES = [
    CORPUS / "evtx-attack-samples",
    CORPUS / "real-multihost",
    OTRF / "empire_getsession_dcerpc_smb_srvsvc_NetSessEnum_2020-09-22034513.json.gz",
    OTRF / "empire_find_localadmin_smb_svcctl_OpenSCManager_2020-09-22021559.json.gz",
    OTRF / "covenant_dcom_registerxll_2020-09-18145959.json.gz",
]

pytestmark = pytest.mark.skipif(
    not (SIGMAHQ.is_dir() and all(p.exists() for p in SOURCES)),
    reason="../shared is not beside the repository",
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("determinism") / "corpus.duckdb"
    with Case.open(str(path)) as case:
        report = ingest_paths([str(p) for p in SOURCES], case, workers=1)
        assert report.stats.stored > 20000
    return path


def _run(
    path: Path, threads: int, order: Callable[[Iterable[str]], list[str]], mp: pytest.MonkeyPatch,
    rule_cache: Path,
) -> SigmaRun:
    """One Sigma run on the case at ``path`` with DuckDB on ``threads`` threads, the rules' field
    names reaching the field table in ``order`` (in a run, the order of a Python set), the compiled
    rules kept in (or read from) ``rule_cache``."""
    build = fields.build
    with mp.context() as m:
        m.setattr(fields, "build", lambda case, names, *a, **k: build(case, order(names), *a, **k))
        m.setenv("WORMSIGN_CACHE", str(rule_cache))
        with Case.open(str(path)) as case:
            case.engine.execute(f"SET threads = {threads}")
            assert case.rows("SELECT current_setting('threads')")[0][0] == threads
            return run_sigma(case, [str(SIGMAHQ)])


def _incidents(run: SigmaRun) -> str:
    return json.dumps(other_incidents([dict(a, target_hosts=a.get("target_hosts") or []) for a in run.alerts], []),
                      sort_keys=True, default=str)


def _lines(run: SigmaRun) -> list[str]:
    return [json.dumps(a, sort_keys=True, default=str) for a in run.alerts]


def _differences(a: SigmaRun, b: SigmaRun) -> str:
    """Which alerts (ids aside) only one run has, by rule."""
    def strip(run: SigmaRun) -> Counter[str]:
        return Counter(json.dumps({k: v for k, v in x.items() if k != "id"}, sort_keys=True, default=str)
                       for x in run.alerts)

    only = (strip(a) - strip(b)) + (strip(b) - strip(a))
    rules = Counter(json.loads(s)["rule"] for s in only.elements())
    return f"{len(a.alerts)} against {len(b.alerts)} alerts; {sum(only.values())} differ: {dict(rules)}"


def test_identical_runs_on_one_thread_or_many(
    ingested: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def descending(names: Iterable[str]) -> list[str]:
        return sorted(names, reverse=True)

    one, fresh = tmp_path / "one.duckdb", tmp_path / "fresh.duckdb"
    shutil.copytree(ingested, one)  # a case is a directory
    shutil.copytree(ingested, fresh)
    rule_cache = tmp_path / "rule-cache"
    first = _run(one, 1, sorted, monkeypatch, rule_cache)  # compiles the rules and keeps them
    assert len(list(rule_cache.glob("sigma-rules-*.json"))) == 1
    lines = _lines(first)
    # The run covers the fields two rule families spell differently, and a broad set of rules.
    fired = {r["rule"] for r in first.fired()}
    assert {"7d0d0329-0ef1-4e84-a9f5-49500f9d7c6c", "64e8e417-c19a-475a-8d19-98ea705394cc"} <= {
        r.removeprefix("sigma:") for r in fired
    }
    assert len(fired) > 60 and len(lines) > 300
    assert [a["id"] for a in first.alerts] == [f"ALR-{i:06d}" for i in range(1, len(lines) + 1)]
    # Every (rule, host) raised before the rules ran one pass per log source group still fires.
    before = {tuple(line.split("\t")) for line in FIRED.read_text(encoding="utf-8").splitlines()
              if line and not line.startswith("#")}
    now = {(a["rule"], a["host"]) for a in first.alerts}
    assert len(before) > 400 and not before - now, sorted(before - now)[:20]
    # Incidents a person reads: by rule family, acting host and episode, not one per rule and host.
    incidents = _incidents(first)
    incs = json.loads(incidents)
    assert sorted(i for inc in incs for i in inc["alerts"]) == sorted(a["id"] for a in first.alerts)
    assert len(incs) < 0.6 * len(now), (len(incs), len(now))

    for path, threads in ((fresh, 4), (one, 2)):  # a new case builds its cache; the first run's is read
        again = _run(path, threads, descending, monkeypatch, rule_cache)  # the compiled rules are read
        assert _lines(again) == lines, _differences(first, again)
        assert again.hits == first.hits and again.truncated == first.truncated
        assert again.skipped == first.skipped
        assert _incidents(again) == incidents
