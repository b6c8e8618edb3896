"""The case as a directory of Parquet shards with a DuckDB catalog (docs/schema.md), on real
recordings: readable without wormsign, safe against a run killed between its steps,
incremental resolution equal to a full one, and earlier single-file cases refused or converted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from wormsign.ingest import ingest_paths
from wormsign.resolve import resolve
from wormsign.store import Case, CaseFormatError, convert

ROOT = Path(__file__).resolve().parents[2]
OTRF = ROOT.parent / "shared" / "corpus" / "otrf-lateral"
#: Three recordings of one lab (WORKSTATION5, WORKSTATION6, MORDORDC): the third names
#: addresses and hosts the first two do.
FILES = ("covenant_sc_query_dcerpc_smb_svcctl_2020-08-05034820.json",
         "covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json",
         "covenant_com_wsman_automation_2020-10-13002455.json")

#: Three more, of which the third changes the resolution of an address the first two name
#: earlier in time: resolving it computes an older shard's keys again.
REKEY = ("aadinternals_export_adfsdatabaseconfig_remotely_2021-04-27040833.json",
         "cmd_discover_iexplorer_version_registry_2020-10-2123281491.json",
         "cmd_lsass_memory_dumpert_syscalls_2020-10-1822561997.json")

#: And three whose third names a host not known before: the identities are computed again
#: from every shard's observations (a newly known host's DNS answers count from then on).
RENAME = ("covenant_sharpsc_stop_dcerpc_smb_svcctl_2020-08-06031938.json.gz",
          "covenant_sharpwmi_create_dcerpc_wmi_2020-08-06035621.json.gz",
          "covenant_wmi_remote_event_subscription_ActiveScriptEventConsumers_2020-09-01214330.json.gz")

needs_corpus = pytest.mark.skipif(not all((OTRF / f).is_file() for f in FILES + REKEY + RENAME),
                                  reason="../shared/corpus/otrf-lateral is not beside the repository")

ROWS = """SELECT * EXCLUDE (raw) FROM events ORDER BY eid"""


def _tables(case: Case) -> dict[str, list[tuple]]:
    """The events (resolved keys included), the identities and every stored table of the hunt."""
    names = [r[0] for r in case.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                                     "AND (table_name LIKE 'hunt_%' OR table_name LIKE 'host_%') ORDER BY 1")]
    out = {"events": case.rows(ROWS)}
    for name in names:
        cols = {r[0] for r in case.rows("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                        [name])}
        # xid: an identity of a remote execution, numbered in no order (detect/prep.py EXECS)
        out[name] = case.rows(f'SELECT * {"EXCLUDE (xid)" if "xid" in cols else ""} FROM "{name}" ORDER BY ALL')
    return out


def _ingest(case: Case, *names: str) -> None:
    for name in names:  # one ingest each: one shard each, numbered in this order
        ingest_paths([str(OTRF / name)], case, workers=1)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dir") / "case"
    with Case.open(str(path)) as case:
        _ingest(case, *FILES)
        resolve(case)
    return path


def _doc_sql() -> str:
    text = (ROOT / "docs" / "schema.md").read_text("utf-8")
    m = re.search(r"```sql\n(-- plain DuckDB.*?)```", text, re.S)
    assert m, "docs/schema.md lost its plain-DuckDB example"
    return m.group(1)


@needs_corpus
def test_plain_duckdb_and_pyarrow_read_the_case_without_wormsign(resolved: Path) -> None:
    with Case.open(str(resolved), read_only=True) as case:
        want = case.rows('SELECT eid, ts, host, "source.host", "destination.host", kind FROM events ORDER BY eid')
        keyed = case.rows("SELECT count(*) FROM events WHERE \"source.host\" IS NOT NULL")[0][0]
    assert len(want) > 1000 and keyed > 0
    script = f"""
import sys, json
assert "wormsign" not in sys.modules
import duckdb, pyarrow.dataset as ds
sql = {_doc_sql().replace("CASE/", str(resolved) + "/")!r}
doc = duckdb.sql(f'SELECT eid, ts, host, "source.host", "destination.host", kind FROM ({{sql.rstrip().rstrip(";")}}) '
                 'ORDER BY eid').fetchall()
cat = duckdb.connect({str(resolved / "catalog.duckdb")!r}, read_only=True)
view = cat.sql('SELECT eid, ts, host, "source.host", "destination.host", kind FROM events ORDER BY eid').fetchall()
import os, pyarrow as pa, pyarrow.parquet as pq
tables = []
for name in sorted(os.listdir({str(resolved / "events")!r})):  # as docs/schema.md shows
    shard = pq.read_table(os.path.join({str(resolved / "events")!r}, name))
    kf = os.path.join({str(resolved / "keys")!r}, name)
    if os.path.exists(kf):
        keys = pq.read_table(kf)
        for col in keys.column_names:
            shard = shard.set_column(shard.schema.get_field_index(col), col, keys.column(col))
    tables.append(shard.select(["eid", "host", "source.host", "destination.host"]))
arrow = sorted(pa.concat_tables(tables).to_pylist(), key=lambda r: r["eid"])
same_arrow = [(r["eid"], r["host"], r["source.host"], r["destination.host"]) for r in arrow] == [
    (r[0], r[2], r[3], r[4]) for r in view]
keys = ds.dataset({str(resolved / "keys")!r}, format="parquet").to_table()
print(json.dumps([doc == view, same_arrow, len(doc), len(arrow), keys.num_rows, keys.column_names], default=str))
print(repr(doc[:3]) if doc != view else "")
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                         cwd="/")
    assert res.returncode == 0, res.stderr
    import json

    same, same_arrow, n, ev_rows, key_rows, key_cols = json.loads(res.stdout.splitlines()[0])
    assert same and same_arrow and n == len(want) == ev_rows
    assert key_rows == ev_rows and key_cols == ["source.host", "destination.host", "host"]  # row by row
    # the same values as wormsign reads (timestamps compared as text: one process's zone is not another's)
    got = duckdb.sql(
        f'SELECT eid, ts, host, "source.host", "destination.host", kind FROM ({_doc_sql().replace("CASE/", str(resolved) + "/").rstrip().rstrip(";")}) ORDER BY eid'
    ).fetchall()
    assert got == want


@needs_corpus
@pytest.mark.parametrize(("files", "keyed"), [(FILES, 1), (REKEY, 2), (RENAME, 3)],
                         ids=["new-shard-only", "old-shard-rekeyed", "names-changed"])
def test_adding_files_resolves_like_a_full_resolution(files: tuple[str, ...], keyed: int, tmp_path: Path) -> None:
    """Resolve after two recordings, add the third, resolve again: the events (resolved keys
    included), identities and every stored table of the hunt equal those of one resolution of
    all three. Either only the new shard is read (the addresses it names resolved again from
    where it starts, its hosts' activity summaries redone), or an older shard's keys change too
    (all summaries redone), or the known hosts change (every address resolved again)."""
    inc, full = tmp_path / "inc", tmp_path / "full"
    with Case.open(str(inc)) as case:
        _ingest(case, *files[:2])
        first = resolve(case)
        _ingest(case, files[2])
        second = resolve(case)
        assert first.shards == 2
        assert second.shards == keyed
        got = _tables(case)
        again = resolve(case)
        assert again.shards == 0  # nothing changed: nothing read again
    with Case.open(str(full)) as case:
        _ingest(case, *files)
        resolve(case)
        want = _tables(case)
    assert got.keys() == want.keys() and len(got) > 12
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}
    for name in want:
        assert got[name] == want[name], name


@needs_corpus
def test_a_kill_between_commit_and_move_is_finished_and_leftovers_removed(tmp_path: Path) -> None:
    path = tmp_path / "case"
    with Case.open(str(path)) as case:
        _ingest(case, FILES[0])
        n = case.count()
        (shard,) = case.shard_ids()
    # what a run killed after its catalog commit leaves: the shard still in staging
    os.replace(path / "events" / f"part-{shard:08d}.parquet", path / "staging" / f"part-{shard:08d}.parquet")
    # and what a run killed before its commit leaves: a staging file no commit names, a stray keys file
    (path / "staging" / "part-00000099.parquet").write_bytes(b"PAR1 half written")
    (path / "keys" / "part-00000098.parquet").write_bytes(b"PAR1")
    with Case.open(str(path)) as case:
        assert case.count() == n == case.rows("SELECT count(*) FROM events")[0][0]
    assert sorted(p.name for p in (path / "events").iterdir()) == [f"part-{shard:08d}.parquet"]
    assert not list((path / "staging").iterdir()) and not list((path / "keys").iterdir())


def test_an_earlier_single_file_case_is_refused_then_converted(tmp_path: Path) -> None:
    from wormsign import schema

    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    cols = ", ".join(f"{schema.q(f.name)} {schema.duckdb_type(f.type)}" for f in schema.FIELDS if f.name != "url.full")
    con.execute(f"CREATE TABLE events ({cols})")  # an older model: one column fewer
    con.execute("""INSERT INTO events (ts, host, kind, "src.file", "src.record", "src.digest", "src.format")
                   VALUES ('2026-03-02 09:00:00+00', 'ws-01', 'auth', 'a.evtx', 1, 'd1', 'evtx'),
                          ('2026-03-02 09:00:01+00', 'ws-02', 'auth', 'a.evtx', 2, 'd1', 'evtx')""")
    con.execute("CREATE TABLE sources (digest VARCHAR, file VARCHAR, format VARCHAR, size BIGINT, records BIGINT, "
                "stored BIGINT, rejected BIGINT, truncated BIGINT, reasons VARCHAR, ingested_at TIMESTAMPTZ)")
    con.execute("INSERT INTO sources VALUES ('d1', 'a.evtx', 'evtx', 10, 2, 2, 0, 0, '{}', now())")
    con.close()
    with pytest.raises(CaseFormatError, match="earlier wormsign.*wormsign convert"):
        Case.open(str(old))
    assert convert(str(old), str(tmp_path / "new")) == 2
    with Case.open(str(tmp_path / "new"), read_only=True) as case:
        assert case.rows('SELECT host, "url.full" FROM events ORDER BY eid') == [("ws-01", None), ("ws-02", None)]
        assert case.rows("SELECT digest, stored FROM sources") == [("d1", 2)]


def test_many_small_ingests_are_merged_into_one_shard(tmp_path: Path) -> None:
    """Each small ingest commits a shard of its own; past COMPACT_MAX_SHARDS unresolved small
    ones they are merged, with every event kept once, and the case resolves as before."""
    from datetime import UTC, datetime

    from wormsign.ingest.base import rows_to_table
    from wormsign.store import COMPACT_MAX_SHARDS

    def rows(k: int) -> list[dict]:
        return [{"ts": datetime(2026, 3, 2, 9, k % 60, i, tzinfo=UTC), "host": "srv-1", "kind": "auth",
                 "event.code": "4624", "source.ip": f"10.0.0.{k % 7 + 1}", "source.domain": f"ws-{k % 7}",
                 "event.outcome": "success", "src.file": f"f{k}", "src.record": i, "src.digest": f"d{k}",
                 "src.format": "evtx"} for i in range(3)]

    with Case.open(str(tmp_path / "c")) as case:
        for k in range(COMPACT_MAX_SHARDS + 5):
            case.append_events(rows_to_table(rows(k)))
        want = case.rows('SELECT * EXCLUDE (eid) FROM events ORDER BY "src.digest", "src.record"')
        assert case.compact() == COMPACT_MAX_SHARDS + 5 and case.compact() == 0
        assert len(case.shard_ids()) == 1 and len(list((tmp_path / "c" / "events").iterdir())) == 1
        assert case.rows('SELECT * EXCLUDE (eid) FROM events ORDER BY "src.digest", "src.record"') == want
        resolve(case)
        assert case.rows("SELECT DISTINCT host FROM host_addr ORDER BY 1") == [(f"ws-{i}",) for i in range(7)]
    with Case.open(str(tmp_path / "c"), read_only=True) as case:
        assert case.count() == len(want) == 3 * (COMPACT_MAX_SHARDS + 5)
