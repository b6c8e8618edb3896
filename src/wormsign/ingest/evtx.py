"""Windows EVTX files, parsed by the ``evtx`` package (Rust)."""

from __future__ import annotations

from typing import Any

import orjson
from evtx import PyEvtxParser

from wormsign.ingest.base import Sink, Source, parse_ts, to_int
from wormsign.ingest.windows import WinEvent, load_mapper

MAGIC = b"ElfFile\x00"


def unwrap_system(system: dict[str, Any]) -> tuple[str | None, str | None, int | None, str | None, Any, int | None]:
    """(channel, provider, event id, computer, time, record id) of an EVTX ``System`` element."""
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    prov = system.get("Provider")
    provider = prov.get("#attributes", {}).get("Name") if isinstance(prov, dict) else None
    tc = system.get("TimeCreated")
    ts = tc.get("#attributes", {}).get("SystemTime") if isinstance(tc, dict) else None
    return (
        system.get("Channel"),
        provider,
        to_int(eid),
        system.get("Computer"),
        ts,
        to_int(system.get("EventRecordID")),
    )


def flatten_data(event: dict[str, Any]) -> dict[str, Any]:
    """EventData or UserData as one flat name -> value dict."""
    data = event.get("EventData")
    if isinstance(data, dict):
        out = {k: v for k, v in data.items() if k != "#attributes"}
        if "Data" in out and isinstance(out["Data"], dict) and "#text" in out["Data"]:
            text = out.pop("Data")["#text"]
            out["Data"] = "\n".join(map(str, text)) if isinstance(text, list) else text
        return out
    user = event.get("UserData")
    if isinstance(user, dict):
        out: dict[str, Any] = {}
        for v in user.values():
            if isinstance(v, dict):
                out.update({k: x for k, x in v.items() if k != "#attributes"})
        return out
    return {}


class EvtxReader:
    """Reads EVTX through ``PyEvtxParser.records_json``; a corrupt chunk costs only its records."""

    name = "evtx"

    def sniff(self, head: bytes, source: Source) -> bool:
        return head.startswith(MAGIC)

    #: After this many errors in a row without a good record, the rest of the file is given up.
    MAX_CONSECUTIVE_ERRORS = 10_000

    def read(self, source: Source, sink: Sink) -> None:
        mapper = load_mapper()
        target: Any = source.disk_path or source.open()
        try:
            records = iter(PyEvtxParser(target, number_of_threads=1).records_json())
        except (RuntimeError, OSError, ValueError) as exc:
            sink.reject(None, "corrupt-file", f"not a readable EVTX file: {exc}")
            return
        errors_in_row = 0
        while True:
            # The parser raises on a bad record or chunk and then goes on with the next one.
            try:
                rec = next(records)
            except StopIteration:
                break
            except (RuntimeError, OSError, ValueError) as exc:
                sink.reject(None, "corrupt-record", str(exc).splitlines()[0][:300])
                errors_in_row += 1
                if errors_in_row >= self.MAX_CONSECUTIVE_ERRORS:
                    sink.reject(None, "corrupt-file", "too many errors in a row; rest of file skipped")
                    break
                continue
            errors_in_row = 0
            self._one(rec, mapper, sink)

    @staticmethod
    def _one(rec: dict[str, Any], mapper: Any, sink: Sink) -> None:
        recno = rec.get("event_record_id")
        text = rec.get("data") or ""
        try:
            doc = orjson.loads(text)
            event = doc["Event"]
            system = event["System"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            sink.reject(recno, "bad-record", f"unreadable event XML/JSON: {exc}")
            return
        chan, prov, eid, comp, ts, rid = unwrap_system(system)
        row = mapper.map(
            WinEvent(chan, prov, eid, comp, parse_ts(ts or rec.get("timestamp")), rid or recno,
                     flatten_data(event), text)
        )
        row["src.record"] = recno if recno is not None else rid
        sink.add(row)
