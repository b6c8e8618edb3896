"""The API's response models: what each endpoint answers, for ``/openapi.json``.

Incidents and alerts are the hunt's own records (:mod:`wormsign.results`); an event is one row of
the event model (:data:`wormsign.schema.FIELDS`), its dotted names kept as the JSON keys.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, create_model

from wormsign import schema
from wormsign.results import Alert, Edge, FileSpread, Incident, NextHop


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseSummary(_Out):
    """Counts and time span of a case's events."""

    id: str = Field(description="the case's directory name")
    name: str = Field(description="the case's directory name")
    events: int = Field(description="events stored")
    hosts: int = Field(description="distinct hosts")
    sources: int = Field(description="source files ingested")
    first: str | None = Field(None, description="time of the first event")
    last: str | None = Field(None, description="time of the last event")
    as_of_hunt: bool | None = Field(None, description="true: the counts of the last hunt (the case is being written)")


class CaseInfo(CaseSummary):
    hunt: bool = Field(description="whether the case has a hunt result")


class HuntInfo(_Out):
    format: str | None = None
    generator: str | None = None
    generated_at: str | None = None


class ViewCase(_Out):
    name: str
    events: int
    hosts: int
    sources: int
    first: str | None = None
    last: str | None = None
    as_of_hunt: bool | None = None


class ViewTable(_Out):
    """A table ready to show: every cell is text."""

    id: str = Field(description="files or next_hops")
    title: str
    columns: list[str]
    rows: list[list[str]]


class View(_Out):
    """Everything the dashboard shows (the report's view without its evidence events)."""

    format: str = Field(description="wormsign.view/1")
    case: ViewCase
    hunt: HuntInfo
    incidents: list[Incident]
    alerts: list[Alert]
    attack: dict[str, str] = Field(description="ATT&CK technique id -> name, for the techniques cited")
    colours: dict[str, str | list[str]] = Field(description="state, severity and generation colours")
    addresses: dict[str, str] = Field(default_factory=dict, description="an incident host's address (the report's)")
    tables: dict[str, list[ViewTable]] = Field(
        default_factory=dict, description="per outbreak id: its per-file infection tree and next likely hops, as tables")


class IncidentBrief(_Out):
    id: str
    type: str
    title: str
    severity: str
    first_seen: str | None = None
    last_seen: str | None = None
    patient_zero: str | None = None
    hosts: int = Field(description="how many hosts")
    edges: int = Field(description="how many infection edges")


class IncidentList(_Out):
    total: int
    incidents: list[IncidentBrief]


class GraphNode(_Out):
    host: str
    state: str
    infected_at: str | None = None
    infector: str | None = None
    generation: int | None = None
    technique: str | None = None
    families: list[str] = Field(default_factory=list)
    hashes: list[str] = Field(default_factory=list)


class Graph(_Out):
    incident: str
    patient_zero: str | None = None
    nodes: list[GraphNode]
    edges: list[Edge]


class FileSpreadOf(FileSpread):
    """A FILE of incidents.json with the incident it belongs to."""

    incident: str = Field(description="the incident's id")


class FileList(_Out):
    total: int
    files: list[FileSpreadOf]


class NextHops(_Out):
    incident: str
    next_hops: list[NextHop]


class _Page(_Out):
    total: int
    limit: int
    offset: int


class AlertPage(_Page):
    alerts: list[Alert]


class HostSummary(_Out):
    host: str | None
    events: int
    first: str | None = None
    last: str | None = None


class HostPage(_Page):
    hosts: list[HostSummary]


class HostPart(GraphNode):
    """A host's part in one incident: the incident's id and its HOST record."""

    incident: str | None


class HostInfo(_Out):
    host: str
    events: int
    kinds: dict[str, int] = Field(description="events by kind")
    first: str | None = None
    last: str | None = None
    incidents: list[HostPart]


def _py_type(t: pa.DataType) -> Any:
    if pa.types.is_integer(t):
        return int
    if pa.types.is_boolean(t):
        return bool
    if pa.types.is_floating(t):
        return float
    if pa.types.is_list(t):
        return list[_py_type(t.value_type)]  # type: ignore[misc]
    return str  # text, and times as ISO text


def _event_model() -> type[BaseModel]:
    """One event of the event model: every field of :data:`schema.FIELDS` (null ones left out),
    its reference, and whether ``raw`` was cut."""
    fields: dict[str, Any] = {
        f"f{i}": (_py_type(f.type) | None, Field(None, alias=f.name, description=f.doc))
        for i, f in enumerate(schema.FIELDS)
    }
    fields["ref"] = (str, Field(description="<src.digest>:<src.record>"))
    fields["raw_truncated"] = (bool | None, Field(None, description="true when raw was cut to the bound"))
    return create_model("Event", __config__=ConfigDict(extra="forbid", populate_by_name=True,
                                                       serialize_by_alias=True), **fields)


Event = _event_model()


class EventPage(_Out):
    total: int = Field(description="matches (at most the count bound)")
    total_exact: bool = Field(description="whether total is every match")
    limit: int
    offset: int
    events: list[Event]  # type: ignore[valid-type]


class Evidence(_Out):
    events: dict[str, Event] = Field(description="the events found, by reference")  # type: ignore[valid-type]
    missing: list[str] = Field(description="references not found")


class LiveLineError(_Out):
    line: int = Field(description="1-based line of the body")
    reason: str


class LiveAccepted(_Out):
    """The answer to POST /api/events (live ingest, :mod:`wormsign.api.live`)."""

    accepted: int = Field(description="documents spooled")
    rejected: int = Field(description="lines that are no JSON document")
    errors: list[LiveLineError] = Field(description="the first rejected lines")
    spooled_at: str | None = Field(None, description="the spool position after these documents")


class LiveSpool(_Out):
    end: str = Field(description="the spool's end position")
    committed: str | None = Field(None, description="the position committed to the case")
    backlog_bytes: int = Field(description="bytes spooled, not committed yet")


class LiveWriter(_Out):
    commits: int
    frames: int
    duplicate_frames: int
    events_stored: int
    records_rejected: int
    copies_dropped: int = Field(0, description="records the case already held (same channel, computer, record id "
                                               "and time: a resent request regrouped), not stored again")
    shards_merged: int = Field(0, description="small shards the cycles committed, merged after hunts "
                                              "(more than compact_shards of them become one)")
    last_commit_at: str | None = None
    hunts: int
    last_hunt_at: str | None = None
    last_hunt_s: float | None = None
    hunted_to: str | None = None
    last_error: str | None = None
    cycles: int = Field(0, description="cycles run (open the case, commit, hunt when due)")
    seconds: dict[str, float] = Field(default_factory=dict,
                                      description="seconds spent opening the case, committing and hunting, "
                                                  "summed over the cycles")


class LiveEarly(_Out):
    """The early alerts' lane (the in-house single-event Sigma rules on what arrives, before the hunt)."""

    batches: int = Field(description="batches of requests read")
    events: int = Field(description="events read")
    matches: int = Field(description="events a rule matched")
    dropped: int = Field(0, description="matches let go before a hunt covered them (early_max_matches)")
    alerts: int = Field(0, description="early alerts shown when last asked")
    seconds: float = Field(0.0, description="CPU seconds of the lane's thread")
    last_error: str | None = None


class LiveStatus(_Out):
    """GET /api/live: requests taken, the spool position, commits and hunts."""

    enabled: bool
    requests: int | None = None
    documents: int | None = None
    refused_lines: int | None = None
    throttled: int | None = None
    spool: LiveSpool | None = None
    idle: bool | None = None
    writer: LiveWriter | None = None
    early: LiveEarly | None = None
