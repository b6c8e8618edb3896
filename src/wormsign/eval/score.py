"""Score one hunt (incidents.json) against the simulator's truth (truth.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from wormsign.eval.docs import EvalError, Truth, account_key, host_key, parse_time, settings


@dataclass(slots=True)
class Score:
    """The scores of one hunt. A ratio is ``None`` where it has no denominator (n/a)."""

    scenario: str
    seed: Any
    hosts: int
    days: float
    # infected hosts
    true_infected: int = 0
    found_infected: int = 0
    true_positives: int = 0
    recall: float | None = None
    precision: float | None = None
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    # infectors
    infectors_right: int = 0
    infector_accuracy: float | None = None  # over the truly infected hosts
    infector_accuracy_found: float | None = None  # over the truly infected hosts the hunt found
    # patient zero
    patient_zero_true: str | None = None
    patient_zero_found: str | None = None
    patient_zero_right: bool | None = None
    # time to first alert
    first_spread: str | None = None
    first_alert: str | None = None
    time_to_first_alert_s: float | None = None
    # false incidents
    outbreak_incidents: int = 0
    false_incidents: int = 0
    false_incidents_per_10k_host_days: float | None = None
    # every incident a responder reads, by severity
    incidents: int = 0
    incidents_by_severity: dict[str, int] = field(default_factory=dict)
    # false highs: high or critical incidents none of whose hosts is in the truth
    high_incidents: int = 0
    false_highs: int = 0
    false_highs_per_10k_host_days: float | None = None
    false_high_incidents: list[dict[str, Any]] = field(default_factory=list)  # {id, type, severity, title}
    # lockouts
    true_lockouts: int = 0
    lockouts_matched: int = 0
    lockouts_right: int = 0
    lockout_attribution: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def _found_hosts(outbreaks: list[dict[str, Any]]) -> dict[str, tuple[datetime | None, str | None]]:
    """Host -> (infected_at, infector) over every outbreak incident; the earliest infection wins."""
    found: dict[str, tuple[datetime | None, str | None]] = {}
    for inc in outbreaks:
        for h in inc.get("hosts") or []:
            if h.get("state") != "infected":
                continue
            key = host_key(h.get("host"))
            assert key is not None  # checked when loaded
            at = parse_time(h.get("infected_at"), "infected_at")
            prev = found.get(key)
            if prev is None or (at is not None and (prev[0] is None or at < prev[0])):
                found[key] = (at, host_key(h.get("infector")))
    return found


def _infected_in(inc: dict[str, Any]) -> set[str]:
    return {k for h in inc.get("hosts") or []
            if h.get("state") == "infected" and (k := host_key(h.get("host")))}


def _patient_zero(outbreaks: list[dict[str, Any]], truly: set[str]) -> str | None:
    """The hunt's patient zero: that of the earliest outbreak incident (by its first infection,
    else its first_seen) among those holding a truly infected host; among all of them when none does.
    A hunt that splits one outbreak in two is judged by the part that starts first."""
    hits = [i for i in outbreaks if _infected_in(i) & truly] or outbreaks

    def start(inc: dict[str, Any]) -> float:
        times = [t for h in inc.get("hosts") or [] if h.get("state") == "infected"
                 and (t := parse_time(h.get("infected_at"), "infected_at")) is not None]
        seen = min(times, default=None) or parse_time(inc.get("first_seen"), "first_seen")
        return seen.timestamp() if seen else float("inf")

    return host_key(min(hits, key=start).get("patient_zero")) if hits else None


def _lockouts(truth: Truth, incidents: list[dict[str, Any]], tol_s: float) -> tuple[int, int]:
    """Match truth lockouts to reported ones (same account, closest time within ``tol_s``, each
    reported lockout used once); returns (matched, matched with the right source host)."""
    reported: dict[tuple[str, str | None, str | None], tuple[str, datetime | None, str | None]] = {}
    for inc in incidents:
        for lk in (inc.get("accounts") or {}).get("locked") or []:
            acct = account_key(lk.get("account"))
            if acct is None:
                continue
            ts = parse_time(lk.get("ts"), "ts")
            src = host_key(lk.get("source_host"))
            reported[(acct, _iso(ts), src)] = (acct, ts, src)
    pool = list(reported.values())
    matched = right = 0
    for t in sorted(truth.lockouts, key=lambda x: (x.time is None, x.time or datetime.min)):
        best_i, best_d = -1, float("inf")
        for i, (acct, ts, _src) in enumerate(pool):
            if acct != t.account:
                continue
            d = abs((ts - t.time).total_seconds()) if ts and t.time else (0.0 if ts is t.time else tol_s + 1)
            if d <= tol_s and d < best_d:
                best_i, best_d = i, d
        if best_i >= 0:
            matched += 1
            right += pool.pop(best_i)[2] == t.source_host
    return matched, right


def severity_counts(incidents: list[dict[str, Any]], order: list[str]) -> dict[str, int]:
    """Incidents by severity: every severity in ``order`` (zero included), then ``other`` when
    some incident has a severity outside it (or none)."""
    counts = dict.fromkeys(order, 0)
    for inc in incidents:
        sev = str(inc.get("severity") or "").strip().lower()
        key = sev if sev in order else "other"
        counts[key] = counts.get(key, 0) + 1
    return counts


def incident_roles(inc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """An incident's hosts as ``(actors, targets)``: actors are its patient zero, its edges' sources
    and its hosts whose state is ``infected`` or ``source``; targets are its edges' targets, its
    other hosts and ``under_attack``. A host may be both."""
    actors: set[str | None] = set()
    targets: set[str | None] = set()
    for h in inc.get("hosts") or []:
        key = host_key(h.get("host"))
        (actors if h.get("state") in ("infected", "source") else targets).add(key)
    for e in inc.get("edges") or []:
        actors.add(host_key(e.get("source")))
        targets.add(host_key(e.get("target")))
    actors.add(host_key(inc.get("patient_zero")))
    targets.update(host_key(h) for h in inc.get("under_attack") or [])
    return {a for a in actors if a}, {t for t in targets if t}


def false_highs(truth: Truth, incidents: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The high incidents (eval.yaml ``false_highs.severities``) none of whose hosts is in the truth
    for the role the incident gives it (``false_highs.in_truth``); returns (them, all high ones)."""
    cfg = settings()["false_highs"]
    sets = truth.host_sets()
    unknown = {n for names in cfg["in_truth"].values() for n in names} - set(sets)
    if unknown:
        raise EvalError(f"eval.yaml: false_highs.in_truth names no truth host set {sorted(unknown)}")
    actor_ok = set().union(*(sets[n] for n in cfg["in_truth"]["actor"]))
    target_ok = set().union(*(sets[n] for n in cfg["in_truth"]["target"]))
    levels = {str(v).lower() for v in cfg["severities"]}
    highs = [i for i in incidents if str(i.get("severity") or "").strip().lower() in levels]
    false = []
    for inc in highs:
        actors, targets = incident_roles(inc)
        if not (actors & actor_ok or targets & target_ok):
            false.append({k: inc.get(k) for k in ("id", "type", "severity", "title")})
    return false, len(highs)


def score(truth: Truth, incidents: list[dict[str, Any]]) -> Score:
    """Score a hunt's incidents against the truth (see ``docs/formats.md`` and eval.yaml)."""
    cfg = settings()
    types = set(cfg["outbreak_types"])
    outbreaks = [i for i in incidents if i.get("type") in types]
    s = Score(truth.scenario, truth.seed, truth.hosts, truth.days)

    true_inf: dict[str, set[str | None]] = {}
    for inf in truth.infections:
        true_inf.setdefault(inf.host, set()).add(inf.infector)
    found = _found_hosts(outbreaks)
    truly, got = set(true_inf), set(found)
    s.true_infected, s.found_infected = len(truly), len(got)
    s.true_positives = len(truly & got)
    s.recall = _ratio(s.true_positives, len(truly))
    s.precision = _ratio(s.true_positives, len(got))
    s.missed, s.extra = sorted(truly - got), sorted(got - truly)

    s.infectors_right = sum(1 for h in truly & got if found[h][1] in true_inf[h])
    s.infector_accuracy = _ratio(s.infectors_right, len(truly))
    s.infector_accuracy_found = _ratio(s.infectors_right, s.true_positives)

    s.patient_zero_true = truth.patient_zero
    s.patient_zero_found = _patient_zero(outbreaks, truly)
    if truth.patient_zero is not None:
        s.patient_zero_right = s.patient_zero_found == truth.patient_zero

    spreads = [i.time for i in truth.infections if i.infector is not None and i.time is not None]
    alerts = [t for i in outbreaks if (t := parse_time(i.get("first_alert"), "first_alert")) is not None]
    first_spread, first_alert = min(spreads, default=None), min(alerts, default=None)
    s.first_spread, s.first_alert = _iso(first_spread), _iso(first_alert)
    if first_spread and first_alert:
        s.time_to_first_alert_s = (first_alert - first_spread).total_seconds()

    s.outbreak_incidents = len(outbreaks)
    s.false_incidents = sum(1 for i in outbreaks if not (_infected_in(i) & truly))
    host_days = truth.hosts * truth.days
    if host_days > 0:
        s.false_incidents_per_10k_host_days = s.false_incidents / host_days * float(cfg["host_days_unit"])

    s.incidents = len(incidents)
    s.incidents_by_severity = severity_counts(incidents, [str(v).lower() for v in cfg["severities"]])
    s.false_high_incidents, s.high_incidents = false_highs(truth, incidents)
    s.false_highs = len(s.false_high_incidents)
    if host_days > 0:
        s.false_highs_per_10k_host_days = s.false_highs / host_days * float(cfg["host_days_unit"])

    s.true_lockouts = len(truth.lockouts)
    s.lockouts_matched, s.lockouts_right = _lockouts(truth, incidents, float(cfg["lockout_tolerance_s"]))
    s.lockout_attribution = _ratio(s.lockouts_right, s.true_lockouts)
    return s
