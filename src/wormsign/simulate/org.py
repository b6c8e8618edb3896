"""The simulated organisation: hosts with roles and addresses, users, admins, service accounts, DHCP."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wormsign.simulate.realism import Realism, draw
from wormsign.simulate.util import MS_DAY, rng


@cache
def config() -> dict[str, Any]:
    with open(Path(__file__).with_name("org.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(slots=True)
class Host:
    idx: int
    name: str  # host key: ws-0012
    role: str  # dc, fs, sccm, pdq, backup, scanner, admin, app, ws
    subnet: str  # "10.20.3"
    os: str
    build: str
    fqdn: str = ""
    netbios: str = ""
    mac: str = ""
    owner: str | None = None  # the user whose machine it is (workstations)
    # DHCP history: times (ms) at which the address changed, and the addresses.
    ip_times: list[int] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)  # per-host constants of the writers

    def ip(self, ms: int) -> str:
        if len(self.ips) == 1:
            return self.ips[0]
        i = bisect.bisect_right(self.ip_times, ms) - 1
        return self.ips[max(i, 0)]

    @property
    def server(self) -> bool:
        return self.role != "ws"


@dataclass(slots=True)
class Org:
    seed: int
    domain: str
    netbios: str
    hosts: list[Host]
    users: list[str]  # ordinary users (each owns a workstation)
    admins: list[str]  # adm-<name> accounts of IT staff
    services: list[str]
    by_name: dict[str, Host]
    by_role: dict[str, list[Host]]
    start: int
    end: int
    real: Realism = field(default_factory=lambda: draw(0))  # how hard the run is to read (per seed)

    def dc(self, i: int = 0) -> Host:
        dcs = self.by_role["dc"]
        return dcs[i % len(dcs)]

    def one(self, role: str) -> Host:
        return self.by_role[role][0]

    @property
    def workstations(self) -> list[Host]:
        return self.by_role["ws"]

    def subnets(self) -> list[str]:
        return sorted({h.subnet for h in self.workstations})


def _count(n: int, spec: list[int]) -> int:
    lo, per = spec
    return lo if not per else max(lo, round(n / per))


def build(n_hosts: int, seed: int, start: int, days: int) -> Org:
    """Lay out ``n_hosts`` hosts (servers first, then workstations) and their users."""
    cfg = config()
    if n_hosts < 12:
        raise ValueError("the simulated organisation needs at least 12 hosts")
    r = rng(seed, "org")
    real = draw(seed)
    hosts: list[Host] = []
    server_ip = 10
    for role, spec in cfg["roles"].items():
        for i in range(_count(n_hosts, spec["count"])):
            h = Host(len(hosts), f"{spec['prefix']}-{i + 1:02d}", role, cfg["server_subnet"], spec["os"], spec["build"])
            h.ips, h.ip_times = [f"{cfg['server_subnet']}.{server_ip}"], [start]
            server_ip += 1
            hosts.append(h)
    n_ws = n_hosts - len(hosts)
    n_sub = max(cfg["min_workstation_subnets"], -(-n_ws // cfg["hosts_per_subnet"]))
    subnets = [cfg["workstation_subnets"].format(n=k) for k in range(n_sub)]
    per = -(-n_ws // n_sub)
    free: dict[str, list[int]] = {s: list(range(20, 250)) for s in subnets}
    if per > 225:
        raise ValueError("too many workstations per subnet")
    wcfg = cfg["workstation"]
    for i in range(n_ws):
        sub = subnets[i // per]
        h = Host(len(hosts), f"{wcfg['prefix']}-{i + 1:04d}", "ws", sub, wcfg["os"], wcfg["build"])
        octet = free[sub].pop(r.randrange(len(free[sub])))
        h.ips, h.ip_times = [f"{sub}.{octet}"], [start]
        hosts.append(h)
    for h in hosts:
        h.fqdn = f"{h.name}.{cfg['domain']}"
        h.netbios = h.name.upper()
        h.mac = "00:50:56:" + ":".join(f"{b:02x}" for b in r.randbytes(3))
    # users: one per workstation, unique names
    firsts, lasts = cfg["first_names"], cfg["last_names"]
    users: list[str] = []
    seen: set[str] = set()
    ws = [h for h in hosts if h.role == "ws"]
    for h in ws:
        base = f"{r.choice(firsts)[0]}{r.choice(lasts)}"
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}{k}"
        seen.add(name)
        users.append(name)
        h.owner = name
    n_adm = max(2, n_hosts // cfg["admins_per_hosts"])
    admins = ["adm-" + u for u in r.sample(users, min(n_adm, len(users)))]
    # DHCP moves: a share of the workstations (drawn per seed) get a new address in their subnet each day.
    # An address given up today is offered again only from tomorrow (no two hosts share one).
    for d in range(days):
        rd = rng(seed, "dhcp", d)
        released: list[tuple[str, int]] = []
        for h in ws:
            if rd.random() < real.dhcp_move:
                if not free[h.subnet]:  # a full subnet: no address to move to today
                    continue
                t = start + d * MS_DAY + rd.randrange(6 * 3_600_000, 10 * 3_600_000)
                octet = free[h.subnet].pop(rd.randrange(len(free[h.subnet])))
                released.append((h.subnet, int(h.ips[-1].rsplit(".", 1)[1])))
                h.ips.append(f"{h.subnet}.{octet}")
                h.ip_times.append(t)
        for sub, octet in released:
            free[sub].append(octet)
    by_role: dict[str, list[Host]] = {}
    for h in hosts:
        by_role.setdefault(h.role, []).append(h)
    return Org(
        seed, cfg["domain"], cfg["netbios"], hosts, users, admins, list(cfg["service_accounts"]),
        {h.name: h for h in hosts}, by_role, start, start + days * MS_DAY, real,
    )
