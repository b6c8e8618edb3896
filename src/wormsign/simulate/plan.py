"""The plan of a run: every action between hosts, decided before any record is written.

The plan is small (one entry per deployment target, brute-force session, infection,
beacon day), so the writer can emit hosts one at a time and still have both ends of an
action agree. Each action draws its randomness from ``rng(seed, "act", id)``; ids are given
in the order actions are added. The everyday administration (``campaigns.BenignDays``) is
planned again a day at a time while the run is written, with the ids a whole-run plan gives,
so a long run does not hold every day's deployments at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from wormsign.simulate.org import Host, Org
from wormsign.simulate.util import MS_DAY, iso_us, rng


@dataclass(slots=True)
class Action:
    id: int
    kind: str
    t: int
    src: Host | None
    dst: Host | None
    p: dict[str, Any]
    attack: bool = False

    def rng(self, seed: int) -> random.Random:
        return rng(seed, "act", self.id)


@dataclass(slots=True)
class Infection:
    host: Host
    time: int
    infector: Host | None
    technique: str
    family: str
    hashes: list[str]
    image: str = ""  # path of the running malware on the host
    guid: str = ""
    pid: int = 0
    families: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    org: Org
    seed: int
    scenario: str
    next_id: int = 0  # the id of the next action in the window
    by_host: dict[int, list[Action]] | None = field(default_factory=dict)  # where add() indexes (None: only count)
    last_t: int = -1  # the latest action time added
    benign: Any = None  # campaigns.BenignDays: the everyday actions of a day, planned when asked
    infections: dict[str, Infection] = field(default_factory=dict)  # host name -> first infection
    extra: list[Infection] = field(default_factory=list)  # later families on an infected host
    lockouts: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    attacked: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)  # attacking hosts that are not infected (spray)
    c2: dict[str, list[str]] = field(default_factory=dict)
    hashes: dict[str, set[str]] = field(default_factory=dict)  # family -> sha256s
    patient_zero: str | None = None

    def add(self, kind: str, t: int, src: Host | None, dst: Host | None, attack: bool = False, **p: Any) -> Action:
        """Add an action; it is indexed under both hosts (each emits its own side)."""
        a = Action(self.next_id, kind, t, src, dst, p, attack)
        if not self.org.start <= t < self.org.end:
            return a  # outside the window: not recorded, not emitted
        self.next_id += 1
        self.last_t = max(self.last_t, t)
        if self.by_host is None:
            return a
        for h in (src, dst):
            if h is not None:
                lst = self.by_host.setdefault(h.idx, [])
                if not lst or lst[-1] is not a:
                    lst.append(a)
        return a

    def for_host_day(self, h: Host, day: int) -> list[Action]:
        """The actions of ``h`` on ``day``: everyday ones first, then the others, each in the order added."""
        lo = self.org.start + day * MS_DAY
        mine = self.by_host.get(h.idx, ()) if self.by_host is not None else ()
        first = self.benign.for_host(h, day) if self.benign is not None else []
        return [a for a in (*first, *mine) if lo <= a.t < lo + MS_DAY]

    def infect(self, inf: Infection) -> bool:
        if inf.host.name in self.infections:
            return False
        if not self.org.start <= inf.time < self.org.end:
            return False
        inf.families = [inf.family]
        self.infections[inf.host.name] = inf
        self.hashes.setdefault(inf.family, set()).update(inf.hashes)
        self.attacked.discard(inf.host.name)
        return True

    def truth_infections(self) -> list[dict[str, Any]]:
        out = []
        for inf in sorted(self.infections.values(), key=lambda i: (i.time, i.host.name)):
            hashes = list(inf.hashes)
            for x in self.extra:
                if x.host is inf.host:
                    hashes += [h for h in x.hashes if h not in hashes]
            out.append({
                "host": inf.host.name, "time": iso_us(inf.time),
                "infector": inf.infector.name if inf.infector else None, "technique": inf.technique,
                "family": inf.family, "families": inf.families, "hashes": hashes,
            })
        return out
