"""The writer's fast paths give the bytes of the plain ones: Winlogbeat lines, spilled server records,
compression on a worker thread."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from wormsign.simulate import gzout, simulate, writer
from wormsign.simulate.winlog import document


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _same(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert len(fa) > 10 and fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []


def test_lines_are_the_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``winlog.line`` is ``orjson.dumps(document(...))``: a run written through the reference gives the same files."""
    simulate("emotet-qakbot", 30, 2, 4, tmp_path / "fast", attack_at=20.0)
    monkeypatch.setattr(writer, "line", lambda ev, h, rec, eid: orjson.dumps(document(ev, h, rec, eid)).decode())
    simulate("emotet-qakbot", 30, 2, 4, tmp_path / "ref", attack_at=20.0)
    _same(tmp_path / "fast", tmp_path / "ref")


def test_spilled_server_records_merge_back_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers' records spilled in many small sorted runs come back as if they had stayed in memory."""
    simulate("wannacry", 60, 2, 8, tmp_path / "held", chunk_hosts=7)
    spills: list[int] = []
    add = writer.Spill.add

    def counted(self: writer.Spill, idx: int, events: list[writer.WinEvent]) -> None:
        spills.append(len(events))
        add(self, idx, events)

    monkeypatch.setattr(writer, "SPILL_EVENTS", 40)
    monkeypatch.setattr(writer, "SPILL_BATCH", 9)
    monkeypatch.setattr(writer.Spill, "add", counted)
    simulate("wannacry", 60, 2, 8, tmp_path / "spilled", chunk_hosts=7)
    assert len(spills) > 20 and max(spills) > writer.SPILL_BATCH  # runs of several batches
    _same(tmp_path / "held", tmp_path / "spilled")


def test_compressor_writes_in_order_and_reports_failures(tmp_path: Path) -> None:
    import gzip

    c = gzout.Compressor()
    files = [c.open(str(tmp_path / f"{i}.gz"), 6) for i in range(3)]
    for n in range(200):
        for i, f in enumerate(files):
            f.write(f"{i}:{n}\n".encode())
    for f in files:
        f.close()
    c.finish()
    for i in range(3):
        assert gzip.decompress((tmp_path / f"{i}.gz").read_bytes()).decode().split() == [f"{i}:{n}" for n in range(200)]
        plain = gzout.open_plain(str(tmp_path / f"p{i}.gz"), 6)
        plain.write(b"".join(f"{i}:{n}\n".encode() for n in range(200)))
        plain.close()
        assert (tmp_path / f"p{i}.gz").read_bytes() == (tmp_path / f"{i}.gz").read_bytes()
    bad = gzout.Compressor()
    f = bad.open(str(tmp_path / "bad.gz"), 6)
    f.close()
    f.write(b"after close\n")  # fails on the worker thread
    with pytest.raises(ValueError):
        bad.finish()
