"""How hard a run is to read: the real-network behaviours each seed draws (``realism.yaml``).

Real domains log lateral logons over Kerberos with no workstation name (and at times no
address), Sysmon writes '-' for host names it did not resolve, brute-force tools send a random
NetBIOS name with each attempt, worms copy under fixed or random names, leases move, hosts
install services on their own, and administrators copy and push installers. Each run draws its
own mix once from its seed, so the suite's seeds cover both sides of each.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wormsign.simulate.util import rng


@cache
def config() -> dict[str, Any]:
    with open(Path(__file__).with_name("realism.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True, slots=True)
class Realism:
    sysmon_dash: float  # share of Sysmon 3 with host names '-'
    smb_sysmon: bool  # Sysmon 3 for SMB sessions on both ends
    kerberos_lateral: float  # share of a worm's domain logons over Kerberos
    kerberos_no_ip: float  # share of Kerberos network logons with IpAddress '-'
    random_netbios: bool  # failed brute-force attempts carry a random WorkstationName
    random_netbios_success: bool  # ... and the successful logon
    fixed_names: bool  # worms copy under their family's fixed names
    dhcp_move: float  # share of workstations whose address moves each day
    tgt_hours: float  # machine accounts' TGT renewal period
    local_install: float  # chance of a local service install on a host-day
    one_day_push: bool  # one day of the run carries a push with no baseline


def draw(seed: int) -> Realism:
    """The realism of the run of ``seed``."""
    c = config()
    r = rng(seed, "realism")
    u = r.uniform
    random_nb = r.random() < c["random_netbios"]
    return Realism(
        sysmon_dash=u(*c["sysmon_dash_hostnames"]),
        smb_sysmon=r.random() < c["smb_sysmon"],
        kerberos_lateral=u(*c["kerberos_lateral_share"]) if r.random() < c["kerberos_lateral"] else 0.0,
        kerberos_no_ip=u(*c["kerberos_no_address"]),
        random_netbios=random_nb,
        random_netbios_success=random_nb and r.random() < c["random_netbios_success"],
        fixed_names=r.random() < c["fixed_names"],
        dhcp_move=u(*c["dhcp_move_per_day"]),
        tgt_hours=u(*c["machine_tgt_hours"]),
        local_install=u(*c["local_install"]),
        one_day_push=r.random() < c["one_day_push"],
    )


def netbios_name(r: random.Random) -> str:
    """A NetBIOS name as brute-force tools make one up: 8 to 15 random letters and digits."""
    return "".join(r.choices(string.ascii_uppercase + string.digits, k=r.randint(8, 15)))


def claimed_name(seed: int, src: str, t: int) -> str:
    """The random WorkstationName a brute-forcer on ``src`` sends with its attempt at ``t`` (the same
    for the attempt's 4625, the DC's 4776 and 4740, and Zeek's ntlm)."""
    return netbios_name(rng(seed, "netbios", src, t))


def dash(share: float, *key: int) -> bool:
    """Whether a Sysmon record keyed by ``key`` (times, ports) has its host names '-' (no draw)."""
    h = 0
    for k in key:
        h = (h * 1_000_003 + k) & 0xFFFFFFFF
    return (h * 2654435761 & 0xFFFFFFFF) / 2**32 < share
