"""Corrupt and hostile inputs, built here from real files: clear rejects, exact counts, never a crash."""

from __future__ import annotations

import gzip
import json
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wormsign import schema
from wormsign.ingest import IngestError, ingest_paths
from wormsign.store import Case

Parse = Callable[..., Any]
LM_5145 = ("Lateral Movement", "LM_5145_Remote_FileCopy.evtx")  # 869 records in 17 chunks of 64 KiB
RECORDS = 869
HEADER, CHUNK = 4096, 65536


@pytest.fixture
def evtx(corpus: Path) -> bytes:
    return corpus.joinpath(*LM_5145).read_bytes()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _consistent(stats: Any, rows: list[Any]) -> None:
    assert stats.read == stats.stored + stats.rejected
    assert stats.stored == len(rows)
    assert sum(stats.reasons.values()) == stats.rejected


# -- EVTX -----------------------------------------------------------------------------


def test_truncated_evtx_counts_the_records_of_the_cut_chunk(
    parse: Parse, evtx: bytes, tmp_path: Path
) -> None:
    path = _write(tmp_path, "half.evtx", evtx[: HEADER + CHUNK + 1000])
    rows, stats, rejects, reader = parse(path)
    _consistent(stats, rows)
    assert reader == "evtx"
    assert stats.stored == 98  # the whole first chunk
    assert stats.reasons["lost-records"] == 99  # the second chunk's header lists 99 more
    assert any("ends inside a chunk" in r.detail for r in rejects)
    assert all(r.file == str(path) for r in rejects)


def test_flipped_bytes_in_a_chunk_cost_that_chunk_only(parse: Parse, evtx: bytes, tmp_path: Path) -> None:
    data = bytearray(evtx)
    for i in range(HEADER + CHUNK + 600, HEADER + CHUNK + 5000, 7):
        data[i] ^= 0xFF
    rows, stats, rejects, _ = parse(_write(tmp_path, "flip.evtx", bytes(data)))
    _consistent(stats, rows)
    assert stats.read == RECORDS
    assert (stats.stored, stats.rejected) == (770, 99)
    assert rejects[0].reason == "corrupt-chunk" and rejects[0].record == 99
    assert "record IDs 99..197" in rejects[0].detail


def test_a_chunk_cut_out_is_counted_from_the_record_number_gap(
    parse: Parse, evtx: bytes, tmp_path: Path
) -> None:
    cut = evtx[: HEADER + CHUNK] + evtx[HEADER + 2 * CHUNK :]
    rows, stats, rejects, _ = parse(_write(tmp_path, "cut.evtx", cut))
    _consistent(stats, rows)
    assert (stats.read, stats.stored, stats.rejected) == (RECORDS, 770, 99)
    assert [r.reason for r in rejects] == ["lost-records"]
    bad_magic = bytearray(evtx)
    bad_magic[HEADER + CHUNK : HEADER + CHUNK + 8] = b"XXXXXXXX"
    rows, stats, rejects, _ = parse(_write(tmp_path, "magic.evtx", bytes(bad_magic)))
    _consistent(stats, rows)
    assert (stats.read, stats.stored, stats.rejected) == (RECORDS, 770, 99)
    assert "chunk header magic" in rejects[0].detail


def test_binary_junk(parse: Parse, tmp_path: Path) -> None:
    rnd = random.Random(7)
    junk = bytes(rnd.randrange(256) for _ in range(200_000))
    rows, stats, rejects, reader = parse(_write(tmp_path, "junk.evtx", b"ElfFile\x00" + junk))
    _consistent(stats, rows)
    assert reader == "evtx" and stats.stored == 0 and stats.rejected >= 1
    assert rows == []


def test_unknown_content_is_rejected_by_the_pipeline(tmp_path: Path, case_path: Path) -> None:
    rnd = random.Random(8)
    _write(tmp_path / "", "noise.bin", bytes(rnd.randrange(256) for _ in range(5000)))
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
        assert report.unknown == [str(tmp_path / "noise.bin")]
        assert report.stats.reasons == {"unknown-format": 1}
        with pytest.raises(IngestError, match="noise.bin"):
            ingest_paths(
                [str(tmp_path / "noise.bin")], Case.open(str(tmp_path / "other.duckdb")), strict=True
            )


# -- JSON lines -------------------------------------------------------------------------


def test_broken_json_lines_and_bad_utf8(parse: Parse, data: Path, tmp_path: Path) -> None:
    good = (data / "winlogbeat.ndjson").read_bytes().splitlines()
    lines = [
        good[0],
        b'{"winlog": {"channel": "Security", "event_id": 46',
        good[1],
        b"\xff\xfe{not utf-8}",
        b"",
        b"[1, 2",
        good[2],
        b'"just a string"',
    ]
    path = _write(tmp_path, "broken.ndjson", b"\n".join(lines) + b"\n")
    rows, stats, rejects, reader = parse(path)
    _consistent(stats, rows)
    assert reader == "ecs"
    assert (stats.stored, stats.rejected) == (3, 4)
    assert [(r.record, r.reason) for r in rejects] == [
        (2, "bad-json"),
        (4, "bad-encoding"),
        (6, "bad-json"),
        (8, "bad-record"),
    ]
    assert all(r.file == str(path) and f"line {r.record}" in r.detail for r in rejects[:3])
    assert [r["src.record"] for r in rows] == [1, 3, 7]
    with pytest.raises(IngestError, match=r"broken.ndjson record 2: bad-json"):
        parse(path, strict=True)


def test_huge_field_is_cut_and_huge_record_rejected(parse: Parse, data: Path, tmp_path: Path) -> None:
    line = (data / "ecs_native.ndjson").read_bytes().splitlines()[0]
    big_cmd = line.replace(b'"command_line":"', b'"command_line":"' + b"A" * 1_000_000, 1)
    ten_mb = line.replace(b'"command_line":"', b'"command_line":"' + b"B" * 10_000_000, 1)
    path = _write(tmp_path, "huge.ndjson", b"\n".join([big_cmd, ten_mb, line]) + b"\n")
    rows, stats, rejects, _ = parse(path)
    _consistent(stats, rows)
    assert (stats.stored, stats.rejected) == (2, 1)
    assert (rejects[0].record, rejects[0].reason) == (2, "record-too-large")
    assert len(rows[0]["process.command_line"]) == schema.MAX_FIELD_CHARS
    # The original record is shortened, not cut: it stays JSON that rules can read fields from.
    assert len(rows[0]["raw"]) <= schema.MAX_RAW_CHARS
    kept = json.loads(rows[0]["raw"])
    assert kept["process"]["name"] == "invoice.exe"
    assert kept["process"]["command_line"].startswith("AAAA")
    assert stats.truncated == 2
    assert rows[1]["src.record"] == 3 and rows[1]["process.name"] == "invoice.exe"


# -- containers -------------------------------------------------------------------------


def test_gzip_and_zip_are_read_in_place(evtx: bytes, data: Path, tmp_path: Path, case_path: Path) -> None:
    wlb = (data / "winlogbeat.ndjson").read_bytes()
    _write(tmp_path, "lm.evtx.gz", gzip.compress(evtx))
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as zf:
        zf.writestr("logs/wlb.ndjson", wlb)
        zf.writestr("logs/otrf.json.gz", gzip.compress((data / "otrf.ndjson").read_bytes()))
        zf.writestr("auth.txt", (data / "auth.txt").read_bytes())
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
        assert report.ok and report.files == 4
        got = dict(case.rows('SELECT "src.file", count(*) FROM events GROUP BY 1'))
    assert got == {
        str(tmp_path / "lm.evtx.gz"): RECORDS,
        f"{tmp_path / 'bundle.zip'}!logs/wlb.ndjson": 4,
        f"{tmp_path / 'bundle.zip'}!logs/otrf.json.gz": 2,
        f"{tmp_path / 'bundle.zip'}!auth.txt": 5,
    }


def test_truncated_gzip_keeps_what_it_can(parse: Parse, evtx: bytes, data: Path, tmp_path: Path) -> None:
    gz = gzip.compress(evtx)
    rows, stats, rejects, reader = parse(_write(tmp_path, "t.evtx.gz", gz[: len(gz) // 2]))
    _consistent(stats, rows)
    assert reader == "evtx" and 0 < stats.stored < RECORDS
    assert rejects[0].reason == "truncated-archive"
    assert stats.reasons["lost-records"] > 0  # the chunk the stream broke in
    lines = b"".join(
        f'{{"@timestamp":"2026-01-01T00:00:{i % 60:02d}Z","host":{{"hostname":"ws-{i}"}},'
        f'"event":{{"category":"process","type":"start"}},"process":{{"pid":{i}}}}}\n'.encode()
        for i in range(5_000)
    )
    gz = gzip.compress(lines)
    rows, stats, rejects, reader = parse(_write(tmp_path, "t.ndjson.gz", gz[: len(gz) // 2]))
    _consistent(stats, rows)
    assert reader == "ecs" and 500 < stats.stored < 5_000
    assert [r.reason for r in rejects] == ["truncated-archive"]
    assert [r["process.pid"] for r in rows] == list(range(len(rows)))


def test_empty_files_hold_no_record_and_are_not_rejected(tmp_path: Path, case_path: Path) -> None:
    _write(tmp_path, "empty.log", b"")
    _write(tmp_path, "blank.ndjson", b"\n \n")
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
        assert case.count() == 0
    assert report.files == 2 and report.ok
    assert report.stats.read == 0 and report.stats.rejected == 0


def test_integers_beyond_int64_are_dropped_not_fatal(tmp_path: Path, case_path: Path) -> None:
    line = (
        b'{"@timestamp":"2026-03-02T09:00:00Z","winlog":{"channel":"Security","event_id":4624,'
        b'"computer_name":"WS-1","event_data":{"LogonType":"99999999999999999999999",'
        b'"IpPort":"\xc2\xb9\xc2\xb2","TargetUserName":"bob"}}}\n'
    )
    _write(tmp_path, "big.ndjson", line)
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
        rows = case.rows('SELECT "winlog.logon.type", "source.port", "user.name" FROM events')
    assert report.stats.stored == 1 and report.stats.rejected == 0
    assert rows == [(None, None, "bob")]


def test_fifo_is_named_not_read_and_corrupt_deflate_is_counted(tmp_path: Path, case_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    data = bytearray(gzip.compress("".join(f"line {i * 7919 % 10007}\n" for i in range(5000)).encode()))
    for i in range(40, 60):
        data[i] ^= 0xFF
    _write(tmp_path, "damaged.log.gz", bytes(data))
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
    reasons = {r.file.rsplit("/", 1)[-1]: r.reason for r in report.rejects}
    assert reasons["pipe"] == "unreadable"
    assert "damaged.log.gz" in reasons  # counted, not a crash
    assert report.stats.read == report.stats.stored + report.stats.rejected


def test_a_huge_line_is_skipped_and_the_next_lines_are_read(tmp_path: Path, case_path: Path) -> None:
    head = "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.resp_h\n"
    with open(tmp_path / "conn.log", "w") as fh:
        fh.write(head + "1709370000.1\tC1\t10.0.0.1\t10.0.0.2\n")
        fh.write("9" * (schema.MAX_RECORD_BYTES + 10) + "\n")
        fh.write("1709370000.2\tC2\t10.0.0.1\t10.0.0.2\n")
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
        ids = [r[0] for r in case.rows('SELECT "event.id" FROM events ORDER BY "src.record"')]
    assert ids == ["C1", "C2"]
    assert report.stats.reasons["record-too-large"] == 1 and report.stats.rejected == 1


def test_broken_first_json_line_is_rejected_and_array_elements_get_their_own_numbers(
    tmp_path: Path, case_path: Path
) -> None:
    ev = ('{"@timestamp":"2026-03-02T09:00:00Z","winlog":{"channel":"Security","event_id":4624,'
          '"computer_name":"WS-1","event_data":{"TargetUserName":"u%d"}}}')
    text = '{"@timestamp": "2026-03-02T09:00:00Z", "winlog": {\n' + ev % 1 + "\n"
    text += "[" + ev % 2 + "," + ev % 3 + "]\n" + "[" + ev % 4 + "]\n"
    _write(tmp_path, "mixed.ndjson", text.encode())
    with Case.open(str(case_path)) as case:
        report = ingest_paths([str(tmp_path)], case, workers=1)
        recs = case.rows('SELECT "src.record", "user.name" FROM events ORDER BY 1')
    assert report.stats.read == 5 and report.stats.rejected == 1 and report.stats.reasons["bad-json"] == 1
    assert recs == [(2, "u1"), (3_000_001, "u2"), (3_000_002, "u3"), (4_000_001, "u4")]


def test_a_repeated_record_id_is_counted_not_stored_twice(parse: Parse, evtx: bytes, tmp_path: Path) -> None:
    import struct

    data = bytearray(evtx)
    first = HEADER + 512  # the first record of the first chunk
    _sig, size, rid = struct.unpack_from("<IIQ", data, first)
    struct.pack_into("<Q", data, first + size + 8, rid)  # the second record claims the first's id
    rows, stats, rejects, _ = parse(_write(tmp_path, "dup.evtx", bytes(data)))
    _consistent(stats, rows)
    assert (stats.stored, stats.rejected) == (RECORDS - 1, 1)
    assert rejects[0].reason == "duplicate-record-id"
    recs = [r["src.record"] for r in rows]
    assert len(recs) == len(set(recs))
