"""What the intel says about a case: families per host and per process, C2 observed, deliveries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class HostFamily:
    """A family on a host, how sure, since when, and the events that say so."""

    host: str
    family: str
    confidence: float
    first_seen: datetime
    last_seen: datetime
    evidence: list[str]
    matches: dict[str, int]  # match kind -> events
    indicators: list[dict[str, Any]] = field(
        default_factory=list
    )  # {type, value, count, first_seen, last_seen}


@dataclass(slots=True)
class ProcessFamily:
    """A process attributed to a family (by its image hash or its C2 traffic)."""

    host: str
    entity_id: str | None
    executable: str | None
    family: str
    confidence: float
    first_seen: datetime
    evidence: list[str]


@dataclass(slots=True)
class C2Seen:
    """A C2 address of a family that hosts in the case contacted (or resolved)."""

    family: str
    address: str
    port: int | None
    hosts: list[str]
    first_seen: datetime
    last_seen: datetime
    events: int
    evidence: list[str]


@dataclass(slots=True)
class Attribution:
    """What the intel says about a case: families per host and process, C2 observed, deliveries."""

    hosts: dict[str, list[HostFamily]] = field(default_factory=dict)
    processes: list[ProcessFamily] = field(default_factory=list)
    c2: dict[str, list[C2Seen]] = field(default_factory=dict)
    deliveries: list[Any] = field(default_factory=list)  # wormsign.intel.delivery.Delivery

    def families(self) -> list[str]:
        return sorted({hf.family for fams in self.hosts.values() for hf in fams})

    def hosts_of(self, family: str) -> list[str]:
        return sorted(h for h, fams in self.hosts.items() if any(f.family == family for f in fams))

    def delivery_summary(self) -> dict[tuple[str, str], int]:
        """Deliveries counted per (from family, to family)."""
        out: dict[tuple[str, str], int] = {}
        for d in self.deliveries:
            out[(d.from_family, d.to_family)] = out.get((d.from_family, d.to_family), 0) + 1
        return dict(sorted(out.items()))

    def overlap(self) -> Any:
        """C2 overlap between the families, on the addresses the case's hosts contacted."""
        from wormsign.intel.overlap import compare, groups_from_attribution

        return compare(groups_from_attribution(self))

    def summary_lines(self) -> list[str]:
        """Plain lines for a person: families, deliveries (each, then per pair), C2 overlap between families."""
        lines = [f"family {f}: {len(self.hosts_of(f))} hosts" for f in self.families()]
        lines += [str(d) for d in self.deliveries]
        lines += [f"{a} delivered {b} on {n} hosts" for (a, b), n in self.delivery_summary().items()]
        rep = self.overlap()
        for p in rep.pairs:
            shared = "; ".join(f"{d}: {', '.join(v[:5])}" for d, v in p.shared.items())
            lines.append(f"C2 overlap {p.a} / {p.b}: {shared or 'none'}")
        return lines

    def to_incident(self) -> dict[str, Any]:
        """The ``families``, ``deliveries`` and ``c2`` keys of an incident (docs/formats.md)."""
        return {
            "families": [
                {"family": f, "hosts": self.hosts_of(f), "c2": sorted({_addr(c) for c in self.c2.get(f, [])})}
                for f in self.families()
            ],
            "deliveries": [d.to_dict() for d in self.deliveries],
            "c2": [
                {"address": c.address, "port": c.port, "family": c.family, "hosts": c.hosts}
                for fam in sorted(self.c2)
                for c in self.c2[fam]
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": {h: [asdict(f) for f in fams] for h, fams in sorted(self.hosts.items())},
            "processes": [asdict(p) for p in self.processes],
            "c2": {f: [asdict(c) for c in cs] for f, cs in sorted(self.c2.items())},
            "deliveries": [d.to_dict() for d in self.deliveries],
            "delivery_summary": [
                {"from_family": a, "to_family": b, "count": n}
                for (a, b), n in self.delivery_summary().items()
            ],
        }


def _addr(c: C2Seen) -> str:
    return f"{c.address}:{c.port}" if c.port is not None else c.address
