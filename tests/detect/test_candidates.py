"""The hunt's one pass over events (h_ev) and the summaries of what hosts did (h_chan, h_img, h_runs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from huntrows import copy_exec, ev, ip, make_case

from wormsign import hunt
from wormsign.detect import access, activity, candidates, config, prep, working
from wormsign.detect.rules import LATE, load_rules
from wormsign.schema import FIELD_NAMES


def _read(sql: str) -> set[str]:
    return set(re.findall(r'"([a-z_]+(?:\.[a-z0-9_]+)+)"', sql)) & set(FIELD_NAMES)


def test_h_ev_carries_every_column_the_working_tables_and_rules_read() -> None:
    carried = set(candidates.columns())
    assert set(hunt.COLUMNS) == carried and carried <= set(FIELD_NAMES)
    working = [prep.DROPS, prep.EXECS, prep.SMB, prep.LOGONS, prep.AUTHFAIL, prep.LOCKOUTS, prep.IMPLICATED,
               access.CHAIN] + [r.sql for r in load_rules()] + [sql for _, _, sql, _ in activity.PARTS]
    for sql in working:
        assert _read(sql) <= carried, _read(sql) - carried


def test_one_pass_keeps_the_evidence_and_leaves_the_noise(tmp_path: Path) -> None:
    rows = copy_exec(0, "ws-01", "ws-02", "a.exe")  # a 5145 admin-share write, a 7045 install
    rows += [
        ev(1, "ws-02", "process", "1", **{"process.executable": "C:\\x\\a.exe",
           "process.parent.executable": "C:\\Windows\\System32\\services.exe"}),
        ev(2, "ws-03", "auth", "4625", **{"event.outcome": "failure", "user.name": "bob", "source.ip": ip("ws-04")}),
        ev(3, "ws-03", "auth", "4624", **{"winlog.logon.type": 3, "user.name": "bob", "source.ip": ip("ws-04")}),
        ev(4, "ws-03", "network", "3", **{"destination.port": 445, "source.ip": ip("ws-03"),
           "destination.ip": ip("ws-05")}),
        # noise: a local logon, a web connection, a user's program, a DNS query
        ev(5, "ws-03", "auth", "4624", **{"winlog.logon.type": 2, "user.name": "bob"}),
        ev(6, "ws-03", "network", "3", **{"destination.port": 443, "destination.ip": "203.0.113.9"}),
        ev(7, "ws-03", "process", "1", **{"process.executable": "C:\\x\\notepad.exe",
           "process.parent.executable": "C:\\Windows\\explorer.exe"}),
        ev(8, "ws-03", "dns", "22", **{"dns.question.name": "example.org"}),
    ]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, config.load())
        got = case.rows('SELECT kind, "event.code", "winlog.logon.type", "destination.port" FROM h_ev ORDER BY ts')
        # a branch carries its own columns only: a process row has no share or logon fields
        proc = case.rows('SELECT "process.parent.executable", "share.name", "winlog.logon.type" FROM h_ev '
                         "WHERE kind = 'process'")
    assert got == [("share", "5145", None, None), ("service", "7045", None, None), ("process", "1", None, None),
                   ("auth", "4625", None, None), ("auth", "4624", 3, None), ("network", "3", None, 445)]
    assert proc == [("C:\\Windows\\System32\\services.exe", None, None)]


def test_activity_is_summarised_for_implicated_hosts_only(tmp_path: Path) -> None:
    """Without stored summaries, a hunt summarises the implicated hosts' activity only: the
    channels of their outside connections, their images' hashes and addresses, and the starts
    of executables a program wrote there."""
    rows = [ev(i * 10 + k, h, "network", "3", **{"destination.ip": "203.0.113.9", "destination.port": 443,
                                                  "process.executable": "C:\\u\\p.exe"})
            for i, h in enumerate(["ws-01", "ws-02", "ws-03"]) for k in range(3)]
    # ws-03: a program (not the kernel) wrote an executable, as a loader does, and it started
    rows.append(ev(9, "ws-03", "file", "11", **{"process.executable": "C:\\u\\ldr.exe", "file.path": "C:\\u\\p.exe"}))
    rows.append(ev(10, "ws-03", "process", "1", **{"process.executable": "C:\\u\\p.exe",
                                                   "process.hash.sha256": "ab" * 32}))
    rows.append(ev(11, "ws-02", "process", "1", **{"process.executable": "C:\\u\\p.exe",
                                                   "process.hash.sha256": "cd" * 32}))
    cfg = config.load()
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, cfg)
        assert prep.implicate(case, cfg, {"ws-01"}) == 2
        assert case.rows("SELECT src, chan, n FROM h_chan ORDER BY src") == [
            ("ws-01", "c:\\u\\p.exe", 3), ("ws-03", "c:\\u\\p.exe", 3)]
        assert case.rows("SELECT host, img, sha, dests FROM h_img ORDER BY host") == [
            ("ws-01", "c:\\u\\p.exe", None, ["203.0.113.9"]),
            ("ws-03", "c:\\u\\p.exe", "ab" * 32, ["203.0.113.9"])]
        assert case.rows("SELECT host, img, sha FROM h_runs") == [("ws-03", "c:\\u\\p.exe", "ab" * 32)]
    assert set(LATE) == {"beacon", "loader-payload"}


def _outcome(case: object) -> tuple[list[object], list[object]]:
    res = hunt.hunt(case, sigma_rules=None)  # type: ignore[arg-type]
    strip = {"generated_at"}
    doc = {k: v for k, v in res.document.items() if k not in strip}
    return [doc], sorted((a["rule"], a["ts"], a["host"], a["summary"], tuple(a["evidence"])) for a in res.alerts)


def test_stored_index_gives_the_hunt_of_a_pass_over_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver stores the hunt's pass (hunt_index); a hunt that reads it finds exactly
    what a hunt that scans events finds, and the index is not used once it is stale."""
    from wormsign import demo
    from wormsign.ingest import ingest_paths
    from wormsign.resolve import ensure_resolved
    from wormsign.store import Case

    cfg = config.load()
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        ingest_paths([str(demo.logs())], case, workers=1)
        ensure_resolved(case)
        assert candidates.index_is_fresh(case, cfg)
        stored = case.rows(f"SELECT count(*) FROM {candidates.INDEX}")[0][0]
        for m in prep.MACROS:
            case.engine.execute(m)
        assert candidates.build(case, cfg) == stored > 1000
        assert case.rows("SELECT table_type FROM information_schema.tables WHERE table_name = 'h_ev'") == [("VIEW",)]
        with_index = _outcome(case)
        # Another remote_parents gives another pass: the index is not that pass.
        other = {**cfg, "remote_parents": {**cfg["remote_parents"], "extra.exe": "service"}}
        assert not candidates.index_is_fresh(case, other)
        case.set_meta(candidates.INDEX, {"spec": "stale"})  # force the pass over events
        assert not candidates.index_is_fresh(case, cfg)
        assert candidates.build(case, cfg) == stored
        assert case.rows("SELECT table_type FROM information_schema.tables WHERE table_name = 'h_ev'") != [("VIEW",)]
        assert ensure_resolved(case) is not None  # a stale index is rebuilt by the next resolution
        assert candidates.index_is_fresh(case, cfg)
        case.set_meta(candidates.INDEX, {"spec": "stale"})
        monkeypatch.setattr("wormsign.resolve.ensure_resolved", lambda c: None)  # the hunt must scan events
        without_index = _outcome(case)
    assert with_index == without_index
    assert any(r[0] == "admin-share-copy" for r in with_index[1])


def test_index_goes_stale_when_events_are_added(tmp_path: Path) -> None:
    from wormsign.ingest import ingest_paths
    from wormsign.resolve import resolve
    from wormsign.store import Case

    cfg = config.load()
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        ingest_paths([str(Path(__file__).parents[1] / "data" / "zeek" / "conn.log")], case, workers=1)
        resolve(case)
        assert candidates.index_is_fresh(case, cfg)
        ingest_paths([str(Path(__file__).parents[1] / "data" / "zeek" / "smb_files.log")], case, workers=1)
        assert not candidates.index_is_fresh(case, cfg)
        resolve(case)
        assert candidates.index_is_fresh(case, cfg)
        n = case.rows(f"SELECT count(*) FROM {candidates.INDEX} WHERE kind = 'smb_file'")[0][0]
        assert n == case.rows("SELECT count(*) FROM events WHERE kind = 'smb_file' AND "
                              "lower(coalesce(\"event.action\", '')) LIKE '%write%'")[0][0] > 0


def test_the_resolver_stores_every_table_the_hunt_reads_and_each_is_needed(tmp_path: Path) -> None:
    """After a resolution the stored working tables and activity summaries are there, hold the
    rows a hunt would compute, and the index is stale (so rebuilt) once one of them is gone."""
    from wormsign.ingest import ingest_paths
    from wormsign.resolve import ensure_resolved
    from wormsign.store import Case

    cfg = config.load()
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        ingest_paths([str(Path(__file__).parents[1] / "data" / "zeek")], case, workers=1)
        ensure_resolved(case)
        stored = (*prep.stored_tables(), *activity.tables())
        assert len(stored) == 15 and candidates.index_is_fresh(case, cfg)
        counts = {t: case.rows(f"SELECT count(*) FROM {t}")[0][0] for t in stored}
        # the Zeek fixtures' SMB sessions and RPC calls
        assert counts["hunt_smb"] > 0 and counts["hunt_execs"] > 0
        # what a hunt computes from the events itself is what was stored
        for m in prep.MACROS:
            case.engine.execute(m)
        case.set_meta(candidates.INDEX, {"spec": "stale"})
        working.prepare(case, cfg)
        for name, table, _, _ in prep.STORED:
            cols = "* EXCLUDE (xid)" if name == "h_execs" else "*"  # xid: an identity, in no order
            a, b = f"SELECT {cols} FROM {name}", f"SELECT {cols} FROM {table}"
            both = f"(({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))"
            assert case.rows(f"SELECT count(*) FROM {both}") == [(0,)]
        assert ensure_resolved(case) is not None and candidates.index_is_fresh(case, cfg)
        case.engine.execute("DROP TABLE hunt_chan")
        assert not candidates.index_is_fresh(case, cfg)
        assert ensure_resolved(case) is not None and candidates.index_is_fresh(case, cfg)


def test_the_hunt_is_the_same_on_one_thread_and_on_many(tmp_path: Path) -> None:
    """DuckDB's parallel plans read rows in any order: ties are broken by the evidence, so the
    alerts (ids included) and incidents do not depend on the number of threads."""
    import shutil

    from wormsign import demo
    from wormsign.ingest import ingest_paths
    from wormsign.resolve import ensure_resolved
    from wormsign.store import Case

    first = tmp_path / "a.duckdb"
    with Case.open(str(first)) as case:
        ingest_paths([str(demo.logs())], case, workers=1)
        ensure_resolved(case)
    shutil.copytree(first, tmp_path / "b.duckdb")  # a case is a directory
    got = []
    for name, threads in (("a", 1), ("b", 4)):
        with Case.open(str(tmp_path / f"{name}.duckdb")) as case:
            case.engine.execute(f"SET threads = {threads}")
            res = hunt.hunt(case, sigma_rules=[])
            doc = {k: v for k, v in res.document.items() if k not in ("generated_at", "case")}
            got.append((doc, res.alerts))
    assert got[0] == got[1]
    assert len(got[0][1]) > 100


def test_a_sigma_alert_on_a_service_install_names_the_caller(tmp_path: Path) -> None:
    """A 7045 names no caller, so a Sigma alert on it would name the host itself: the hunt
    takes the host that logged on over the network just before, as remote-service does."""
    from huntrows import ev, ip, make_case

    def install(minutes: float, host: str) -> dict:
        return ev(minutes, host, "service", "7045", **{"event.dataset": "System", "service.name": "PSEXESVC",
                                                       "service.image": "C:\\Windows\\PSEXESVC.exe"})

    rows = [ev(-60, h, "generic", "0") for h in ("ws-01", "ws-02", "ws-03")]
    rows += [ev(0, "ws-02", "auth", "4624", **{"winlog.logon.type": 3, "user.name": "adm", "source.ip": ip("ws-01")}),
             install(0.5, "ws-02"), install(90, "ws-03")]  # ws-03: no logon before it
    with make_case(tmp_path / "c.duckdb", rows) as case:
        res = hunt.hunt(case, sigma_rules=[])
    got = sorted((a["host"], a["source_host"]) for a in res.alerts if a["title"] == "PsExec service installed")
    assert got == [("ws-02", "ws-01"), ("ws-03", "ws-03")]


def test_the_index_is_stale_when_a_macro_it_stores_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load()
    before = candidates.spec(cfg)
    changed = tuple(m.replace("(?:exe|", "(?:exe|pif|") if "ws_names" in m else m for m in prep.MACROS)
    assert changed != prep.MACROS
    monkeypatch.setattr(prep, "MACROS", changed)
    assert candidates.spec(cfg) != before
