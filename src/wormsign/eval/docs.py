"""Read and check truth.json and incidents.json (docs/formats.md) for scoring."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml


class EvalError(ValueError):
    """A truth or incidents file that cannot be scored; the message names the file and the record."""


@cache
def settings() -> dict[str, Any]:
    """The tunables in ``eval.yaml`` beside this module."""
    text = resources.files("wormsign.eval").joinpath("eval.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def host_key(name: Any) -> str | None:
    """Normalise a host name to the project's host key (lower-case short name; addresses kept)."""
    if name is None:
        return None
    s = str(name).strip().lower()
    if not s:
        return None
    try:
        ipaddress.ip_address(s)
        return s
    except ValueError:
        return s.split(".", 1)[0]


def account_key(name: Any) -> str | None:
    """Normalise an account name: lower-case, without ``DOMAIN\\`` or ``@domain``."""
    if name is None:
        return None
    s = str(name).strip().lower()
    s = s.rsplit("\\", 1)[-1].split("@", 1)[0]
    return s or None


def parse_time(value: Any, where: str) -> datetime | None:
    """An ISO 8601 time (``...Z``) as an aware UTC datetime; ``None`` stays ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise EvalError(f"{where}: time {value!r} is not a string")
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise EvalError(f"{where}: {value[:64]!r} is not an ISO 8601 time") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _load(path: Path, kind: str, *, empty_ok: bool) -> dict[str, Any] | None:
    limit = int(settings()["max_file_bytes"])
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise EvalError(f"{path}: cannot read the {kind} file ({exc.strerror or exc})") from None
    if size > limit:
        raise EvalError(f"{path}: {size:,} bytes is larger than the {limit:,} a {kind} file may be")
    data = path.read_bytes()
    if not data.strip():
        if empty_ok:
            return None
        raise EvalError(f"{path}: the {kind} file is empty")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EvalError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise EvalError(f"{path}: a {kind} file must hold a JSON object, not {type(doc).__name__}")
    want = str(settings()["formats"][kind])
    fmt = doc.get("format")
    if fmt is not None:
        name, _, major = str(fmt).partition("/")
        wname, _, wmajor = want.partition("/")
        if name != wname or major.split(".", 1)[0] != wmajor:
            raise EvalError(f"{path}: format {str(fmt)[:64]!r} is not one this reader knows ({want})")
    return doc


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EvalError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EvalError(f"{where}: expected a list, found {type(value).__name__}")
    return value


@dataclass(slots=True)
class Infection:
    host: str
    time: datetime | None
    infector: str | None
    technique: str | None = None
    family: str | None = None


@dataclass(slots=True)
class Lockout:
    account: str
    time: datetime | None
    source_host: str | None
    dc: str | None = None


@dataclass(slots=True)
class Truth:
    """What the simulator knows, normalised for scoring."""

    scenario: str
    seed: Any
    hosts: int
    days: float
    patient_zero: str | None
    infections: list[Infection] = field(default_factory=list)
    lockouts: list[Lockout] = field(default_factory=list)
    attacked: list[str] = field(default_factory=list)  # attacked, not infected
    sources: list[str] = field(default_factory=list)  # attacking hosts that are not infected

    def host_sets(self) -> dict[str, set[str]]:
        """The truth's hosts by what the truth says of them (the names eval.yaml's
        ``false_highs.in_truth`` lists)."""
        infected = {i.host for i in self.infections} | {i.infector for i in self.infections if i.infector}
        return {
            "infected": infected,
            "patient_zero": {self.patient_zero} if self.patient_zero else set(),
            "attacked": set(self.attacked),
            "sources": set(self.sources),
            "lockout_sources": {lk.source_host for lk in self.lockouts if lk.source_host},
        }


def truth_from_dict(doc: dict[str, Any], where: str = "truth") -> Truth:
    """Check and normalise a truth document (as :func:`wormsign.simulate.simulate` returns it)."""
    infections = []
    for i, raw in enumerate(_list(doc.get("infections"), f"{where}: infections")):
        w = f"{where}: infections[{i}]"
        rec = _obj(raw, w)
        host = host_key(rec.get("host"))
        if host is None:
            raise EvalError(f"{w}: no host")
        infections.append(
            Infection(host, parse_time(rec.get("time"), w), host_key(rec.get("infector")),
                      rec.get("technique"), rec.get("family"))
        )
    lockouts = []
    for i, raw in enumerate(_list(doc.get("lockouts"), f"{where}: lockouts")):
        w = f"{where}: lockouts[{i}]"
        rec = _obj(raw, w)
        acct = account_key(rec.get("account"))
        if acct is None:
            raise EvalError(f"{w}: no account")
        lockouts.append(Lockout(acct, parse_time(rec.get("time"), w), host_key(rec.get("source_host")),
                                host_key(rec.get("dc"))))
    named: dict[str, list[str]] = {}
    for key in ("attacked", "sources"):
        names = []
        for i, raw in enumerate(_list(doc.get(key), f"{where}: {key}")):
            if not isinstance(raw, str) or (h := host_key(raw)) is None:
                raise EvalError(f"{where}: {key}[{i}] is not a host name")
            names.append(h)
        named[key] = names
    try:
        hosts = int(doc.get("hosts") or 0)
        days = float(doc.get("days") or 0)
    except (TypeError, ValueError):
        raise EvalError(f"{where}: hosts and days must be numbers") from None
    return Truth(str(doc.get("scenario") or "?"), doc.get("seed"), hosts, days,
                 host_key(doc.get("patient_zero")), infections, lockouts, **named)


def load_truth(path: str | Path) -> Truth:
    """Read truth.json; a missing, empty or malformed file raises :class:`EvalError` naming it."""
    p = Path(path)
    doc = _load(p, "truth", empty_ok=False)
    assert doc is not None
    return truth_from_dict(doc, str(p))


def incidents_from_dict(doc: dict[str, Any] | None, where: str = "incidents") -> list[dict[str, Any]]:
    """Check the parts of an incidents document that scoring reads; returns the incidents."""
    if doc is None:
        return []
    incidents = _list(doc.get("incidents"), f"{where}: incidents")
    for i, raw in enumerate(incidents):
        inc = _obj(raw, f"{where}: incidents[{i}]")
        w = f"{where}: incident {i} ({str(inc.get('id', '?'))[:32]})"
        for key in ("type", "severity"):
            if not isinstance(inc.get(key, ""), str):
                raise EvalError(f"{w}: {key} is not a string")
        for j, h in enumerate(_list(inc.get("hosts"), f"{w}: hosts")):
            h = _obj(h, f"{w}: hosts[{j}]")
            if host_key(h.get("host")) is None:
                raise EvalError(f"{w}: hosts[{j}] has no host")
            parse_time(h.get("infected_at"), f"{w}: hosts[{j}].infected_at")
        for j, e in enumerate(_list(inc.get("edges"), f"{w}: edges")):
            _obj(e, f"{w}: edges[{j}]")
        _list(inc.get("under_attack"), f"{w}: under_attack")
        for key in ("first_alert", "first_seen"):
            parse_time(inc.get(key), f"{w}: {key}")
        accounts = inc.get("accounts") or {}
        _obj(accounts, f"{w}: accounts")
        for j, lk in enumerate(_list(accounts.get("locked"), f"{w}: accounts.locked")):
            lk = _obj(lk, f"{w}: accounts.locked[{j}]")
            parse_time(lk.get("ts"), f"{w}: accounts.locked[{j}].ts")
    return incidents


def load_incidents(path: str | Path) -> list[dict[str, Any]]:
    """Read incidents.json. An empty file or no ``incidents`` scores as nothing found (zero recall);
    a missing or malformed file raises :class:`EvalError` naming it."""
    p = Path(path)
    return incidents_from_dict(_load(p, "incidents", empty_ok=True), str(p))
