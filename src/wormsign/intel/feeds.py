"""Read indicator feeds (abuse.ch Feodo Tracker CSV and JSON, plain lists) and pick a reader by content.

Every reader yields ``(line, Indicator)`` or ``(line, error text)``: a bad row is named and
counted, and the rows after it are still read. STIX and MISP live in their own modules.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

import orjson

from wormsign.ingest.base import parse_ts
from wormsign.intel.indicators import Indicator, IndicatorError, canon_port, classify, make
from wormsign.text import FORMULA_START

Row = tuple[int, Indicator | str]

FEODO_CSV_COLUMNS = ("first_seen_utc", "dst_ip", "dst_port", "c2_status", "last_online", "malware")
#: AS numbers are 32-bit (RFC 6793).
MAX_ASN = 2**32 - 1


def sniff(text: str) -> str:
    """The format of a feed from its content: stix, misp, feodo-json, feodo-csv or list."""
    head = text.lstrip()[:4096]
    if head.startswith("{"):
        if '"type"' in head and '"bundle"' in head:
            return "stix"
        return "misp"
    if head.startswith("["):
        return "misp" if '"Event"' in head else "feodo-json"
    for line in text.splitlines()[:200]:
        s = line.strip().lstrip("#").strip()
        if "dst_ip" in s and "dst_port" in s:
            return "feodo-csv"
        if line.strip() and not line.lstrip().startswith("#"):
            return "feodo-csv" if line.count(",") == 5 and line.lstrip().startswith('"') else "list"
    return "list"


def _ts(v: Any, what: str) -> Any:
    if v in (None, "", "null"):
        return None
    t = parse_ts(v)
    if t is None:
        raise IndicatorError(f"unreadable {what} time {str(v)[:40]!r}")
    return t


def feodo_csv(
    text: str, *, source: str, family: str | None = None, incident: str | None = None
) -> Iterator[Row]:
    """The Feodo Tracker CSV blocklist: ``first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware``."""
    lines = text.splitlines()
    for lineno, fields in _csv_rows(lines):
        if [f.strip().lower() for f in fields] == list(FEODO_CSV_COLUMNS):
            continue  # an uncommented header
        if len(fields) != 6:
            yield lineno, f"expected 6 columns ({','.join(FEODO_CSV_COLUMNS)}), found {len(fields)}"
            continue
        first, ip, port, status, last, malware = (f.strip() for f in fields)
        try:
            ind = make(
                "ip_port",
                f"{ip}:{canon_port(port)}",
                family=malware or family,
                source=source,
                first_seen=_ts(first, "first_seen_utc"),
                last_seen=_ts(last, "last_online"),
                status=status or None,
                incident=incident,
            )
        except IndicatorError as exc:
            yield lineno, str(exc)
            continue
        yield lineno, ind


def _csv_rows(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            yield lineno, next(csv.reader([line]))
        except csv.Error as exc:
            yield lineno, [f"<{exc}>"]


def feodo_json(
    text: str, *, source: str, family: str | None = None, incident: str | None = None
) -> Iterator[Row]:
    """The Feodo Tracker JSON blocklist: an array of ``{ip_address, port, status, ..., malware}``."""
    for lineno, item in json_array(text):
        if isinstance(item, BadJSON):
            yield lineno, str(item)
            continue
        if not isinstance(item, dict):
            yield lineno, f"expected an object, found {type(item).__name__}"
            continue
        try:
            ind = make(
                "ip_port",
                f"{item.get('ip_address') or ''}:{canon_port(item.get('port'))}",
                family=item.get("malware") or family,
                source=source,
                first_seen=_ts(item.get("first_seen"), "first_seen"),
                last_seen=_ts(item.get("last_online"), "last_online"),
                asn=_asn(item.get("as_number")),
                as_name=item.get("as_name"),
                country=item.get("country"),
                status=item.get("status"),
                incident=incident,
            )
        except IndicatorError as exc:
            yield lineno, str(exc)
            continue
        yield lineno, ind
        host = item.get("hostname")
        if isinstance(host, str) and host.strip():
            try:
                yield lineno, make("domain", host, family=ind.family, **_shared(ind))
            except IndicatorError as exc:
                yield lineno, f"hostname: {exc}"


def _shared(ind: Indicator) -> dict[str, Any]:
    keys = ("source", "first_seen", "last_seen", "asn", "as_name", "country", "status", "incident")
    return {k: getattr(ind, k) for k in keys}


def _asn(v: Any) -> int | None:
    """An AS number (an integer, or ASCII digits) in 0..2**32-1; None for blank; IndicatorError otherwise."""
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not (
        isinstance(v, int) or (isinstance(v, str) and v.isascii() and v.strip().isdigit())
    ):
        raise IndicatorError(f"as_number is not a whole number from 0 to {MAX_ASN}: {str(v)[:40]!r}")
    if isinstance(v, str) and len(v.strip()) > 10:
        raise IndicatorError(f"as_number out of range: {v.strip()[:20]}... (AS numbers are 0 to {MAX_ASN})")
    n = int(v)
    if not 0 <= n <= MAX_ASN:
        raise IndicatorError(f"as_number out of range (AS numbers are 0 to {MAX_ASN})")
    return n


class BadJSON(str):
    """Why an item of a JSON array could not be read (told apart from an item that is a string)."""


def json_array(text: str) -> Iterator[tuple[int, Any]]:
    """Items of a JSON array with the line each starts on.

    An item that is not strict JSON (a lone UTF-16 surrogate such as ``"\\ud800"``, which no
    store can hold) yields an error text and the next items are still read; broken syntax
    yields an error and stops.
    """
    dec = json.JSONDecoder()
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        yield 1, BadJSON("not a JSON array")
        return
    pos = _skip(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            _item, end = dec.raw_decode(text, pos)  # only to find where the item ends
        except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python reads
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:200]
            yield line, BadJSON(f"bad JSON: {why} (the rest of the file cannot be read)")
            return
        except RecursionError:
            yield line, BadJSON("bad JSON: nested too deeply (the rest of the file cannot be read)")
            return
        try:
            yield line, orjson.loads(text[pos:end])
        except orjson.JSONDecodeError as exc:
            yield line, BadJSON(f"bad JSON: {str(exc)[:200]}")
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _unguard(v: str) -> str:
    """A cell as written before ``intel export --format csv`` guarded it against spreadsheet formulas."""
    return v[1:] if v[:1] == "'" and v.lstrip("'").startswith(FORMULA_START) else v


def plain_list(
    text: str, *, source: str, family: str | None = None, incident: str | None = None
) -> Iterator[Row]:
    """One indicator a line (``#`` comments), or CSV ``value,family[,type,first_seen,last_seen]``.

    The type is guessed from the value unless the line gives it; a ``value,family,...``
    header line (as ``intel export --format csv`` writes) is skipped.
    """
    for lineno, fields in _csv_rows(text.splitlines()):
        if len(fields) == 1 and "\t" in fields[0]:
            fields = fields[0].split("\t")
        fields = [_unguard(f.strip()) for f in fields]
        value = fields[0]
        if value.lower() == "value" and len(fields) > 1 and fields[1].lower() == "family":
            continue
        fam = (fields[1] if len(fields) > 1 else "") or family
        if not fam:
            yield lineno, f"no family for {value[:80]!r}: give --family or a 'value,family' line"
            continue
        try:
            kind = fields[2] if len(fields) > 2 and fields[2] else classify(value)
            first = _ts(fields[3], "first_seen") if len(fields) > 3 else None
            last = _ts(fields[4], "last_seen") if len(fields) > 4 else None
            yield (
                lineno,
                make(
                    kind,
                    value,
                    family=fam,
                    source=source,
                    incident=incident,
                    first_seen=first,
                    last_seen=last,
                ),
            )
        except IndicatorError as exc:
            yield lineno, str(exc)
