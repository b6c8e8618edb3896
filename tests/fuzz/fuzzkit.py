"""The fuzz suite's tools: seed inputs read from the corpus and tests/data, mutations, and a case
that ingests each example and checks the accounting invariant.

Seeds are read where they lie, at test time (never copied into the repository). A mutation is a
list of small operations drawn by Hypothesis (so that a failure shrinks to the few that matter);
:class:`Case` ingests what they built into a real DuckDB case and checks, per file, that every
record read was stored or rejected, that no (src.digest, src.record) key repeats, that no reader
crashed, and that ingesting the same paths again adds nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from hostile import PAYLOADS
from wormsign import schema
from wormsign.ingest import ingest_paths
from wormsign.store import Case as StoreCase

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CORPUS = ROOT.parent / "shared" / "corpus"

# -- seeds ---------------------------------------------------------------------------------


def _head_lines(data: bytes, n: int) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:n])


@cache
def seeds(fmt: str) -> tuple[tuple[str, bytes], ...]:
    """(file name, content) of small real inputs of one format: tests/data, then the corpus (its
    smallest files, or the first lines of larger ones). Empty when none is at hand."""
    out: list[tuple[str, bytes]] = []

    def add(path: Path, lines: int | None = None) -> None:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        out.append((path.name.removesuffix(".gz"), data if lines is None else _head_lines(data, lines)))

    if fmt == "evtx":
        for folder in (CORPUS / "evtx-attack-samples", CORPUS / "real-multihost"):
            if folder.is_dir():
                files = sorted(folder.rglob("*.evtx"), key=lambda p: (p.stat().st_size, str(p)))
                for p in files[:3]:
                    add(p)
    elif fmt == "ecs":
        for p in sorted((DATA / "ingest").glob("*.ndjson")):
            add(p)
        lateral = CORPUS / "otrf-lateral"
        if lateral.is_dir():
            for p in sorted(lateral.glob("*.json*"))[:2]:
                add(p, 12)
    elif fmt == "zeek":
        for p in sorted((DATA / "zeek").glob("*.log")) + sorted((DATA / "zeek" / "json").glob("*.json")):
            add(p)
        apt29 = CORPUS / "otrf-apt29-zeek" / "day1"
        if apt29.is_dir():
            for p in sorted(apt29.glob("*.log"))[:4]:
                add(p, 12)
    elif fmt == "lanl":
        add(DATA / "ingest" / "auth.txt")
    elif fmt == "dhcpsrv":
        for p in sorted((DATA / "dhcpsrv").rglob("*.log")):
            add(p)
    else:
        raise ValueError(fmt)
    return tuple(out)


def all_seeds() -> tuple[tuple[str, bytes], ...]:
    return tuple(itertools.chain.from_iterable(seeds(f) for f in ("evtx", "ecs", "zeek", "lanl", "dhcpsrv")))


# -- mutations ----------------------------------------------------------------------------

HOSTILE: tuple[bytes, ...] = (
    *(p.encode() for p in PAYLOADS.values()),
    b"\x00", b"\x00" * 64, b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\n\n",
    b"\xe2\x80\xa8", b"\x1c", b"\xc2\x85", b"null", b"[]", b"[{}]", b"{}", b"{", b"}", b'"', b"\\",
    b"-", b"(empty)", b"#fields\tts\tuid", b"#separator \\x2c", b"ElfFile\x00", b"PK\x03\x04", b"\x1f\x8b",
    b"18446744073709551616", b"-9223372036854775809", b"1e309", b"NaN", b"9" * 400,
    b"Microsoft DHCP Service Activity Log", b"ID,Date,Time,Description,IP Address",
)

#: Values of the wrong type, or too large, for any JSON field.
ODD_VALUES: tuple[Any, ...] = (
    None, True, 0, -1, 2**63, 2**64 + 1, -(2**63) - 1, 1.5e308, -0.0, "", " ", "-", "\x00",
    [], [None], {}, {"a": {"b": [1, {"c": None}]}}, "9999-12-31T23:59:59Z", "0000-00-00", "1e999",
    "x" * 70_000, ["x" * 40_000] * 2, *PAYLOADS.values(),
)

HUGE_SIZES = (100, 33 * 1024, 65 * 1024 + 7, 300_000)


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


Op = tuple[Any, ...]

_pos = st.integers(0, 1 << 20)

byte_ops = st.one_of(
    st.tuples(st.just("flip"), _pos, st.integers(1, 255)),
    st.tuples(st.just("flips"), _pos, st.integers(1, 64), st.integers(1, 255)),
    st.tuples(st.just("insert"), _pos, st.sampled_from(HOSTILE)),
    st.tuples(st.just("insert"), _pos, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), _pos, st.integers(1, 512)),
    st.tuples(st.just("truncate"), _pos),
    st.tuples(st.just("huge"), _pos, st.sampled_from(HUGE_SIZES), st.sampled_from((b"A", b"\x00", b"\xff"))),
)

#: Generated JSON values, for any field of a record.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)

line_ops = st.one_of(
    st.tuples(st.just("dup-line"), _pos, st.integers(1, 3)),
    st.tuples(st.just("drop-line"), _pos),
    st.tuples(st.just("swap-lines"), _pos, _pos),
    st.tuples(st.just("insert-line"), _pos, st.sampled_from(HOSTILE)),
    st.tuples(st.just("insert-line"), _pos, st.binary(max_size=40)),
    st.tuples(st.just("deep-line"), _pos, st.sampled_from((2, 200, 2000, 100_000))),
    st.tuples(st.just("huge-line"), _pos, st.sampled_from(HUGE_SIZES)),
    st.tuples(st.just("field"), _pos, _pos, st.sampled_from(HOSTILE)),
    st.tuples(st.just("json-value"), _pos, _pos, st.sampled_from(range(len(ODD_VALUES)))),
    st.tuples(st.just("json-gen"), _pos, _pos, json_values),
    st.tuples(st.just("field-gen"), _pos, _pos, st.text(max_size=30)),
    st.tuples(st.just("json-drop-key"), _pos, _pos),
    st.tuples(st.just("json-cut"), _pos, _pos),
    st.tuples(st.just("crlf"),),
)

#: Mutations of a text (line) format.
text_mutations = st.lists(st.one_of(line_ops, byte_ops), max_size=6)
#: Mutations of a binary format.
binary_mutations = st.lists(st.one_of(byte_ops, byte_ops, line_ops), max_size=6)


def _json_edit(line: bytes, which: int, edit: Callable[[dict[str, Any], str], None]) -> bytes:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(obj, dict) or not obj:
        return line
    # A nested key too: winlog.event_data.* is where most fields of Winlogbeat live.
    targets: list[tuple[dict[str, Any], str]] = []
    stack = [obj]
    while stack and len(targets) < 200:
        d = stack.pop()
        for k, v in d.items():
            targets.append((d, k))
            if isinstance(v, dict):
                stack.append(v)
    d, k = targets[which % len(targets)]
    edit(d, k)
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, default=str).encode()


def mutate(data: bytes, ops: list[Op]) -> bytes:
    """Apply mutations in order; positions wrap around the current length."""
    buf = bytearray(data)
    for op in ops:
        kind = op[0]
        n = len(buf)
        if kind == "flip" and n:
            buf[op[1] % n] ^= op[2]
        elif kind == "flips" and n:
            start = op[1] % n
            for i in range(start, min(n, start + op[2] * 7), 7):
                buf[i] ^= op[3]
        elif kind == "insert":
            i = op[1] % (n + 1)
            buf[i:i] = op[2]
        elif kind == "delete" and n:
            i = op[1] % n
            del buf[i : i + op[2]]
        elif kind == "truncate":
            del buf[op[1] % (n + 1) :]
        elif kind == "huge":
            i = op[1] % (n + 1)
            buf[i:i] = op[3] * op[2]
        elif kind == "crlf":
            buf = bytearray(bytes(buf).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        else:
            buf = bytearray(_line_op(bytes(buf), op))
    return bytes(buf)


def _line_op(data: bytes, op: Op) -> bytes:
    lines = data.splitlines(keepends=True) or [b""]
    kind, at = op[0], op[1] % len(lines)
    line = lines[at]
    end = b"\n" if line.endswith(b"\n") else b""
    body = line[: len(line) - len(end)]
    if kind == "dup-line":
        lines[at:at] = [line if end else line + b"\n"] * op[2]
    elif kind == "drop-line":
        del lines[at]
    elif kind == "swap-lines":
        j = op[2] % len(lines)
        lines[at], lines[j] = lines[j], lines[at]
    elif kind == "insert-line":
        lines.insert(at, op[2] + b"\n")
    elif kind == "deep-line":
        lines.insert(at, _deep(op[2]) + b"\n")
    elif kind == "huge-line":
        lines.insert(at, b'{"ts": "' + b"9" * op[2] + b'", "x": "' + b"y" * op[2] + b'"}\n')
    elif kind == "field":
        sep = b"\t" if b"\t" in body else b","
        fields = body.split(sep)
        fields[op[2] % len(fields)] = op[3]
        lines[at] = sep.join(fields) + end
    elif kind == "field-gen":
        sep = b"\t" if b"\t" in body else b","
        fields = body.split(sep)
        fields[op[2] % len(fields)] = op[3].encode("utf-8", "surrogatepass")
        lines[at] = sep.join(fields) + end
    elif kind in ("json-value", "json-gen"):
        value = ODD_VALUES[op[3]] if kind == "json-value" else op[3]

        def put(d: dict[str, Any], k: str) -> None:
            d[k] = value

        lines[at] = _json_edit(body, op[2], put) + end
    elif kind == "json-drop-key":
        lines[at] = _json_edit(body, op[2], lambda d, k: d.pop(k)) + end
    elif kind == "json-cut":
        lines[at] = body[: op[2] % (len(body) + 1)] + end
    return b"".join(lines)


# -- containers ---------------------------------------------------------------------------

#: Zip member names an attacker may choose.
ODD_MEMBER_NAMES = (
    "../../escape.log", "/abs/olute.log", "a/../../b.log", "dir\\back\\slash.log", "bang!inside.log",
    "caf\u00e9 \u202etxt.log", "line\nbreak.log", "tab\tname.log", " lead", "x" * 240, "nul\x00cut.log",
    "\x1b[2Jclear.log", "dup.log", "dup.log", "DUP.log", "nested/deep/" * 8 + "f.log", ".", "-",
)


def gzip_bytes(data: bytes, *, cut: int | None = None) -> bytes:
    out = gzip.compress(data, mtime=0)
    return out if cut is None else out[: max(2, cut % (len(out) + 1))]


def zip_bytes(members: list[tuple[str, bytes]], *, stored: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a duplicate name is meant
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            with zf.open(info, "w") as fh:  # writes duplicate names too (ZipFile.writestr warns)
                fh.write(data)
    return buf.getvalue()


def _content_digests(path: str) -> tuple[set[str], int]:
    """The SHA-256 of every file's decompressed content under ``path`` that reads whole (what the
    case must account for), and how many could not be read (damaged archives)."""
    found: set[str] = set()
    damaged = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                data = fh.read()
            try:
                if data.startswith(b"PK\x03\x04"):
                    with zipfile.ZipFile(p) as zf:
                        for info in zf.infolist():
                            if info.is_dir():
                                continue
                            try:
                                member = zf.open(info).read()
                                if member.startswith(b"\x1f\x8b"):
                                    member = gzip.decompress(member)
                            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError):
                                damaged += 1
                                continue
                            found.add(hashlib.sha256(member).hexdigest())
                    continue
                if data.startswith(b"\x1f\x8b"):
                    data = gzip.decompress(data)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, UnicodeDecodeError):
                damaged += 1
                continue
            found.add(hashlib.sha256(data).hexdigest())
    return found, damaged


# -- independent record counts ----------------------------------------------------------------

_DHCP_RECORD = re.compile(r"\s*\d+,")


def _text_lines(data: bytes) -> list[str | None]:
    """Lines as ``iter_lines`` reads them: None for one that is not UTF-8, else its text."""
    out: list[str | None] = []
    for b in data.split(b"\n")[: -1 if data.endswith(b"\n") else None]:
        if len(b) > schema.MAX_RECORD_BYTES:
            out.append(None)
            continue
        try:
            out.append(b.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError:
            out.append(None)
    return out


def expected_records(fmt: str, data: bytes) -> tuple[str, int] | None:
    """('==' or '>=', n): the records a reader must count in a plain file it was given, worked out
    here from the lines themselves, where the format makes that simple; None where it does not."""
    if not data:
        return None
    if fmt == "lanl":
        return "==", sum(1 for t in _text_lines(data) if t is None or t.strip())
    if fmt == "dhcpsrv":
        lines = [t.lstrip("\ufeff") for t in _text_lines(data) if t is not None]
        return ">=", sum(1 for t in lines if _DHCP_RECORD.match(t))
    if fmt == "zeek":
        lines = _text_lines(data)
        content = [t for t in lines if t is None or t.strip()]
        first = next((t for t in content if t is not None), None)
        if first is None:
            return "==", len(content)
        first = first.lstrip("\ufeff")
        if first.lstrip().startswith("{") or first.strip() == "null":
            return "==", len(content)
        # TSV: every line but the header lines is a record (the first line's BOM is not part of it).
        at = content.index(next(t for t in content if t is not None))
        content[at] = first
        return "==", sum(1 for t in content if t is None or not t.startswith("#"))
    if fmt == "ecs":
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if lines and lines[0].startswith(b"\xef\xbb\xbf"):  # the file's BOM is no part of its first line
            lines[0] = lines[0][3:]
        content = [b for b in lines if b.strip()]
        # Whole-file documents, arrays and Elasticsearch exports hold several records a line:
        # count only files of one JSON object (or anything not JSON) per line.
        if any(b.lstrip(b"\xef\xbb\xbf \t\r").startswith(b"[") or b'"hits"' in b for b in content):
            return None
        if content and content[0].lstrip(b"\xef\xbb\xbf \t\r")[:1] == b"{":
            try:
                orjson.loads(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
            except orjson.JSONDecodeError:
                pass
            else:
                return None  # one document (a pretty-printed object): read whole
            try:
                orjson.loads(content[0])
            except orjson.JSONDecodeError:
                return None  # a broken first line is tried as a whole-file document
        return "==", len(content)
    return None


# -- the case -------------------------------------------------------------------------------


class FuzzCase:
    """A real case file that examples ingest into, each from a folder of its own."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="wormsign-fuzz-")
        self.path = os.path.join(self.dir, "case.duckdb")
        self.case = StoreCase.open(self.path)
        self._n = itertools.count()

    def close(self) -> None:
        self.case.close()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)

    def folder(self) -> str:
        p = os.path.join(self.dir, f"ex{next(self._n)}")
        os.mkdir(p)
        return p

    def write(self, name: str, data: bytes) -> str:
        """A file of its own for one example: a fresh folder, and the name given."""
        folder = self.folder()
        p = os.path.join(folder, name)
        with open(p, "wb") as fh:
            fh.write(data)
        return p

    def _counts(self) -> tuple[int, int, int]:
        return tuple(  # type: ignore[return-value]
            self.case.rows(f"SELECT count(*) FROM {t}")[0][0] for t in ("events", "sources", "rejects")
        )

    def check(self, paths: list[str], *, expect: Callable[[str, bytes], tuple[str, int] | None] | None = None,
              content: bytes | None = None, workers: int = 1) -> list[dict[str, Any]]:
        """Ingest ``paths`` and check the accounting invariant; the ``sources`` rows of the files."""
        before = self._counts()
        # (copies kept: variants of one log are copies of each other to the record identity, and
        # this checks the readers' accounting, not ingest/identity.py, tested in tests/ingest)
        report = ingest_paths(paths, self.case, workers=workers, keep_copies=True)  # an exception escaping fails
        st = report.stats
        assert st.read == st.stored + st.rejected, st
        assert sum(st.reasons.values()) == st.rejected, st
        assert "reader-error" not in st.reasons, report.rejects
        mid = self._counts()
        rows = self._sources(paths)
        assert rows or (report.files == 0 and report.skipped == 0 and st.read == 0)
        for r in rows:
            why = r["file"]
            assert r["records"] == r["stored"] + r["rejected"], r
            reasons = json.loads(r["reasons"])
            assert sum(reasons.values()) == r["rejected"], r
            assert "reader-error" not in reasons, r
            n = self.case.rows('SELECT count(*) FROM events WHERE "src.digest" = ?', [r["digest"]])[0][0]
            assert n == r["stored"], (why, n, r)
            nrej = self.case.rows("SELECT count(*) FROM rejects WHERE digest = ?", [r["digest"]])[0][0]
            assert nrej <= r["rejected"] and (nrej > 0) == (r["rejected"] > 0), (why, nrej, r)
        dup = self.case.rows(
            'SELECT "src.digest", "src.record", count(*) FROM events GROUP BY ALL'
            " HAVING count(*) > 1 LIMIT 3")
        assert not dup, dup
        nulls = self.case.rows('SELECT count(*) FROM events WHERE "src.record" IS NULL')[0][0]
        assert nulls == 0
        if expect is not None and content is not None and len(rows) == 1 and rows[0]["format"] not in (
                "empty", "unknown"):
            want = expect(rows[0]["format"], content)
            if want is not None:
                op, n = want
                got = rows[0]["records"]
                assert got == n if op == "==" else got >= n, (rows[0]["format"], op, n, rows[0])
        # Ingesting the same paths again adds nothing.
        again = ingest_paths(paths, self.case, workers=workers, keep_copies=True)
        assert again.files == 0 and again.stats.read == 0, again
        assert self._counts() == mid, (before, mid, self._counts())
        return rows

    def _sources(self, paths: list[str]) -> list[dict[str, Any]]:
        from wormsign.ingest.walk import Unreadable, digest, sources

        digests: list[str] = []
        for s in sources(paths):
            digests.append(s.digest if isinstance(s, Unreadable) else digest(s))
        cols = ("digest", "file", "format", "records", "stored", "rejected", "reasons")
        out = []
        for d in dict.fromkeys(digests):
            found = self.case.rows(f"SELECT {', '.join(cols)} FROM sources WHERE digest = ?", [d])
            assert len(found) == 1, (d, found)
            out.append(dict(zip(cols, found[0], strict=True)))
        return out

    def check_tree(self, top: str, workers: int = 1) -> list[dict[str, Any]]:
        """:meth:`check`, and every file's and member's content that reads whole is in the case."""
        rows = self.check([top], workers=workers)
        want, _damaged = _content_digests(top)
        have = {r["digest"] for r in rows}
        assert want <= have, sorted(want - have)[:3]
        return rows
