"""The readers wormsign knows, and picking one by content."""

from __future__ import annotations

from functools import cache

from wormsign.ingest.base import Reader, Source


@cache
def readers() -> tuple[Reader, ...]:
    """Every reader, most specific first. Add a new reader here (see docs/adding-a-reader.md)."""
    from wormsign.ingest.dhcpsrv import DhcpSrvReader
    from wormsign.ingest.evtx import EvtxReader
    from wormsign.ingest.evtx_dump import EvtxDumpReader
    from wormsign.ingest.jsonl import JsonLinesReader
    from wormsign.ingest.lanl import LanlReader
    from wormsign.ingest.zeek import ZeekReader

    return (
        EvtxReader(),
        EvtxDumpReader(),  # before the JSON reader, which would take its records for flat JSON
        ZeekReader(),
        JsonLinesReader(),
        DhcpSrvReader(),
        LanlReader(),
    )


def pick(source: Source, head: bytes) -> Reader | None:
    """The first reader whose ``sniff`` accepts the head of the source."""
    for r in readers():
        if r.sniff(head, source):
            return r
    return None
