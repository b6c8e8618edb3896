"""The columnar Zeek paths (TSV, JSON lines) against the per-record path: the same rows, stats
and rejects.

Each file is read twice by the real reader, once in columns (``ZeekReader.columnar``, the
default) and once record by record, and the two event tables must be identical column by
column (``raw`` and ``src.record`` included), with the same counts and rejects (reason, record
number and text, in order), and under ``--strict`` the same first error.
"""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormsign.ingest import zeek
from wormsign.ingest.base import Batch, IngestError, Sink, Source
from wormsign.ingest.zeek import ZeekReader
from wormsign.simulate import simulate

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
DATA = Path(__file__).resolve().parents[1] / "data" / "zeek"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The columnar path on blocks of any size (it leaves short ones to the per-record path),
    and blocks short enough that a file has several."""
    monkeypatch.setattr(zeek, "_MIN_BLOCK", 1)
    monkeypatch.setattr(zeek, "_BLOCK_LINES", 700)
    monkeypatch.setattr(zeek, "_MIN_JSON_BLOCK", 1)
    monkeypatch.setattr(zeek, "_JSON_BLOCK_LINES", 700)


#: Rows the last columnar read handed over as tables (the columnar path's own).
TAKEN = [0]


def _read(path: Path, columnar: bool, *, strict: bool = False) -> tuple[pa.Table | None, Any, list[str]]:
    src = Source(str(path), str(path), container="gzip" if path.suffix == ".gz" else "file", digest="0" * 64)
    tables: list[pa.Table] = []
    batch = Batch(tables.append, 5_000)
    rejects: list[str] = []
    sink = Sink(src, "zeek", tables.append, strict=strict, batch=batch,
                on_reject=lambda r: rejects.append(str(r)))
    reader = ZeekReader()
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
    assert taken >= columnar_share * fstats.stored, (taken, fstats.stored)
    slow, sstats, srej = _read(path, False)
    assert TAKEN[0] == 0
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
    simulate("emotet", 40, 1, 3, out, benign_volume=2)
    files = sorted(out.glob("logs/zeek/*/*.log.gz"))
    assert files
    return files


def test_simulated_zeek_same_rows(simulated: list[Path]) -> None:
    rows = columnar = 0
    for f in simulated:
        t = assert_same(f)
        rows += 0 if t is None else t.num_rows
        columnar += TAKEN[0]
    assert rows > 5_000
    assert columnar > 0.9 * rows  # smb paths carry backslashes: those lines are the per-record path's


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.log")))
def test_fixtures_same_rows(name: str) -> None:
    assert_same(DATA / name)


def _apt29() -> list[Path]:
    files = sorted((CORPUS / "otrf-apt29-zeek").glob("*/*.log"))
    if not files:
        pytest.skip("the shared corpus is not beside the repository")
    return files


def test_apt29_corpus_same_rows() -> None:
    """The real APT29 logs (JSON lines, ``@stream``): read in columns, the same as record by
    record (backslashed SMB paths and named pipes, lists, housekeeping logs included)."""
    stored = columnar = 0
    for f in _apt29():
        t = assert_same(f)
        stored += 0 if t is None else t.num_rows
        columnar += TAKEN[0]
    assert stored > 4_000
    assert columnar > 0.95 * stored


def _native(line: bytes) -> bytes:
    """An APT29 line as Zeek itself writes JSON: dotted names, no ``@stream``/``@system``/``@proc``."""
    import orjson

    r = orjson.loads(line)
    return orjson.dumps({(k.replace("_", ".", 1) if k.startswith("id_") else k): v
                         for k, v in r.items() if not k.startswith("@")})


def test_apt29_as_native_zeek_json_same_rows(tmp_path: Path) -> None:
    """The same logs without ``@stream``: the log each line's keys give (``infer``), else the
    file name's; gzipped too."""
    stored = columnar = 0
    for f in _apt29():
        out = tmp_path / f"{f.parent.name}-{f.name}"
        out.write_bytes(b"\n".join(_native(x) for x in f.read_bytes().splitlines() if x.strip()) + b"\n")
        t = assert_same(out)
        stored += 0 if t is None else t.num_rows
        columnar += TAKEN[0]
        if f.name.endswith(("conn.log", "dns.log")):
            gz = tmp_path / (out.name + ".gz")
            gz.write_bytes(gzip.compress(out.read_bytes()))
            assert_same(gz)
    assert stored > 4_000
    assert columnar > 0.95 * stored


def _json_hostile(lines: list[bytes], rnd: random.Random) -> list[bytes]:
    """Good conn.log JSON lines with odd ones among them: each a line the columnar path must
    leave to the per-record path, or must read exactly as it does."""
    good = lines[5].decode()
    assert good.startswith('{"@stream":"conn"') and '"ts":' in good

    def sub(old: str, new: str) -> bytes:
        assert old in good, old
        return good.replace(old, new, 1).encode()

    ts = good.split('"ts":', 1)[1].split(",", 1)[0]
    odd: list[bytes] = [
        good[: len(good) // 2].encode(), b"null", b"[1,2]", b'"text"', b"{}", b"{", b"}", b"   ",
        b"{broken json}", good.encode() + b"x", good.encode() + b" " + good.encode(),
        good.encode().replace(b"{", b"{ ", 1), good.encode() + b"   ",
        "caf\xe9".encode("latin-1"), good.encode().replace(b"SF", b"S\xff"),
        sub('"SF"', '"S\\u0046"'), sub('"SF"', '"\\ud800"'), sub('"SF"', '"S\\F"'),
        sub('"SF"', '"S\\/F"'), sub('"SF"', '"a\\\\b\\"c\\n"'), sub('"SF"', '"tab\there"'),
        sub('"SF"', '"d\u00e9j\u00e0"'), sub('"SF"', '"\u2028"'), sub('"SF"', '"S\x01F"'),
        sub('"SF"', "5"), sub('"SF"', "true"), sub('"SF"', "null"), sub('"SF"', '["S0","SF"]'),
        sub('"SF"', "[1,2]"), sub('"SF"', '{"a":1}'), sub('"SF"', '""'), sub('"SF"', '"-"'),
        sub('"SF"', '"(empty)"'),
        sub('"conn_state"', '"conn_state":"REJ","conn_state"'),
        sub('"id_orig_h"', '"id.orig_h":"10.9.9.9","id_orig_h"'),
        sub('"id_orig_h"', '"id.orig_h":null,"id_orig_h"'),
        sub('"id_orig_h"', '"x\\"id_orig_h":"1.2.3.4","id_orig_h"'),
        sub('"id_orig_h"', '"x":",","id_orig_h"'), sub('"id_orig_h"', '"x\\"id_orig_h"'),
        sub('"@stream"', '"x\\"@stream"'), sub('"ts"', '"a\\"ts"'), sub('"ts"', '"a\\\\"ts"'),
        sub('"id_orig_p":', '"id_orig_p":"80","x":'), sub('"id_orig_p":', '"id_orig_p":8.5,"x":'),
        sub('"id_orig_p":', '"id_orig_p":1e2,"x":'), sub('"id_orig_p":', '"id_orig_p":-0,"x":'),
        sub('"id_orig_p":', '"id_orig_p":99999999999999999999,"x":'),
        sub('"id_orig_p":', '"id_orig_p":true,"x":'), sub('"id_orig_p":', '"id_orig_p":[80],"x":'),
        sub('"orig_bytes":', '"orig_bytes":9223372036854775807,"x":'),
        sub('"orig_bytes":', '"orig_bytes":4611686018427387904,"x":'),
        sub('"id_orig_h":"10.0.1.6"', '"id_orig_h":"::FFFF:10.0.1.6"'),
        sub('"id_orig_h":"10.0.1.6"', '"id_orig_h":"010.0.1.6"'),
        sub('"id_orig_h":"10.0.1.6"', '"id_orig_h":["10.0.1.7"]'),
        sub('"id_orig_h":"10.0.1.6"', '"id_orig_h":167772161'),
        sub(f'"ts":{ts}', '"ts":null'), sub(f'"ts":{ts},', ""), sub(f'"ts":{ts}', '"ts":"1588205199.5"'),
        sub(f'"ts":{ts}', '"ts":"2020-04-30T00:06:39Z"'), sub(f'"ts":{ts}', '"ts":1e300'),
        sub(f'"ts":{ts}', '"ts":1e20'), sub(f'"ts":{ts}', '"ts":-1.5'), sub(f'"ts":{ts}', '"ts":0'),
        sub(f'"ts":{ts}', '"ts":1588205199.1234567891234'), sub(f'"ts":{ts}', '"ts":true'),
        sub(f'"ts":{ts}', '"ts":"x"'), sub(f'"ts":{ts}', f'"ts":{ts},"ts":5'),
        sub(f'"ts":{ts}', '"ts":"1588205199\\u002e5"'),
        sub('"@stream":"conn"', '"@stream":"dns"'), sub('"@stream":"conn"', '"@stream":""'),
        sub('"@stream":"conn"', '"@stream":"nosuchlog"'), sub('"@stream":"conn"', '"@stream":5'),
        sub('"@stream":"conn"', '"@stream":"co\\/nn"'), sub('"@stream":"conn"', '"_path":"dns"'),
        sub('"@stream":"conn"', '"_path":"","@stream":"conn"'), sub('"@stream":"conn"', '"_path":0'),
        sub('"@stream":"conn"', '"_path":1,"@stream":"conn"'),
        sub('"@stream":"conn"', '"_path":null,"@stream":"dns"'),
        sub('"service":"dns"', '"service":"' + "A" * 40_000 + '"'),
        sub('"service":"dns"', '"service":"' + "\u00e9" * 70_000 + '"'),
        sub('"uid"', '"nested":{"orig_h":"1.1.1.1"},"uid"'),
        sub('"id_orig_h":"10.0.1.6"', '"id":{"orig_h":"10.9.9.9","resp_h":"10.9.9.8"}'),
        sub('"uid"', '"TTLs":[1.5,2,null,true,"x"],"uid"'), sub('"uid"', '"odd":[[1]],"uid"'),
        sub('"uid"', '"big":123456789012345678901234567890,"uid"'), sub('"uid"', '"x":NaN,"uid"'),
        sub('"uid"', '"x":1.,"uid"'), sub('"uid"', '"x":01,"uid"'), sub('"uid"', '"x":+1,"uid"'),
        sub('"uid"', '"x":1e999,"uid"'), sub('"uid"', '"x":tru,"uid"'), sub('"uid"', '"uid":1,"uid"'),
        good.replace(",", ", ").encode(), good.replace(":", " : ").encode(), good[:-1].encode() + b",}",
    ]
    out = list(lines)
    for line in odd:
        out.insert(rnd.randrange(0, len(out)), line)
    return out


def test_json_hostile_lines_same_rows_and_rejects(tmp_path: Path) -> None:
    lines = [x for x in (CORPUS / "otrf-apt29-zeek" / "day1" / "NASHUA_conn.log").read_bytes().splitlines()
             if x.strip()] if (CORPUS / "otrf-apt29-zeek").is_dir() else []
    if not lines:
        pytest.skip("the shared corpus is not beside the repository")
    rnd = random.Random(13)
    for i in range(3):
        out = _json_hostile(lines * 2, rnd)
        path = tmp_path / f"hostile-{i}_conn.log"
        path.write_bytes(b"\n".join(out) + (b"\n" if i != 1 else b""))
        assert_same(path, 0.8)
        crlf = tmp_path / f"hostile-{i}-crlf_conn.log"
        crlf.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(out) + b"\r\n")  # a BOM too
        assert_same(crlf, 0.8)
        gz = tmp_path / f"hostile-{i}_conn.log.gz"
        gz.write_bytes(gzip.compress(b"\n".join(out) + b"\n"))
        assert_same(gz, 0.8)
        cut = tmp_path / f"hostile-{i}-cut_conn.log.gz"
        blob = gz.read_bytes()
        cut.write_bytes(blob[: len(blob) * 2 // 3])
        assert_same(cut)


def _strict_errors(path: Path) -> list[str]:
    """The error of a --strict read of ``path`` in columns, then record by record."""
    errors = []
    for columnar in (True, False):
        with pytest.raises(IngestError) as exc:
            _read(path, columnar, strict=True)
        errors.append(str(exc.value))
    return errors


def test_json_strict_stops_at_the_same_record(tmp_path: Path) -> None:
    lines = [x for x in (CORPUS / "otrf-apt29-zeek" / "day1" / "NASHUA_conn.log").read_bytes().splitlines()
             if x.strip()] if (CORPUS / "otrf-apt29-zeek").is_dir() else []
    if not lines:
        pytest.skip("the shared corpus is not beside the repository")
    for bad, where, why in [(b"{broken", 300, "bad-json"), (lines[10].replace(b'"ts":', b'"tz":'), 420,
                                                              "no-timestamp")]:
        out = list(lines)
        out.insert(where, bad)
        path = tmp_path / "strict_conn.log"
        path.write_bytes(b"\n".join(out) + b"\n")
        errors = _strict_errors(path)
        assert errors[0] == errors[1]
        assert str(where + 1) in errors[0] and why in errors[0]


def _as_tsv(path: Path) -> bytes:
    """A Zeek JSON log written as Zeek TSV (one header: the keys of all its records, in order
    of first sight; lists as sets), as Zeek itself would have written it."""
    import orjson

    recs = [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]
    names = list(dict.fromkeys(k.replace("_", ".", 1) if k.startswith("id_") else k
                               for r in recs for k in r if not k.startswith("@")))
    sets = {k for r in recs for k, v in r.items() if isinstance(v, list)}

    def text(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "T" if v else "F"
        if isinstance(v, list):
            return ",".join(map(text, v)) if v else "(empty)"
        s = str(v)
        return s.replace("\t", "\\x09") if s else "(empty)"

    stream = recs[0].get("@stream", "unknown")
    out = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
           f"#path\t{stream}", "#fields\t" + "\t".join(names),
           "#types\t" + "\t".join("set[string]" if n in sets else "string" for n in names)]
    for r in recs:
        flat = {(k.replace("_", ".", 1) if k.startswith("id_") else k): v for k, v in r.items()}
        out.append("\t".join(text(flat.get(n)) for n in names))
    out.append("#close\t2020-05-02-00-00-00")
    return ("\n".join(out) + "\n").encode()


def test_apt29_corpus_as_tsv_same_rows(tmp_path: Path) -> None:
    """The real APT29 logs written as Zeek TSV: read in columns, the same as record by record."""
    files = sorted((CORPUS / "otrf-apt29-zeek").glob("*/*.log"))
    if not files:
        pytest.skip("the shared corpus is not beside the repository")
    stored = columnar = 0
    for f in files:
        tsv = tmp_path / f"{f.parent.name}-{f.name}"
        tsv.write_bytes(_as_tsv(f))
        t = assert_same(tsv)
        stored += 0 if t is None else t.num_rows
        columnar += TAKEN[0]
    assert stored > 4_000
    assert columnar > 0.8 * stored


def _conn_lines(simulated: list[Path]) -> list[str]:
    f = next(p for p in simulated if p.name.startswith("conn"))
    with gzip.open(f, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh][:1500]


def _hostile(lines: list[str], rnd: random.Random) -> list[bytes]:
    """Good conn.log lines (its header first) with odd ones among them: each kind of line the
    columnar path must leave to the per-record path, or must read exactly as it does."""
    head = [x for x in lines if x.startswith("#") and not x.startswith("#close")]
    data = [x for x in lines if not x.startswith("#")]
    f = data[0].split("\t")
    out = [x.encode() for x in head + data]

    def row(**kw: str) -> bytes:
        g = list(f)
        for i, v in kw.items():
            g[int(i[1:])] = v
        return "\t".join(g).encode()

    odd: list[bytes] = [
        data[3][: len(data[3]) // 2].encode(),  # a truncated line
        data[4].encode() + b"\textra",  # one field too many
        data[5].encode().replace(b"\t", b"", 1),
        row(c7="caf\xe9").replace("\xe9".encode(), b"\xe9"),  # not UTF-8
        row(c7="d\u00e9j\u00e0-vu"),  # UTF-8 text, not ASCII
        row(c7='a"b'), row(c7="a\\x41b"), row(c7="a\\x\\b"), row(c7="tab\\x09here"),
        row(c7="ctl\x01x"), row(c7="del\x7fx"), row(c7="\u2028sep"),
        row(c0="-"), row(c0="(empty)"), row(c0="2026-03-02T10:00:00Z"), row(c0="1772434862."),
        row(c0="99999999999.5"), row(c0="253402300799.9999999"), row(c0="253402300800"),
        row(c0="1e9"), row(c0=" 1772434862.5"), row(c0="\u0661\u0662\u0663"),
        row(c0="1772434862.1234567891"), row(c0="0"),
        row(c2="-"), row(c2="::ffff:10.1.2.3"), row(c2="FE80::1%eth0"), row(c2="010.1.2.3"),
        row(c2="N/A"), row(c2="(empty)"), row(c4="10.9.9.9"),
        row(c3="0x1f"), row(c3="99999999999999999999"), row(c3="-"), row(c3=" 7"),
        row(c6="TCP"), row(c6="\u0130CMP"), row(c7="-"), row(c7="null"), row(c7="DNS,\u0130"),
        row(c9="9223372036854775807", c10="1"), row(c9="9223372036854775800", c10="7"),
        row(c9="12", c10="-"), row(c9="x", c10="4"), row(c11="S0"), row(c11="REJ"), row(c11="-"),
        row(c11="N/A"),
        row(c20="a,b,(empty)"), row(c20=""), row(c20=",,"), row(c20="(empty)"),
        b"#comment\tline",
        b"   \t  ",
        b"",
        b"\t".join([b"-"] * len(f)),
    ]
    for line in odd:
        out.insert(rnd.randrange(len(head) + 1, len(out)), line)
    # A header change in the middle: another log (dns) under its own fields, then conn again.
    at = rnd.randrange(len(head) + 200, len(out) - 200)
    dns = [b"#path\tdns", b"#fields\tts\tuid\tid.orig_h\tquery\tqtype_name\tanswers",
           b"#types\ttime\tstring\taddr\tstring\tstring\tvector[string]"]
    dns += [f"17724349{i:02d}.5\tCx{i}\t10.0.0.{i}\thost{i}.example\tA\t10.1.1.{i},10.2.2.{i}".encode()
            for i in range(50)]
    dns += [b"1772434999.1\tCy\t10.0.0.1\tq\tA\t(empty)", b"1772434999.2\tCz\t10.0.0.1\tq\tA\t-"]
    out[at:at] = dns + [x.encode() for x in head]
    # Placeholders redefined, and a separator of another kind, further on.
    at = rnd.randrange(at + len(dns) + 100, len(out) - 50)
    out[at:at] = [b"#unset_field\tNONE", b"#empty_field\t-"]
    return out


def test_hostile_lines_same_rows_and_rejects(simulated: list[Path], tmp_path: Path) -> None:
    lines = _conn_lines(simulated)
    rnd = random.Random(11)
    for i in range(3):
        out = _hostile(lines, rnd)
        path = tmp_path / f"hostile-{i}.log"
        path.write_bytes(b"\n".join(out) + (b"\n" if i != 1 else b""))
        assert_same(path, 0.8)
        crlf = tmp_path / f"hostile-{i}-crlf.log"
        crlf.write_bytes(b"\r\n".join(out) + b"\r\n")
        assert_same(crlf, 0.8)
        gz = tmp_path / f"hostile-{i}.log.gz"
        gz.write_bytes(gzip.compress(b"\n".join(out) + b"\n"))
        assert_same(gz, 0.8)
        cut = tmp_path / f"hostile-{i}-cut.log.gz"
        blob = gz.read_bytes()
        cut.write_bytes(blob[: len(blob) * 2 // 3])  # a cut archive: its lines up to the damage
        assert_same(cut)


def test_other_separator_and_set_separator(simulated: list[Path], tmp_path: Path) -> None:
    lines = _conn_lines(simulated)
    text = "\n".join(lines).replace("\t", "|").replace("#separator \\x09", "#separator \\x7c")
    text = text.replace("#set_separator|,", "#set_separator|;")
    text = text.replace("\n" + lines[-1].replace("\t", "|"), "\n" + lines[-1].replace("\t", "|")[:-1] + "a;b;c")
    path = tmp_path / "pipes.log"
    path.write_text(text + "\n", encoding="utf-8")
    assert_same(path, 0.9)


def test_strict_stops_at_the_same_record(simulated: list[Path], tmp_path: Path) -> None:
    lines = [x.encode() for x in _conn_lines(simulated)]
    lines.insert(1200, b"\xff\xfe broken")
    lines.insert(900, lines[900] + b"\tone-too-many")
    path = tmp_path / "strict.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    errors = _strict_errors(path)
    assert errors[0] == errors[1]
    assert "901" in errors[0] and "bad-field-count" in errors[0]


# -- random damage, both ways ---------------------------------------------------------------

_VALUES = ["-", "(empty)", "", "0", "-1", "1.5", "T", "F", "true", "::1", "10.0.0.256", "1e3", "0x10",
           "\u0130", "a,b", "a\\x41", '"', "\x00", "S0", "9" * 25, "1772434862", "N/A", "\t"]


@settings(max_examples=int(os.environ.get("WORMSIGN_COLUMNAR_EXAMPLES", "30")), deadline=None,
          derandomize="WORMSIGN_COLUMNAR_EXAMPLES" not in os.environ, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 30), st.integers(0, 255)),
                      min_size=1, max_size=12))
def test_damaged_values_same_both_ways(simulated: list[Path], tmp_path: Path,
                                       edits: list[tuple[int, int, int]]) -> None:
    """Random values put into random fields of good conn.log lines: the same rows, stats and
    rejects both ways."""
    lines = _conn_lines(simulated)[:320]
    data_at = [i for i, x in enumerate(lines) if not x.startswith("#")]
    for where, col, value in edits:
        i = data_at[where % len(data_at)]
        f = lines[i].split("\t")
        f[col % len(f)] = _VALUES[value % len(_VALUES)]
        lines[i] = "\t".join(f)
    path = tmp_path / "damaged.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_same(path)


def test_long_values_truncated_alike(simulated: list[Path], tmp_path: Path) -> None:
    lines = _conn_lines(simulated)
    out = []
    for i, line in enumerate(lines):
        if not line.startswith("#") and i % 50 == 0:
            f = line.split("\t")
            f[7] = "A" * 40_000  # service
            f[15] = "\u00e9" * 70_000  # history
            line = "\t".join(f)
        out.append(line)
    path = tmp_path / "long.log"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    _, stats, _ = _read(path, True)
    assert stats.truncated > 0
    assert_same(path, 0.9)


def test_odd_headers_same_rows(simulated: list[Path], tmp_path: Path) -> None:
    """ts typed as a vector, a field named twice, a name with a quote: the per-record path's."""
    lines = _conn_lines(simulated)[:400]
    at = next(i for i, x in enumerate(lines) if x.startswith("#types"))
    fields = next(i for i, x in enumerate(lines) if x.startswith("#fields"))
    for n, (i, old, new) in enumerate([(at, "#types\ttime", "#types\tvector[time]"),
                                       (fields, "\tuid\t", "\tts\t"),
                                       (fields, "\tuid\t", '\tu"id\t'),
                                       (fields, "\tuid\t", "\tu\\id\t")]):
        changed = list(lines)
        changed[i] = changed[i].replace(old, new, 1)
        path = tmp_path / f"header-{n}.log"
        path.write_text("\n".join(changed) + "\n", encoding="utf-8")
        assert_same(path)
