"""The simulated organisation: roles, users, and DHCP moves that never give two hosts one address."""

from __future__ import annotations

import pytest

from wormsign.simulate.org import build

START = 1772409600000  # 2026-03-02


@pytest.mark.parametrize(("hosts", "seed", "days"), [(40, 1, 7), (600, 2, 7), (3000, 3, 7), (10000, 1, 28)])
def test_no_address_is_shared(hosts: int, seed: int, days: int) -> None:
    """(10,000 hosts fill their subnets: some day a subnet has more moves than free addresses.)"""
    org = build(hosts, seed, START, days)
    spans = []
    for h in org.hosts:
        for i, ip in enumerate(h.ips):
            end = h.ip_times[i + 1] if i + 1 < len(h.ips) else org.end
            spans.append((ip, h.ip_times[i], end, h.name))
    spans.sort()
    assert [(a, b) for a, b in zip(spans, spans[1:]) if a[0] == b[0] and b[1] < a[2]] == []
    moved = [h for h in org.workstations if len(h.ips) > 1]
    assert moved and all(h.ips[-1].rsplit(".", 1)[0] == h.subnet for h in moved)


def test_roles_and_people() -> None:
    org = build(300, 4, START, 1)
    assert len(org.hosts) == 300 and len({h.name for h in org.hosts}) == 300
    for role in ("dc", "fs", "sccm", "pdq", "backup", "scanner", "admin", "ws"):
        assert org.by_role[role]
    assert len(org.subnets()) >= 2
    assert len(set(org.users)) == len(org.workstations) == len({h.owner for h in org.workstations})
    assert org.admins and all(a.startswith("adm-") and a[4:] in org.users for a in org.admins)
    with pytest.raises(ValueError):
        build(5, 1, START, 1)
