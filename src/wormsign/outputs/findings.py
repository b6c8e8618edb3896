"""The findings of a hunted case, as the outputs read them: incidents, every alert, and the
incident each alert belongs to, with a key for each that does not change between hunts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

from wormsign.report.view import alerts as case_alerts
from wormsign.report.view import hunt_doc
from wormsign.store import Case


@cache
def settings() -> dict[str, Any]:
    """The tunables in settings.yaml beside this module."""
    text = resources.files("wormsign.outputs").joinpath("settings.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:40]


def alert_key(alert: dict[str, Any]) -> str:
    """An alert's identity across hunts of the same case. Alert ids (``ALR-000001``) are numbered
    per hunt, so the key is made of what the alert says: its rule, hosts, first time and evidence."""
    ev = alert.get("evidence") or []
    return "a-" + _digest(
        alert.get("rule"),
        alert.get("host"),
        alert.get("source_host"),
        alert.get("first_seen") or alert.get("ts"),
        sorted(str(r) for r in ev) if isinstance(ev, list) else str(ev),
    )


def incident_key(inc: dict[str, Any]) -> str:
    """An incident's identity across hunts: its type, first time and hosts. An incident that
    gains a host or later evidence is a new finding (sent again, as an update)."""
    hosts = sorted(str(h.get("host")) for h in inc.get("hosts") or [] if isinstance(h, dict))
    return "i-" + _digest(inc.get("type"), inc.get("first_seen"), inc.get("last_seen"), hosts,
                          inc.get("patient_zero"))


@dataclass
class Findings:
    """A hunt's result: its document's metadata, incidents and alerts."""

    case: str
    generated_at: str | None
    incidents: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    incident_of: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, case: Case) -> Findings:
        """Read the last hunt's result from the case (:class:`~wormsign.report.view.ViewError`
        when there is none)."""
        doc = hunt_doc(case)
        incidents = [i for i in doc["incidents"] if isinstance(i, dict)]
        alerts = case_alerts(case, doc)
        of: dict[str, dict[str, Any]] = {}
        for inc in incidents:
            for aid in inc.get("alerts") or []:
                of.setdefault(str(aid), inc)
        return cls(str(doc.get("case") or case.path), doc.get("generated_at"), incidents, alerts, of)

    def incident(self, alert: dict[str, Any]) -> dict[str, Any] | None:
        """The incident the alert was fused into, if any."""
        return self.incident_of.get(str(alert.get("id")))


def level(value: Any) -> str:
    """A severity wormsign knows (``low``, ``medium``, ``high``, ``critical``); ``low`` otherwise."""
    v = str(value or "").lower()
    return v if v in settings()["severity"] else "low"


def epoch_us(iso_time: str | None) -> int | None:
    """Microseconds since 1970 of an ISO 8601 time, None when it is not one."""
    if not iso_time:
        return None
    try:
        t = datetime.fromisoformat(str(iso_time).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round(t.timestamp() * 1_000_000)
