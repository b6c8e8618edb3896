"""Every reader, fed mutated real inputs (alone, gzipped, cut, or in a zip): every record is stored
or rejected, keys never repeat, nothing crashes, and re-ingesting adds nothing."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fuzzkit import (
    ODD_MEMBER_NAMES,
    FuzzCase,
    binary_mutations,
    expected_records,
    gzip_bytes,
    mutate,
    seeds,
    text_mutations,
    zip_bytes,
)

#: File names on disk an attacker may choose (one not UTF-8, one with a newline, one hidden).
DISK_NAMES = ("same", "bad\udcff.log", "new\nline.log", ".hidden", "-dash", "x" * 200, "conn.log",
              "DhcpSrvLog-Mon.log", "a b c.json")

CONTAINERS = ("file", "file", "gzip", "gzip-cut", "gzip-flip", "zip", "zip-gzip")


def _build(fuzz_case: FuzzCase, name: str, data: bytes, container: str, disk: str, member: str,
           cut: int) -> tuple[list[str], bytes | None]:
    """The example's file on disk, and the content that the reader sees whole (None when cut)."""
    fname = name if disk == "same" else disk
    if container == "file":
        return [fuzz_case.write(fname, data)], data
    if container == "gzip":
        return [fuzz_case.write(fname + ".gz", gzip_bytes(data))], data
    if container == "gzip-cut":
        return [fuzz_case.write(fname + ".gz", gzip_bytes(data, cut=cut))], None
    if container == "gzip-flip":  # a damaged byte in the header, the stream or the CRC
        packed = bytearray(gzip_bytes(data))
        packed[cut % len(packed)] ^= 0x5A
        return [fuzz_case.write(fname + ".gz", bytes(packed))], None
    inner = gzip_bytes(data) if container == "zip-gzip" else data
    return [fuzz_case.write(fname + ".zip", zip_bytes([(member or name, inner)]))], data


def _fuzz(fuzz_case: FuzzCase, fmt: str, which: int, ops: list, container: str, disk: str, member: str,
          cut: int) -> None:
    pool = seeds(fmt)
    if not pool:
        pytest.skip(f"no {fmt} seed at hand (../shared/corpus missing?)")
    name, seed = pool[which % len(pool)]
    data = mutate(seed, ops)
    paths, content = _build(fuzz_case, name, data, container, disk, member, cut)
    fuzz_case.check(paths, expect=expected_records, content=content)


_common = dict(
    which=st.integers(0, 63),
    container=st.sampled_from(CONTAINERS),
    disk=st.sampled_from(DISK_NAMES),
    member=st.sampled_from(("",) + ODD_MEMBER_NAMES),
    cut=st.integers(0, 1 << 20),
)


@pytest.mark.parametrize("fmt", ["ecs", "zeek", "lanl", "dhcpsrv"])
@given(ops=text_mutations, **_common)
# Found by this suite: a cut gzip whose first line opens a JSON array that does not parse (too
# deep) made the ECS reader try the file as one document and crash on the damaged stream.
@example(ops=[("deep-line", 0, 2000)], which=0, container="gzip-cut", disk="same", member="", cut=100)
# Found by this suite: a gzip whose CRC fails at the end (gzip.BadGzipFile, an OSError) crashed the
# text readers instead of being counted as a damaged stream after the lines read.
@example(ops=[], which=0, container="gzip-flip", disk="same", member="", cut=226)
# Found by the long run: a bool as winlog.provider_name failed the whole ingest (IngestError: rows
# do not fit the event model), the ECS reader passing it on as the provider's name.
@example(ops=[("json-value", 0, 255, 1)], which=1, container="file", disk="same", member="", cut=0)
def test_text_readers_account_for_every_record(fuzz_case: FuzzCase, fmt: str, which: int, ops: list,
                                               container: str, disk: str, member: str, cut: int) -> None:
    _fuzz(fuzz_case, fmt, which, ops, container, disk, member, cut)


@given(ops=binary_mutations, **_common)
# Found by the long run: an EVTX file cut inside its 128-byte header crashed the chunk census
# (struct.error), costing the file as a reader-error.
@example(ops=[("truncate", 127)], which=0, container="file", disk="same", member="", cut=0)
def test_evtx_reader_accounts_for_every_record(fuzz_case: FuzzCase, which: int, ops: list,
                                               container: str, disk: str, member: str, cut: int) -> None:
    _fuzz(fuzz_case, "evtx", which, ops, container, disk, member, cut)


@given(which=st.integers(0, 63), lines=st.integers(2, 12), broken=st.integers(1, 1 << 10),
       cut=st.integers(0, 1 << 10))
# Found by this suite: the first element, on the line of the opening bracket, was neither stored
# nor rejected when a later element was broken (the file read one element a line).
@example(which=0, lines=3, broken=2, cut=20)
def test_a_json_array_one_element_a_line_counts_every_element(fuzz_case: FuzzCase, which: int, lines: int,
                                                               broken: int, cut: int) -> None:
    """A JSON array written one element a line, the first beside the bracket, one element cut short:
    the whole file does not parse, so it is read line by line, and each element is one record."""
    name, seed = seeds("ecs")[which % len(seeds("ecs"))]
    elements = [ln.strip() for ln in seed.splitlines() if ln.strip()][:lines]
    k = 1 + broken % max(1, len(elements) - 1) if len(elements) > 1 else 0
    elements[k] = elements[k][: cut % max(1, len(elements[k]) - 1)] or b"{"
    data = b"[" + b",\n".join(elements) + b"]\n"
    (row,) = fuzz_case.check([fuzz_case.write(name, data)])
    assert row["records"] == len(elements), row
    assert row["stored"] >= len(elements) - 1, row


def test_the_seeds_are_real_files_of_each_format(fuzz_case: FuzzCase) -> None:
    """The unmutated seeds are read by the reader of their format and stored (so the mutations
    start from real records, not from files no reader takes)."""
    for fmt in ("ecs", "zeek", "lanl", "dhcpsrv", "evtx"):
        for name, data in seeds(fmt):
            (row,) = fuzz_case.check([fuzz_case.write(name, data)], expect=expected_records, content=data)
            assert row["format"] == fmt, (name, row)
            assert row["stored"] > 0, (name, row)
    assert os.environ.get("WORMSIGN_FUZZ", "ci") in ("ci", "long")
