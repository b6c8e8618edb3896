"""Odd Zeek headers and a broken first line: the records are still read, and counted right."""

from __future__ import annotations

from pathlib import Path

from wormsign.ingest import ingest_paths
from wormsign.store import Case

HEAD = "#separator \\x09\n#set_separator\t{set_sep}\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
FIELDS = "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttunnel_parents\n"
TYPES = "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tset[string]{extra}\n"
ROW = "1709370000.{n}\tC{n}\t10.0.0.{n}\t5000{n}\t10.0.1.9\t445\ttcp\ta,b\n"


def _ingest(tmp_path: Path, name: str, text: str) -> tuple[object, list[tuple]]:
    f = tmp_path / name
    f.write_text(text)
    with Case.open(str(tmp_path / f"{name}.duckdb")) as case:
        report = ingest_paths([str(f)], case, workers=1)
        rows = case.rows('SELECT "event.id", "destination.port" FROM events ORDER BY "src.record"')
    return report, rows


def test_empty_set_separator_and_long_types_line_still_read(tmp_path: Path) -> None:
    text = HEAD.format(set_sep="") + FIELDS + TYPES.format(extra="\tset[string]\tcount") + ROW.format(n=1) + ROW.format(n=2)
    report, rows = _ingest(tmp_path, "conn.log", text)
    assert report.stats.read == 2 and report.stats.rejected == 0, report.stats
    assert rows == [("C1", 445), ("C2", 445)]


def test_zeek_json_with_a_broken_first_line_goes_to_the_zeek_reader(tmp_path: Path) -> None:
    good = '{"ts": 1709370000.5, "uid": "CX%d", "id.orig_h": "10.0.0.5", "id.orig_p": 5000, ' \
           '"id.resp_h": "10.0.1.9", "id.resp_p": 445, "proto": "tcp", "conn_state": "SF", "duration": 1.0}'
    text = '{"ts": 1709370000.1, "uid": "CX0", "id.orig_h"\n' + "\n".join(good % i for i in (1, 2)) + "\n"
    report, rows = _ingest(tmp_path, "conn.json", text)
    assert report.by_format == {"zeek": 1}
    assert report.stats.read == 3 and report.stats.rejected == 1 and report.stats.reasons["bad-json"] == 1
    assert rows == [("CX1", 445), ("CX2", 445)]
