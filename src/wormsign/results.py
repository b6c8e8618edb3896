"""The hunt's results as typed records: alerts, incidents and their parts (docs/formats.md).

Times are ``datetime`` (aware, UTC) inside a record and one ISO form at the edge,
:data:`TIME_FORMAT` (``2026-03-02T09:14:07.250000Z``): every time a record is dumped to JSON
(incidents.json, alerts.ndjson, the API) is written by :func:`iso`. A record is built from the
hunt's working dicts by :meth:`pydantic.BaseModel.model_validate` (a time given as ISO text, with
a ``Z`` or an offset, or as a naive datetime taken as UTC) and refuses keys it does not declare, so
a key the hunt adds without declaring (and documenting) it here fails the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_serializer

#: The one ISO 8601 form of every time in wormsign's JSON outputs.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(t: datetime | None) -> str | None:
    """``t`` in :data:`TIME_FORMAT` (a naive time is UTC); None stays None."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(v: Any) -> datetime | None:
    """A datetime from a datetime (naive: UTC) or ISO text (``Z`` or an offset); None for None/''."""
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        t = v
    elif isinstance(v, str):
        t = datetime.fromisoformat(v.replace("Z", "+00:00") if v.endswith("Z") else v)
    else:
        raise ValueError(f"not a time: {v!r}"[:200])
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


#: A time field: datetime inside, :data:`TIME_FORMAT` text in JSON.
Time = Annotated[
    datetime,
    BeforeValidator(parse_time),
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-03-02T09:14:07.250000Z"]}),
]


class Record(BaseModel):
    """A record of the outputs: declared keys only."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values (times in :data:`TIME_FORMAT`)."""
        return self.model_dump(mode="json")


# -- alerts ---------------------------------------------------------------------------------------


class Alert(Record):
    """One alert (alerts.ndjson, docs/formats.md)."""

    id: str = Field(description="ALR-000001, stable within one hunt")
    rule: str = Field(description="the detection: an analytics rule id (docs/detections.md) or sigma:<rule id>")
    title: str = Field(description="the rule's title")
    severity: str = Field(description="critical, high, medium or low")
    attack: list[str] = Field(default_factory=list, description="ATT&CK technique ids")
    tactics: list[str] | None = Field(None, description="Sigma alerts only: the ATT&CK tactics the rule's tags name")
    ts: Time | None = Field(None, description="when the alert would have been raised")
    first_seen: Time | None = Field(None, description="time of its first evidence event")
    last_seen: Time | None = Field(None, description="time of its last evidence event")
    host: str | None = Field(None, description="host key where the alert is seen")
    source_host: str | None = Field(None, description="the host that acted (may equal host)")
    target_hosts: list[str] = Field(default_factory=list, description="hosts acted on")
    summary: str | None = Field(None, description="plain-language explanation")
    evidence: list[str] = Field(default_factory=list, description="event references <src.digest>:<src.record>")
    fields: dict[str, Any] = Field(default_factory=dict, description="rule-specific values (file.hash.sha256, count, ...)")

    @model_serializer(mode="wrap")
    def _drop_unset_tactics(self, handler: Any):  # type: ignore[no-untyped-def]  # noqa: ANN202
        # (no return annotation: the JSON schema is then the model's own, field by field)
        out = handler(self)
        if out.get("tactics") is None:
            out.pop("tactics", None)
        return out


# -- the parts of an incident ---------------------------------------------------------------------


class AccessStep(Record):
    """One step of patient zero's initial-access chain."""

    ts: Time = Field(description="when the step happened")
    host: str = Field(description="the host (patient zero)")
    step: Literal["process", "file", "exploit"] = Field(
        "process", description="process: a process started; file: the file written that was run next; "
        "exploit: the inbound exploit session from outside")
    process: str | None = Field(None, description="process steps: the executable started; file steps: the program that wrote it")
    parent: str | None = Field(None, description="process steps: its parent's executable")
    command_line: str | None = Field(None, description="process steps: its command line")
    file: str | None = Field(None, description="file steps: the path written (the next step runs it)")
    sha256: str | None = Field(None, description="the SHA-256 of the process image or file, where the telemetry has one")
    source: str | None = Field(None, description="exploit steps: the outside address the session came from")
    port: int | None = Field(None, description="exploit steps: the port it reached (445 for SMB)")
    ref: str | None = Field(None, description="the event reference of the step")
    attack: list[str] = Field(default_factory=list, description="ATT&CK techniques of the step")


class HostState(Record):
    """A HOST: one host's part in one incident."""

    host: str = Field(description="host key")
    state: Literal["infected", "attacked", "source"] = Field(description="infected, attacked (not infected) or source")
    infected_at: Time | None = Field(None, description="when it was infected (null if not infected)")
    infector: str | None = Field(None, description="the host that infected it (null for patient zero)")
    generation: int | None = Field(None, description="0 is patient zero")
    technique: str | None = Field(None, description="how it was infected (admin-share-copy+service, initial-access, ...)")
    families: list[str] = Field(default_factory=list, description="malware families seen on it")
    hashes: list[str] = Field(default_factory=list, description="SHA-256 of the files that infected it")


class EdgeFile(Record):
    """The file an infection edge carried."""

    name: str | None = Field(None, description="file name")
    path: str | None = Field(None, description="path on the target")
    sha256: str | None = Field(None, description="SHA-256 where the telemetry has one")


class Edge(Record):
    """An EDGE: one infection (source infected target)."""

    source: str = Field(description="the infecting host")
    target: str = Field(description="the infected host")
    ts: Time = Field(description="time of the infection")
    techniques: list[str] = Field(default_factory=list, description="ATT&CK ids")
    method: str = Field(description="admin-share-copy, service, scheduled-task, wmi, winrm, psexec, smb-exploit, remote-exec")
    file: EdgeFile | None = Field(None, description="the file carried, or null")
    account: str | None = Field(None, description="the account the infection used")
    evidence: list[str] = Field(default_factory=list, description="event references")
    alerts: list[str] = Field(default_factory=list, description="ids of the alerts that saw this edge")


class Lockout(Record):
    """A LOCKOUT: an account locked, when, by whose failed logons, recorded by which DC."""

    account: str | None = Field(None, description="the account locked")
    ts: Time | None = Field(None, description="when")
    source_host: str | None = Field(None, description="the host whose failed logons caused it")
    dc: str | None = Field(None, description="the domain controller that recorded it")
    ref: str | None = Field(None, description="event reference of the lockout")


class Accounts(Record):
    compromised: list[str] = Field(default_factory=list, description="accounts the attacker used or guessed")
    locked: list[Lockout] = Field(default_factory=list, description="lockouts")


class Family(Record):
    family: str = Field(description="malware family")
    hosts: list[str] = Field(default_factory=list, description="hosts it was seen on")
    c2: list[str] = Field(default_factory=list, description="its C2 servers, address:port")


class Delivery(Record):
    """"A delivered B on host"."""

    from_family: str | None = Field(None, description="the family that delivered")
    to_family: str | None = Field(None, description="the family delivered")
    host: str | None = Field(None, description="where")
    ts: Time | None = Field(None, description="when")
    ref: str | None = Field(None, description="event reference")
    method: str | None = Field(None, description="how (write-start: a file written, then started)")
    file: str | None = Field(None, description="the payload's path")
    evidence: list[str] | None = Field(None, description="event references")


class C2(Record):
    address: str = Field(description="server address")
    port: int | None = Field(None, description="server port")
    family: str | None = Field(None, description="family, when intel names it")
    hosts: list[str] = Field(default_factory=list, description="hosts that reached it")


class Containment(Record):
    host: str = Field(description="host to isolate")
    rank: int = Field(description="1 first")
    reason: str = Field(description="why at this rank")
    downstream: int = Field(description="infections that pass through it")


class Actions(Record):
    isolate: list[str] = Field(default_factory=list, description="hosts, in containment order")
    reset_credentials: list[str] = Field(default_factory=list, description="accounts")
    mfa: list[str] = Field(default_factory=list, description="accounts")
    block: list[str] = Field(default_factory=list, description="addresses (address:port)")


class FileHop(Record):
    """One host a file reached."""

    host: str = Field(description="the host the file reached")
    ts: Time = Field(description="when it reached it (the infection's time)")
    infector: str | None = Field(None, description="the host it came from (null: patient zero's entry)")
    method: str = Field(description="how it came (an EDGE's method, or initial-access)")
    name: str | None = Field(None, description="the file's name on that host")
    path: str | None = Field(None, description="its path there")
    evidence: list[str] = Field(default_factory=list, description="event references")


class FileSpread(Record):
    """One file of the per-file infection tree: which hosts it reached, when, how, from where."""

    key: str = Field(description="the file's SHA-256 where the telemetry has one, else name:<lower-case name>")
    sha256: str | None = Field(None, description="SHA-256 where the telemetry has one")
    names: list[str] = Field(default_factory=list, description="the names it had (worms rename their copies)")
    first_seen: Time = Field(description="when it first reached a host")
    hosts: list[FileHop] = Field(default_factory=list, description="the hosts it reached, in time order")


class HopEvidence(Record):
    """Why a host is a likely next hop: an infected host can reach it the way it spread."""

    source: str = Field(description="the host the contact came from (infected, but for credential evidence)")
    reason: Literal["exploit", "account", "credential", "attempt", "method"] = Field(
        description="account: an account of the outbreak's infections logged on to it from an infected host; "
        "credential: such an account logged on to it from another host; "
        "exploit: a payload-sized SMB session from an infected host, for an outbreak that spreads by SMB exploit; "
        "attempt: failed logons or a copy that never ran, from an infected host; "
        "method: other network logons or SMB sessions from an infected host")
    account: str | None = Field(None, description="the account, for account and attempt evidence")
    ts: Time = Field(description="the first such contact")
    count: int = Field(1, description="how many such contacts")
    refs: list[str] = Field(default_factory=list, description="event references (a few)")


class NextHop(Record):
    """A host not yet infected that the outbreak is likely to reach next."""

    host: str = Field(description="host key")
    rank: int = Field(description="1 most likely")
    score: float = Field(description="the ranking score: more infected sources, accounts of the spread and "
                         "attempts rank higher, later contacts higher")
    sources: list[str] = Field(default_factory=list, description="the infected hosts that reach it")
    accounts: list[str] = Field(default_factory=list, description="accounts of the spread that reach it")
    evidence: list[HopEvidence] = Field(default_factory=list, description="the contacts behind the rank")


INCIDENT_TYPES = ("outbreak", "bruteforce", "spray", "lateral", "beacon", "execution", "sigma")


class Incident(Record):
    """An INCIDENT of incidents.json."""

    id: str = Field(description="INC-0001, stable within one hunt")
    type: Literal["outbreak", "bruteforce", "spray", "lateral", "beacon", "execution", "sigma"] = Field(
        description="outbreak, bruteforce, spray, lateral, beacon, execution or sigma")
    title: str = Field(description="one line for a person")
    severity: str = Field(description="critical, high, medium, low")
    first_seen: Time | None = Field(None, description="span of the incident's evidence: start")
    last_seen: Time | None = Field(None, description="span of the incident's evidence: end")
    first_alert: Time | None = Field(None, description="time of the earliest alert that belongs to the incident")
    patient_zero: str | None = Field(None, description="first infected host")
    initial_access: list[AccessStep] = Field(default_factory=list, description="the causal chain on patient zero")
    hosts: list[HostState] = Field(default_factory=list, description="every host in the incident")
    edges: list[Edge] = Field(default_factory=list, description="infection edges")
    generations: list[list[str]] = Field(default_factory=list, description="hosts by generation; 0 is patient zero")
    spread_rate_per_hour: float = Field(0.0, description="infections per hour from first to last infection")
    r_estimate: float = Field(0.0, description="mean number of hosts each infected host infected")
    under_attack: list[str] = Field(default_factory=list, description="hosts attacked but not infected")
    accounts: Accounts = Field(default_factory=Accounts, description="compromised and locked accounts")
    families: list[Family] = Field(default_factory=list, description="families and their hosts and C2")
    deliveries: list[Delivery] = Field(default_factory=list, description="one family delivering another")
    c2: list[C2] = Field(default_factory=list, description="C2 servers reached")
    containment: list[Containment] = Field(default_factory=list, description="isolate in this order")
    actions: Actions = Field(default_factory=Actions, description="what to do")
    files: list[FileSpread] = Field(default_factory=list, description="the per-file infection tree")
    next_hops: list[NextHop] = Field(default_factory=list, description="hosts likely to be infected next, ranked")
    alerts: list[str] = Field(default_factory=list, description="ids of the alerts fused into the incident")


class Window(Record):
    from_: Time | None = Field(None, alias="from", description="start of the hunt's window (inclusive)")
    to: Time | None = Field(None, description="end of the hunt's window (exclusive)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class IncidentsDocument(Record):
    """incidents.json."""

    format: str = Field(description="wormsign.incidents/1")
    generator: str = Field(description="wormsign and its version")
    generated_at: Time = Field(description="when the hunt ran")
    case: str = Field(description="the case's path")
    window: Window | None = Field(None, description="a hunt over a time window: its bounds")
    incidents: list[Incident] = Field(default_factory=list, description="what the hunt found")

    @model_serializer(mode="wrap")
    def _drop_no_window(self, handler: Any):  # type: ignore[no-untyped-def]  # noqa: ANN202
        out = handler(self)
        if out.get("window") is None:
            out.pop("window", None)
        return out


def alerts_json(alerts: list[dict[str, Any]]) -> tuple[list[Alert], list[dict[str, Any]]]:
    """The hunt's alert dicts as records, and as JSON dicts written through them."""
    recs = [Alert.model_validate(a) for a in alerts]
    return recs, [r.to_json() for r in recs]
