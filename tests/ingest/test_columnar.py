"""The columnar JSON-lines path against the per-record path: the same rows, stats and rejects.

Each file is read twice by the real reader, once with the columnar path (``JsonLinesReader.columnar``,
the default) and once record by record, and the two event tables must be identical column by
column (``raw`` and ``src.record`` included), with the same counts, truncations and rejects
(reason, record number and text, in order), and under ``--strict`` the same first error.
"""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormsign.ingest import jsonl
from wormsign.ingest.base import Batch, IngestError, Sink, Source
from wormsign.ingest.jsonl import JsonLinesReader
from wormsign.simulate import simulate

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The columnar path on files of any size (it leaves short ones to the per-record path)."""
    monkeypatch.setattr(jsonl, "_MIN_BLOCK", jsonl._MIN_FAST)


#: Rows the last columnar read handed over as tables (the columnar path's own).
TAKEN = [0]


def _read(path: Path, columnar: bool, *, strict: bool = False) -> tuple[pa.Table | None, Any, list[str]]:
    src = Source(str(path), str(path), container="gzip" if path.suffix == ".gz" else "file", digest="0" * 64)
    tables: list[pa.Table] = []
    batch = Batch(tables.append, 5_000)
    rejects: list[str] = []
    sink = Sink(src, "ecs", tables.append, strict=strict, batch=batch,
                on_reject=lambda r: rejects.append(str(r)))
    reader = JsonLinesReader()
    reader.columnar = columnar
    add_table = sink.add_table
    TAKEN[0] = 0

    def counted(t: pa.Table) -> None:
        TAKEN[0] += t.num_rows
        add_table(t)

    sink.add_table = counted  # type: ignore[method-assign]
    reader.read(src, sink)
    sink.flush()
    batch.drain()
    return (pa.concat_tables(tables) if tables else None), sink.stats, rejects


def assert_same(path: Path, columnar_share: float = 0.0) -> pa.Table | None:
    """Both paths give the same; at least ``columnar_share`` of the rows came by the columnar one."""
    fast, fstats, frej = _read(path, True)
    taken = TAKEN[0]
    assert taken >= columnar_share * fstats.stored
    slow, sstats, srej = _read(path, False)
    assert fstats == sstats
    assert frej == srej
    if slow is None:
        assert fast is None
        return None
    assert fast is not None and fast.schema == slow.schema
    assert fast.num_rows == slow.num_rows
    for name in slow.column_names:
        a, b = fast.column(name).to_pylist(), slow.column(name).to_pylist()
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        assert not diff, (name, [(a[i], b[i]) for i in diff[:3]])
    TAKEN[0] = taken
    return slow


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("sim")
    simulate("emotet", 20, 1, 3, out, benign_volume=2)
    files = sorted(out.glob("logs/winlogbeat/*.ndjson.gz"))
    assert files
    return files


def test_simulated_winlogbeat_same_rows(simulated: list[Path]) -> None:
    rows = 0
    for f in simulated:
        t = assert_same(f, 0.99)
        rows += 0 if t is None else t.num_rows
    assert rows > 5_000


@pytest.mark.parametrize("name", ["winlogbeat.ndjson", "elastic_agent.ndjson", "otrf.ndjson",
                                  "ecs_native.ndjson"])
def test_fixtures_same_rows(name: str) -> None:
    assert_same(DATA / name)


def test_otrf_lateral_corpus_same_rows() -> None:
    files = sorted(p for p in (CORPUS / "otrf-lateral").glob("*.json*"))
    if not files:
        pytest.skip("the shared corpus is not beside the repository")
    stored = columnar = 0
    for f in files:
        t = assert_same(f)
        stored += 0 if t is None else t.num_rows
        columnar += TAKEN[0]
    assert stored > 280_000
    assert columnar > 0.99 * stored  # the OTRF layout is read in columns too


def _odd_lines(good: list[bytes], rnd: random.Random) -> list[bytes]:
    """Good Winlogbeat lines with odd ones among them: each kind of line the columnar path
    must leave to the per-record path, or must read exactly as it does."""
    doc = orjson.loads(good[0])
    odd: list[bytes] = [
        b"{not json}",
        b"null",
        b"",
        b"   \t",
        b"[" + good[1] + b"," + good[2] + b"]",  # an array on one line: its elements are records
        good[3] + b" " + good[4],  # two documents on one line
        good[5].replace(b'"winlog":{', b'"winlog":{"user_data":{"Param1":"x"},', 1),
        b'{"_source":' + good[6] + b"}",
        b'{"hits":{"hits":[' + good[7] + b"]}}",
        good[8].replace(b'"@timestamp":"', b'"x":NaN,"@timestamp":"', 1),
        good[9].replace(b'"@timestamp":"', b'"x":-Infinity,"@timestamp":"', 1),
        good[10].replace(b'"event_data":{', b'"event_data":{"IpPort":4444,', 1),  # a number where text is
        good[11][:-1] + b',"winlog":{"channel":"Security"}}',  # a key given twice
        good[12].replace(b'"@timestamp":"', b'"ts":"\xff\xfe","@timestamp":"', 1),  # not UTF-8
        orjson.dumps({**doc, "@timestamp": "2026-02-30T10:00:00Z"}),  # no such day
        orjson.dumps({**doc, "@timestamp": "2026-03-02T10:00:00.1234567+01:00"}),
        orjson.dumps({**doc, "@timestamp": 1772440447}),
        orjson.dumps({k: v for k, v in doc.items() if k != "@timestamp"}),  # no timestamp
        orjson.dumps({**doc, "host": {"name": ""}, "winlog": {**doc["winlog"], "computer_name": "-"}}),
        orjson.dumps({**doc, "host": {**doc.get("host", {}), "ip": ["fe80::1", "10.9.9.9", "x"]}}),
        orjson.dumps({**doc, "host": {**doc.get("host", {}), "ip": []}}),
        orjson.dumps({**doc, "winlog": {**doc["winlog"], "event_id": "0x1210", "channel": "SECURITY"}}),
        orjson.dumps({**doc, "winlog": {**doc["winlog"], "event_data": {
            "TargetUserName": "İSTANBUL\u0130", "IpAddress": "::ffff:10.1.2.3", "LogonType": "0003",
            "IpPort": "-"}}}),
        b'{"winlog.channel":"Security","winlog.event_id":4624,"@timestamp":"2026-03-02T10:00:00Z",'
        b'"host.name":"ws-1"}',
        b'{"EventID":4624,"Channel":"Security","Hostname":"ws-2","@timestamp":"2026-03-02T10:00:00Z"}',
        b"[" * 1100 + b"]" * 1100,
        good[13].rstrip(b"}") + b',"deep":' + b"[" * 1030 + b"]" * 1030 + b"}",
    ]
    lines = list(good)
    for line in odd:
        lines.insert(rnd.randrange(1, len(lines)), line)
    return lines


def test_odd_lines_same_rows_and_rejects(simulated: list[Path], tmp_path: Path) -> None:
    with gzip.open(simulated[0]) as fh:
        good = [line.rstrip(b"\n") for line in fh][:3000]
    rnd = random.Random(7)
    for i in range(3):
        lines = _odd_lines(good, rnd)
        path = tmp_path / f"odd-{i}.ndjson"
        path.write_bytes(b"\n".join(lines) + (b"\n" if i != 1 else b""))
        assert_same(path, 0.7)
        crlf = tmp_path / f"odd-{i}-crlf.ndjson"
        crlf.write_bytes(b"\r\n".join(lines) + b"\r\n")
        assert_same(crlf, 0.7)


def test_strict_stops_at_the_same_record(simulated: list[Path], tmp_path: Path) -> None:
    with gzip.open(simulated[0]) as fh:
        good = [line.rstrip(b"\n") for line in fh][:3000]
    lines = list(good)
    lines.insert(2500, b'{"broken": ')
    lines.insert(1700, orjson.dumps({k: v for k, v in orjson.loads(good[0]).items() if k != "@timestamp"}))
    path = tmp_path / "strict.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    errors = []
    for columnar in (True, False):
        with pytest.raises(IngestError) as exc:
            _read(path, columnar, strict=True)
        errors.append(str(exc.value))
    assert errors[0] == errors[1]
    assert "record 1701" in errors[0] and "no-timestamp" in errors[0]


def test_long_values_truncated_alike(simulated: list[Path], tmp_path: Path) -> None:
    with gzip.open(simulated[0]) as fh:
        docs = [orjson.loads(line) for line in fh][:500]
    for d in docs[::50]:
        d["winlog"]["event_data"]["CommandLine"] = "A" * 40_000
        d["winlog"]["event_data"]["TargetUserName"] = "é" * 33_000
        d["pad"] = "x" * 70_000
    path = tmp_path / "long.ndjson"
    path.write_bytes(b"\n".join(map(orjson.dumps, docs)) + b"\n")
    fast, fstats, _ = _read(path, True)
    assert fstats.truncated > 0
    assert_same(path, 0.9)


# -- random damage, both ways ---------------------------------------------------------------

_VALUES = [b"1", b"-0.5", b"true", b"null", b"NaN", b"-Infinity", b"{}", b'{"a":[1]}', b"[]", b'["x",2]',
           b'""', b'"-"', b'"\\u0000"', b'"\\ud800"', b'"\xff"', b'"0x1f"', b'"  12 "',
           b'"2026-02-29T10:00:00Z"',
           b'"::ffff:10.0.0.1"', b'"\xc4\xb0"', b'"a\\"b"', b"1e400", b"123456789012345678901"]


def _damage(line: bytes, kind: int, at: int, value: int) -> bytes:
    """One edit of one line: a byte flipped, cut, doubled or inserted, or a value replaced."""
    if not line:
        return line
    i = at % len(line)
    if kind == 0:
        return line[:i] + bytes([line[i] ^ (1 << (value % 8))]) + line[i + 1:]
    if kind == 1:
        return line[:i]
    if kind == 2:
        return line[:i] + line[i:i + 1] * 2 + line[i + 1:]
    if kind == 3:
        return line[:i] + b'"k":' + _VALUES[value % len(_VALUES)] + b"," + line[i:]
    # a value after a key replaced (the n-th ':' of the line)
    cuts = [j for j, c in enumerate(line) if c == ord(":")]
    if not cuts:
        return line
    j = cuts[at % len(cuts)] + 1
    end = j
    depth = 0
    in_str = False
    while end < len(line):  # the end of the value: a comma or closing bracket at depth 0
        c = line[end]
        if in_str:
            if c == ord("\\"):
                end += 1
            elif c == ord('"'):
                in_str = False
        elif c == ord('"'):
            in_str = True
        elif c in b"[{":
            depth += 1
        elif c in b"]}":
            if depth == 0:
                break
            depth -= 1
        elif c == ord(",") and depth == 0:
            break
        end += 1
    return line[:j] + _VALUES[value % len(_VALUES)] + line[end:]


edits = st.lists(st.tuples(st.integers(0, 199), st.integers(0, 4), st.integers(0, 1 << 16),
                           st.integers(0, 255)), min_size=1, max_size=6)


@settings(max_examples=int(os.environ.get("WORMSIGN_COLUMNAR_EXAMPLES", "30")), deadline=None,
          derandomize="WORMSIGN_COLUMNAR_EXAMPLES" not in os.environ, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=edits, layout=st.sampled_from(["winlog", "otrf"]))
def test_damaged_lines_same_both_ways(simulated: list[Path], tmp_path: Path,
                                      edits: list[tuple[int, int, int, int]], layout: str) -> None:
    """Random damage to lines among good ones (Winlogbeat or OTRF): the same rows, stats and
    rejects both ways."""
    lines = list(_seed_lines(simulated, layout))
    for where, kind, at, value in edits:
        lines[where % len(lines)] = _damage(lines[where % len(lines)], kind, at, value)
    path = tmp_path / "damaged.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert_same(path)


_SEEDS: dict[str, tuple[bytes, ...]] = {}


def _seed_lines(simulated: list[Path], layout: str) -> tuple[bytes, ...]:
    if layout not in _SEEDS:
        if layout == "winlog":
            with gzip.open(simulated[0]) as fh:
                _SEEDS[layout] = tuple(line.rstrip(b"\n") for line in fh)[:200]
        else:
            files = sorted((CORPUS / "otrf-lateral").glob("*.json.gz"))
            if not files:
                pytest.skip("the shared corpus is not beside the repository")
            with gzip.open(files[0]) as fh:
                _SEEDS[layout] = tuple(line.rstrip(b"\n") for line in fh)[:200]
    return _SEEDS[layout]
