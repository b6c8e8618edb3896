"""The columnar EVTX path against the per-record path: the same rows, stats and rejects.

Each file is read twice by the real reader, once in blocks through Arrow
(``EvtxReader.columnar``, for files of ``MIN_BLOCK`` records or more; here every file) and
once record by record, and the two event tables must be identical column by column (``raw``
and ``src.record`` included), with the same counts and rejects (reason, record number and
text, in order), and under ``--strict`` the same first error. The files are real recordings of
the shared corpus, chosen to hold every shape ``records_json`` writes that the columnar path
must read or leave: ``EventID`` as an object with ``Qualifiers`` and as text, a field that is a
number in one event and text in another in the same file, booleans, ``UserData``, records
without a channel.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from evtx import PyEvtxParser

from wormsign.ingest import evtx, evtx_columns, ingest_paths
from wormsign.ingest.base import Batch, IngestError, Sink, Source, rows_to_table
from wormsign.ingest.evtx import EvtxReader
from wormsign.ingest.windows import load_mapper
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
ATTACK = CORPUS / "evtx-attack-samples"
HAYABUSA = Path("/tmp/hayabusa-sample-evtx")

REAL = CORPUS / "real-multihost"

#: Files with those shapes (a few seconds in all).
SHAPES = [
    ATTACK / "Lateral Movement/LM_5145_Remote_FileCopy.evtx",  # Security, 869 records
    ATTACK / "Command and Control/bits_openvpn.evtx",  # Sysmon: Initiated a boolean; 1,537 records
    ATTACK / "Execution/rogue_msi_url_1040_1042.evtx",  # EventID objects, Data with #text
    ATTACK / "Command and Control/DE_RDP_Tunnel_5156.evtx",  # ProcessId number and text; UserData
    ATTACK / "Discovery/dicovery_4661_net_group_domain_admins_target.evtx",  # the same
    ATTACK / "Lateral Movement/ImpersonateUser-via local Pass The Hash Sysmon and Security.evtx",
    ATTACK / "Defense Evasion/DE_1102_security_log_cleared.evtx",  # UserData (1102)
    ATTACK / "Credential Access/etw_rpc_zerologon.evtx",  # no channel
    REAL / "ID7000,7009,7045-Payload deployed via service - Tchopper.evtx",  # EventID objects
    REAL / "ID4799-4624-Local admin group enumerated by SharpHound.evtx",  # EventID as text
    REAL / "ID5140-5145-Bloodhound-SharpHound enumeration via SMB.evtx",  # the same
]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The columnar path on files of any size (it leaves short ones to the per-record path)."""
    monkeypatch.setattr(evtx, "MIN_BLOCK", 0)
    monkeypatch.setattr(evtx, "MIN_FAST", 2)
    monkeypatch.setattr(evtx_columns, "MIN_FAST", 2)


#: Rows the last columnar read made in columns (the columnar path's own).
TAKEN = [0]


def _read(path: Path, columnar: bool, *, strict: bool = False) -> tuple[pa.Table | None, Any, list[str]]:
    src = Source(str(path), str(path), digest="0" * 64)
    tables: list[pa.Table] = []
    batch = Batch(tables.append, 5_000)
    rejects: list[str] = []
    sink = Sink(src, "evtx", tables.append, strict=strict, batch=batch,
                on_reject=lambda r: rejects.append(str(r)))
    reader = EvtxReader()
    reader.columnar = columnar
    TAKEN[0] = 0
    convert = evtx_columns.EvtxBlocks.convert

    def counted(self: evtx_columns.EvtxBlocks, texts: list[str], recnos: list[int | None]) -> Any:
        table, took = convert(self, texts, recnos)
        TAKEN[0] += table.num_rows
        return table, took

    evtx_columns.EvtxBlocks.convert = counted  # type: ignore[method-assign]
    try:
        reader.read(src, sink)
    finally:
        evtx_columns.EvtxBlocks.convert = convert  # type: ignore[method-assign]
    sink.flush()
    batch.drain()
    return (pa.concat_tables(tables) if tables else None), sink.stats, rejects


def assert_same(path: Path) -> tuple[int, int]:
    """Both paths give the same: (rows, rows the columnar path took)."""
    fast, fstats, frej = _read(path, True)
    taken = TAKEN[0]
    slow, sstats, srej = _read(path, False)
    assert TAKEN[0] == 0
    assert fstats == sstats, path
    assert frej == srej, path
    if slow is None:
        assert fast is None
        return 0, 0
    assert fast is not None and fast.schema == slow.schema
    assert fast.num_rows == slow.num_rows
    for name in slow.column_names:
        a, b = fast.column(name).to_pylist(), slow.column(name).to_pylist()
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        assert not diff, (path, name, [(a[i], b[i]) for i in diff[:3]])
    return slow.num_rows, taken


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip("the shared corpus is not beside the repository")


def test_shapes_same_rows() -> None:
    _need(ATTACK)
    _need(REAL)
    rows = taken = 0
    for path in SHAPES:
        r, t = assert_same(path)
        rows, taken = rows + r, taken + t
        if "SharpHound" in path.name or "Tchopper" in path.name or "rogue_msi" in path.name:
            assert t > 0.9 * r, path  # EventID objects and texts are read in columns too
    assert rows > 4_000
    assert taken > 0.9 * rows  # the columnar path reads nearly all of it


def test_ints_as_text_rewrites_what_its_pattern_matches() -> None:
    """``_ints_as_text`` picks the texts to rewrite by each key's own literal first (RE2 skips to
    it): the result must be the whole pattern's rewrite of every text, on corpus records
    (``ProcessId`` a number in Sysmon, hex text in Security) and on values at the pattern's edges."""
    _need(ATTACK)
    texts = [rec["data"] for path in SHAPES[:5] for rec in PyEvtxParser(str(path)).records_json()]
    texts += ['{"ProcessId":-12,"X":1}', '{"ProcessId":0}', '{"ParentProcessId":7}', '{"ProcessId":"7"}',
              '{"ProcessId":07}', '{"A":"\\"ProcessId\\":5"}', '{"LogonType":3,"Protocol":6}', '']
    raw = pa.array(texts, pa.string())
    for names in (frozenset({"ProcessId"}), frozenset({"ProcessId", "LogonType", "Protocol"})):
        want = pc.replace_substring_regex(raw, evtx_columns._ints_pattern(names), r'"\1":"\2"\3')
        got = evtx_columns._ints_as_text(raw, names)
        assert not want.equals(raw)
        assert got.equals(want), names


def test_one_block_of_many_files_same_rows() -> None:
    """Records of several channels in one block (a field that is a number in Sysmon and text in
    Security, EventID objects among numbers, booleans): the rows it takes are the rows the
    per-record path makes of them, and it takes nearly all."""
    _need(ATTACK)
    _need(REAL)
    recs = [rec for path in SHAPES for rec in PyEvtxParser(str(path), number_of_threads=1).records_json()]
    texts = [rec["data"] for rec in recs]
    ids = [rec["event_record_id"] for rec in recs]
    blocks = evtx_columns.EvtxBlocks(load_mapper())
    table, took = blocks.convert(texts, ids)
    assert "ProcessId" in blocks.mixed  # its integers were read as text
    assert sum(took) == table.num_rows > 0.95 * len(recs)
    rows = [EvtxReader._row(rec, rid, load_mapper())
            for rec, rid, ok in zip(recs, ids, took, strict=True) if ok]
    slow = rows_to_table(rows)  # type: ignore[arg-type]
    for name in slow.column_names:
        a, b = table.column(name).to_pylist(), slow.column(name).to_pylist()
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        assert not diff, (name, [(a[i], b[i]) for i in diff[:3]])


HEADER, CHUNK = 4096, 65536


def _damaged(evtx: bytes) -> dict[str, bytes]:
    """LM_5145 (869 records, 17 chunks) damaged as in test_bad_input.py: cut inside a chunk,
    bytes flipped in a chunk, a chunk cut out, a chunk's magic broken, a record id repeated."""
    flip = bytearray(evtx)
    for i in range(HEADER + CHUNK + 600, HEADER + CHUNK + 5000, 7):
        flip[i] ^= 0xFF
    magic = bytearray(evtx)
    magic[HEADER + CHUNK: HEADER + CHUNK + 8] = b"XXXXXXXX"
    dup = bytearray(evtx)
    first = HEADER + 512  # the first record of the first chunk
    _sig, size, rid = struct.unpack_from("<IIQ", dup, first)
    struct.pack_into("<Q", dup, first + size + 8, rid)  # the second record claims the first's id
    return {"half": evtx[: HEADER + CHUNK + 1000], "flip": bytes(flip),
            "cut": evtx[: HEADER + CHUNK] + evtx[HEADER + 2 * CHUNK:], "magic": bytes(magic),
            "dup": bytes(dup)}


def test_damaged_files_same_rows_rejects_and_strict_error(tmp_path: Path) -> None:
    """Corrupt chunks, lost records and a repeated record id: the same rows, the same rejects in
    the same order, and under --strict the same first error, whichever path reads the records."""
    _need(ATTACK)
    for name, data in _damaged(SHAPES[0].read_bytes()).items():
        path = tmp_path / f"{name}.evtx"
        path.write_bytes(data)
        rows, taken = assert_same(path)
        assert taken > 0.9 * rows > 0, name
        errs = []
        for columnar in (True, False):
            try:
                _read(path, columnar, strict=True)
                errs.append("")
            except IngestError as exc:
                errs.append(str(exc))
        assert errs[0] == errs[1] != "", name


def _case_tables(path: Path) -> dict[str, pa.Table]:
    with Case.open(str(path), read_only=True) as case:
        out = {"events": case.query(f"SELECT * FROM ({case.events_sql()}) ORDER BY 1")}
        out["sources"] = case.query("SELECT * EXCLUDE (ingested_at) FROM sources ORDER BY file")
        out["rejects"] = case.query("SELECT * FROM rejects ORDER BY file, record, reason, detail")
        out["record_ranges"] = case.query("SELECT * FROM record_ranges ORDER BY ALL")
    return out


def test_ingest_into_a_case_same_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the whole ingest (one worker, the files of SHAPES and a damaged one): the case's
    events (every column, ``eid`` included), sources, rejects and record ranges are the same
    whichever path reads the records."""
    _need(ATTACK)
    _need(REAL)
    damaged = tmp_path / "in" / "dup.evtx"
    damaged.parent.mkdir()
    damaged.write_bytes(_damaged(SHAPES[0].read_bytes())["dup"])
    paths = [str(p) for p in SHAPES] + [str(damaged)]
    got = []
    convert = evtx_columns.EvtxBlocks.convert
    taken = [0]

    def counted(self: evtx_columns.EvtxBlocks, texts: list[str], recnos: list[int | None]) -> Any:
        table, took = convert(self, texts, recnos)
        taken[0] += table.num_rows
        return table, took

    monkeypatch.setattr(evtx_columns.EvtxBlocks, "convert", counted)
    for columnar in (True, False):
        monkeypatch.setattr(EvtxReader, "columnar", columnar)
        case_path = tmp_path / f"case-{columnar}"
        with Case.open(str(case_path)) as case:
            report = ingest_paths(paths, case, workers=1)
        assert report.stats.rejected == 1  # the repeated record id
        got.append(_case_tables(case_path))
        if columnar:
            assert taken[0] > 0.9 * report.stats.stored, taken  # the columnar path did the work
    fast, slow = got
    assert fast["events"].num_rows > 4_000
    for name, table in slow.items():
        assert fast[name].schema == table.schema, name
        assert fast[name].num_rows == table.num_rows, name
        for col in table.column_names:
            assert fast[name].column(col).equals(table.column(col)), (name, col)


@pytest.mark.skipif(not os.environ.get("WORMSIGN_EVTX_FULL"), reason="the whole corpus: WORMSIGN_EVTX_FULL=1")
def test_whole_corpus_same_rows() -> None:
    """Every EVTX file of the attack samples, real-multihost and hayabusa-sample-evtx (if present)."""
    files = [f for d in (ATTACK, REAL, HAYABUSA) if d.exists()
             for f in sorted(d.rglob("*")) if f.is_file() and f.read_bytes()[:8] == b"ElfFile\x00"]
    rows = taken = 0
    for f in files:
        r, t = assert_same(f)
        rows, taken = rows + r, taken + t
    print(f"{len(files)} files, {rows} rows, {taken} by the columnar path")
    assert taken > 0.8 * rows
