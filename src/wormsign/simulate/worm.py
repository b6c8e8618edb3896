"""Plans an outbreak: infections in generations, brute-force sessions, lockouts, beacons, deliveries.

A small discrete-event simulation over a heap of timed steps. It writes only the plan;
``attacks.py`` turns each planned action into records when its host is written.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wormsign.simulate.creds import BAD_PASSWORD, LOCKED, Lockouts
from wormsign.simulate.org import Host
from wormsign.simulate.plan import Infection, Plan
from wormsign.simulate.realism import claimed_name
from wormsign.simulate.util import MS_DAY, digest_hex, guid, iso_us, rng, weighted

MIN = 60_000


@cache
def config() -> dict[str, Any]:
    with open(Path(__file__).with_name("scenarios.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


_WORDS = ["Windows", "Update", "Host", "Network", "Service", "Helper", "Manager", "Agent", "Sync", "Runtime",
          "Print", "Media", "Shell", "Broker", "Cache", "Policy"]


class Outbreak:
    """State of one planned outbreak. ``fam(name)`` is that family's tunables."""

    def __init__(self, plan: Plan, attack_at: int) -> None:
        self.plan = plan
        self.org = plan.org
        self.cfg = config()
        self.common = self.cfg["common"]
        self.r = rng(plan.seed, "outbreak", plan.scenario)
        self.t0 = attack_at
        self.heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.n = 0
        c = self.common
        self.locks = Lockouts(c["lockout_threshold"], c["lockout_window_min"] * MIN, c["lockout_duration_min"] * MIN)
        self.passwords = list(c["passwords"])
        self.r.shuffle(self.passwords)
        self.weak_admin = self.org.admins[self.r.randrange(len(self.org.admins))]
        self.local_shared = self.r.random() < c["local_admin_shared"]
        self.share_mode = weighted(self.r, c["share"])
        self.choice_mode = weighted(self.r, c["target_choice"])

    def fam(self, name: str) -> dict[str, Any]:
        return self.cfg["families"][name]

    def at(self, t: int, fn: Callable[..., None], *args: Any) -> None:
        if t < self.org.end:
            self.n += 1
            heapq.heappush(self.heap, (t, self.n, fn, args))

    def run(self) -> None:
        while self.heap:
            t, _, fn, args = heapq.heappop(self.heap)
            fn(t, *args)

    # -- shared pieces -----------------------------------------------------------------
    def c2_set(self, family: str) -> list[str]:
        f = self.fam(family)
        r = rng(self.plan.seed, "c2", family)
        first = {"emotet": [45, 51, 103, 128, 138, 159, 162, 185, 197, 209],
                 "qakbot": [24, 41, 47, 70, 72, 86, 92, 173, 176, 189]}[family]
        out = []
        for _ in range(r.randint(*f["c2_count"])):
            ip = f"{r.choice(first)}.{r.randrange(1, 255)}.{r.randrange(1, 255)}.{r.randrange(2, 254)}"
            out.append(f"{ip}:{r.choice(f['c2_ports'])}")
        self.plan.c2[family] = out
        return out

    def binary(self, family: str, host: Host, same: bool) -> tuple[str, str]:
        key = "one" if same else host.name
        return digest_hex("sha256", "mal", self.plan.seed, family, key), digest_hex("md5", "mal", self.plan.seed,
                                                                                   family, key)

    def rand_name(self, r: random.Random, ext: str = ".exe") -> str:
        n = r.randint(6, 12)
        return "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n)) + ext

    def copy_name(self, family: str, drawn: str) -> str:
        """The file name a copy goes under: ``drawn`` (random per copy), or where the run's worms copy
        under fixed names, one name the family uses on every host."""
        if not self.org.real.fixed_names:
            return drawn
        return self.rand_name(rng(self.plan.seed, "fixed-name", family), drawn[drawn.rfind("."):])

    def logon_style(self, src: Host, dst: Host, t: int, domain: str) -> dict[str, Any]:
        """How a spreading logon from ``src`` authenticates (per seed): Kerberos for a share of
        domain logons, else NTLM with the host's name or, for some tools, a random one."""
        real = self.org.real
        krb = rng(self.plan.seed, "krb", src.name, dst.name)
        if domain == self.org.netbios and krb.random() < real.kerberos_lateral:
            return {"kerberos": True}
        if real.random_netbios_success:
            return {"claimed": claimed_name(self.plan.seed, src.name, t)}
        return {}

    def service_name(self, r: random.Random, style: str) -> str:
        if style == "words":
            return r.choice(_WORDS) + r.choice(_WORDS) + r.choice(["", "Svc", "Host"])
        if style == "hex":
            return f"{r.getrandbits(32):08x}"
        return r.choice(["wuauserv", "spoolsv", "lsm", "dllhost", "msiserver"]) + str(r.randrange(2, 9))

    def targets(self, r: random.Random, src: Host, k: int) -> list[Host]:
        """``k`` hosts to go after: from the spreader's own subnet, or from a list of the whole domain."""
        if not hasattr(self, "_pools"):
            every = [h for h in self.org.hosts if h.role != "dc"]
            subnets: dict[str, list[Host]] = {}
            for h in every:
                subnets.setdefault(h.subnet, []).append(h)
            self._pools = (every, subnets)
        every, subnets = self._pools
        pool = every
        if self.choice_mode == "subnet" and len(subnets.get(src.subnet, ())) > k:
            pool = subnets[src.subnet]
        picked = r.sample(pool, min(k + 1, len(pool)))
        return [h for h in picked if h is not src][:k]

    def infected_by(self, host: Host, t: int) -> bool:
        inf = self.plan.infections.get(host.name)
        return inf is not None and inf.time <= t + 5 * MIN

    def beacons(self, inf: Infection, family: str, c2: list[str]) -> None:
        f = self.fam(family)
        r = rng(self.plan.seed, "beacon", family, inf.host.name)
        interval = r.randint(*f["beacon_interval_s"]) * 1000
        mine = r.sample(c2, min(len(c2), r.randint(2, 5)))
        start = inf.time + r.randrange(20_000, 120_000)
        day = (start - self.org.start) // MS_DAY
        while True:
            lo = self.org.start + day * MS_DAY
            if lo >= self.org.end:
                break
            self.plan.add("beacon", max(start, lo), inf.host, None, attack=True, family=family, c2=mine,
                          interval=interval, jitter=f["jitter"], until=min(lo + MS_DAY, self.org.end),
                          image=inf.image, guid=inf.guid, pid=inf.pid)
            day += 1

    def record(self, host: Host, t: int, infector: Host | None, technique: str, family: str,
               sha: tuple[str, str], image: str) -> Infection | None:
        r = rng(self.plan.seed, "proc", family, host.name)
        inf = Infection(host, t, infector, technique, family, [sha[0]], image, guid(r), r.randrange(1000, 9000) & ~3)
        return inf if self.plan.infect(inf) else None

    def lockout(self, t: int, account: str, src: Host, target: Host, attempt: int) -> None:
        """``account`` locked at ``t`` by the failed attempt from ``src`` at ``attempt``."""
        dc = self.org.dc(target.idx)
        self.plan.lockouts.append({"account": account, "time": iso_us(t), "source_host": src.name, "dc": dc.name})
        self.plan.add("lockout", t, None, dc, attack=True, account=account, caller=src.name, attempt=attempt)

    def brute(self, r: random.Random, t: int, src: Host, dst: Host, fam: dict[str, Any]) -> tuple[int, list[Any], tuple[str, str] | None]:
        """Password guessing against ``dst``; returns (end time, attempts, the credential that worked)."""
        accounts = [("Administrator", dst.netbios)] if not dst.server else []
        domain_pool = r.sample(self.org.users, min(len(self.org.users), r.randint(*fam["accounts"])))
        if r.random() < self.common["weak_admin_tried"]:
            domain_pool.append(self.weak_admin)
        accounts += [(a, self.org.netbios) for a in domain_pool]
        r.shuffle(accounts)
        tries = r.randint(*fam["tries_per_account"])
        admin_pw = self.passwords[self.r_admin_pos(tries)]
        local_pw = self.passwords[self.r_local_pos(tries)] if self.local_shared else None
        attempts: list[Any] = []
        for account, domain in accounts:
            for pw in self.passwords[:tries]:
                t += r.randint(*fam["attempt_ms"])
                local = domain != self.org.netbios
                valid = (local and pw == local_pw) or (account == self.weak_admin and pw == admin_pw)
                if not local and self.locks.locked(account, t):
                    attempts.append((t, account, domain, LOCKED))
                    break
                if valid:
                    attempts.append((t, account, domain, None))
                    return t, attempts, (account, domain)
                attempts.append((t, account, domain, BAD_PASSWORD))
                if not local and self.locks.fail(account, t):
                    self.lockout(t + 500, account, src, dst, t)
        return t, attempts, None

    def r_admin_pos(self, tries: int) -> int:
        return min(self._admin_pos, tries - 1)

    def r_local_pos(self, tries: int) -> int:
        return self._local_pos if self._local_pos < tries else len(self.passwords) - 1

    @property
    def _admin_pos(self) -> int:
        return rng(self.plan.seed, "adminpw").randrange(1, 4)

    @property
    def _local_pos(self) -> int:
        return rng(self.plan.seed, "localpw").randrange(0, 8)
