"""EVTX converted to JSON by ``evtx_dump`` (JSONL, and pretty JSON after ``Record N`` lines)
gives the events the EVTX gives. The JSON is made here with the ``evtx`` package, whose
``records_json`` is evtx_dump's own serialisation of each record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from evtx import PyEvtxParser

from wormsign.ingest import ingest_paths
from wormsign.ingest.evtx_dump import EvtxDumpReader
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FILES = (
    "real-multihost/ID5145-service massive remote creation via named pipe - Tchopper.evtx",  # Security
    "real-multihost/ID7000,7009,7045-Payload deployed via service - Tchopper.evtx",  # System
    "real-multihost/ID4768-4771-Kerberos brutforce with non existing users.evtx",  # DC Security
    "evtx-attack-samples/Lateral Movement/LM_sysmon_3_12_13_1_SharpRDP.evtx",  # Sysmon
)


def _events(case_dir: Path, path: Path) -> tuple[list[dict[str, Any]], Any]:
    with Case.open(str(case_dir)) as case:
        report = ingest_paths([str(path)], case, workers=1)
        rows = case.query('SELECT * EXCLUDE (eid) FROM events ORDER BY "src.record"').to_pylist()
    for r in rows:
        r["raw"] = json.loads(r["raw"]) if r.get("raw") else r.get("raw")  # same record, any spacing
    return rows, report


def _records(evtx: Path) -> list[dict[str, Any]]:
    return list(PyEvtxParser(str(evtx)).records_json())


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events without their source pointer, in one order (time, then the record)."""
    out = [{k: v for k, v in r.items() if not k.startswith("src.")} for r in rows]
    return sorted(out, key=lambda r: (r["ts"], json.dumps(r["raw"], sort_keys=True)))


@pytest.mark.parametrize("name", FILES)
def test_evtx_dump_gives_the_evtx_events(name: str, tmp_path: Path) -> None:
    evtx = CORPUS / name
    if not evtx.is_file():
        pytest.skip(f"{name} is not in ../shared/corpus")
    recs = _records(evtx)
    jsonl = tmp_path / "dump.jsonl"  # evtx_dump -o jsonl: one record a line
    jsonl.write_text("".join(json.dumps(json.loads(r["data"]), ensure_ascii=False) + "\n" for r in recs),
                     encoding="utf-8")
    pretty = tmp_path / "dump.json"  # evtx_dump -o json: "Record N", then the record indented
    pretty.write_text("".join(f"Record {r['event_record_id']}\n{json.dumps(json.loads(r['data']), indent=2)}\n"
                              for r in recs), encoding="utf-8")

    want, rep = _events(tmp_path / "evtx", evtx)
    assert want and rep.stats.rejected == 0
    for dump in (jsonl, pretty):
        got, report = _events(tmp_path / dump.suffix[1:], dump)
        assert report.by_format == {"evtx-json": 1} and report.stats.rejected == 0
        assert report.stats.stored == len(want) == len(recs)
        assert _strip(got) == _strip(want)
        assert {r["src.format"] for r in got} == {"evtx-json"}
        if dump is pretty:  # its "Record N" lines number the records as the EVTX reader does
            assert [r["src.record"] for r in got] == [r["src.record"] for r in want]


def test_evtx_dump_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    evtx = CORPUS / FILES[1]
    if not evtx.is_file():
        pytest.skip("../shared/corpus is not beside the repository")
    recs = [json.dumps(json.loads(r["data"]), indent=2) for r in _records(evtx)]
    cut = recs[1].splitlines()
    dump = tmp_path / "dump.json"
    # a record cut off by the next one, a record that is not one, and the rest whole
    dump.write_text("Record 1\n" + recs[0] + "\nRecord 2\n" + "\n".join(cut[: len(cut) // 2])
                    + "\nRecord 3\n" + '{"Event": 5}' + "\n" + "\n".join(recs[2:]) + "\n", encoding="utf-8")
    assert EvtxDumpReader().sniff(dump.read_bytes()[:4096], None)  # type: ignore[arg-type]
    with Case.open(str(tmp_path / "c")) as case:
        report = ingest_paths([str(dump)], case, workers=1)
    assert report.stats.stored == len(recs) - 1  # all but the cut one
    assert report.stats.rejected == 2 and report.stats.reasons == {"bad-record": 2}


def test_evtx_dump_sniff_leaves_other_json_alone() -> None:
    sniff = EvtxDumpReader().sniff
    assert sniff(b'{"Event":{"System":{}}}\n', None)  # type: ignore[arg-type]
    assert sniff(b'Record 7\n{\n  "Event": {\n', None)  # type: ignore[arg-type]
    assert not sniff(b'{"@timestamp":"2024-01-01T00:00:00Z","winlog":{"event_id":4624}}\n', None)  # type: ignore[arg-type]
    assert not sniff(b'{"EventID":4624,"Channel":"Security","Hostname":"x"}\n', None)  # type: ignore[arg-type]
    assert not sniff(b'{"ts":1.0,"uid":"C1","_path":"conn"}\n', None)  # type: ignore[arg-type]
