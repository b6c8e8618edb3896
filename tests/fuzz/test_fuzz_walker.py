"""The path and archive walker, fed trees of mutated real files: plain, gzipped, in zips (nested,
cut, damaged, with odd member names), under odd folder and file names. Every file and member is
accounted for in the case, and the invariant of each file holds (see fuzzkit.FuzzCase.check)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

from fuzzkit import ODD_MEMBER_NAMES, FuzzCase, all_seeds, gzip_bytes, mutate, text_mutations, zip_bytes
from hypothesis import example, given
from hypothesis import strategies as st

from wormsign.ingest.base import Source
from wormsign.ingest.walk import digest, sources

PLACES = ("plain", "gzip", "gzip-cut", "zip", "zip-gzip", "nested-zip", "subdir")
ZIP_DAMAGE = ("none", "none", "cut", "flip")
FOLDERS = ("sub", "bad\udcfe", "new\nline", ".hid", "a" * 120)

entry = st.tuples(
    st.integers(0, 255),  # which seed
    text_mutations,
    st.sampled_from(PLACES),
    st.sampled_from(ODD_MEMBER_NAMES),
    st.integers(0, 1 << 20),  # where a cut or flip lands
)


def _tree(top: str, entries: list[tuple], damage: str, where: int) -> None:
    pool = all_seeds()
    members: list[tuple[str, bytes]] = []
    nested: list[tuple[str, bytes]] = []
    for i, (which, ops, place, member, at) in enumerate(entries):
        name, seed = pool[which % len(pool)]
        data = mutate(seed, ops)
        disk = os.path.join(top, f"{i}-{name}")
        if place == "plain":
            _put(disk, data)
        elif place == "gzip":
            _put(disk + ".gz", gzip_bytes(data))
        elif place == "gzip-cut":
            _put(disk + ".gz", gzip_bytes(data, cut=at))
        elif place == "subdir":
            folder = os.path.join(top, FOLDERS[at % len(FOLDERS)])
            os.makedirs(folder, exist_ok=True)
            _put(os.path.join(folder, f"{i}-{name}"), data)
        elif place == "nested-zip":
            nested.append((member, data))  # two members of one name may come up: both are read
        else:
            members.append((member, gzip_bytes(data) if place == "zip-gzip" else data))
    if nested:
        members.append(("inner.zip", zip_bytes(nested)))
    if members:
        packed = bytearray(zip_bytes(members, stored=where % 2 == 0))
        if damage == "cut":
            del packed[where % len(packed):]
        elif damage == "flip":
            packed[where % len(packed)] ^= 0x41
        _put(os.path.join(top, "collection.zip"), bytes(packed))


def _put(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


@given(entries=st.lists(entry, min_size=1, max_size=5), damage=st.sampled_from(ZIP_DAMAGE),
       where=st.integers(0, 1 << 20), workers=st.sampled_from((1, 1, 1, 2)))
def test_trees_of_files_and_archives_are_accounted_for(fuzz_case: FuzzCase, entries: list[tuple], damage: str,
                                                       where: int, workers: int) -> None:
    top = fuzz_case.folder()
    _tree(top, entries, damage, where)
    rows = fuzz_case.check_tree(top, workers=workers)
    assert rows, "a tree with files in it gave no sources row"


@given(first=st.integers(0, 255), second=st.integers(1, 255))
@example(first=0, second=1)  # found by this suite: '../../escape.log' twice in one zip
def test_two_zip_members_of_one_name_are_both_accounted_for(fuzz_case: FuzzCase, first: int,
                                                            second: int) -> None:
    pool = all_seeds()
    a, b = pool[first % len(pool)][1], pool[(first + second) % len(pool)][1]
    if a == b:
        b += b"\n"
    top = fuzz_case.folder()
    _put(os.path.join(top, "collection.zip"), zip_bytes([("dup.log", a), ("dup.log", b)]))
    with zipfile.ZipFile(os.path.join(top, "collection.zip")) as zf:
        assert [i.filename for i in zf.infolist()] == ["dup.log", "dup.log"]
    fuzz_case.check_tree(top)  # both contents are in the case (rows by content: named as first seen)
    found = [s for s in sources([top]) if isinstance(s, Source)]
    assert [s.name.rsplit("/", 1)[-1] for s in found] == ["collection.zip!dup.log", "collection.zip!dup.log #2"]
    assert [digest(s) for s in found] == [hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()]


def test_two_damaged_zip_members_of_one_name_are_both_rejected(fuzz_case: FuzzCase) -> None:
    """Neither reads (a flipped byte in each deflated stream): both are counted, one row each."""
    top = fuzz_case.folder()
    packed = bytearray(zip_bytes([("dup.log", b"x" * 5000), ("dup.log", b"y" * 5000)]))
    with zipfile.ZipFile(io.BytesIO(bytes(packed))) as zf:
        starts = [i.header_offset + 30 + len(i.filename) for i in zf.infolist()]
    for at in starts:
        packed[at + 2] ^= 0xFF  # inside each member's compressed data
    _put(os.path.join(top, "collection.zip"), bytes(packed))
    rows = fuzz_case.check([top])
    assert len(rows) == 2 and len({r["digest"] for r in rows}) == 2, rows
    assert sorted(r["file"].rsplit("/", 1)[-1] for r in rows) == ["collection.zip!dup.log",
                                                                   "collection.zip!dup.log #2"]
    assert all(r["rejected"] == r["records"] == 1 and r["stored"] == 0 for r in rows), rows
