"""Writes a planned run: per day, hosts in chunks; Winlogbeat NDJSON per chunk, Zeek logs per day."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from typing import IO, Any

import orjson

from wormsign.simulate import attacks, campaigns, notpetya, wannacry
from wormsign.simulate.benign import server_day, workstation_day
from wormsign.simulate.emit import Emitter
from wormsign.simulate.org import Host
from wormsign.simulate.plan import Plan
from wormsign.simulate.util import MS_DAY, day_str, rng, zeek_uid
from wormsign.simulate.winlog import CHANNEL_CODE, document
from wormsign.simulate.zeek import ZeekWriter

HANDLERS: dict[str, Callable[..., None]] = {**campaigns.HANDLERS, **attacks.HANDLERS, **wannacry.HANDLERS,
                                         **notpetya.HANDLERS}


def gz_open(path: str, level: int) -> IO[bytes]:
    """A gzip stream with no name and no time in its header, so equal content gives equal bytes."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0, compresslevel=level)


def _close(fh: IO[bytes]) -> None:
    raw = getattr(fh, "fileobj", None)
    fh.close()
    if raw is not None:
        raw.close()


class Stats:
    def __init__(self) -> None:
        self.windows = 0
        self.zeek = 0
        self.files = 0

    @property
    def events(self) -> int:
        return self.windows + self.zeek


def write(plan: Plan, out: str, days: int, *, chunk_hosts: int = 100, zeek_format: str = "tsv",
          level: int = 6, attack_ids: list[str] | None = None,
          progress: Callable[[int, int], None] | None = None) -> Stats:
    """Emit every host and day of ``plan`` under ``out/logs``; attack record ids go to ``attack_ids``."""
    org, seed = plan.org, plan.seed
    wdir, zdir = os.path.join(out, "logs", "winlogbeat"), os.path.join(out, "logs", "zeek")
    os.makedirs(wdir, exist_ok=True)
    os.makedirs(zdir, exist_ok=True)
    ws = org.workstations
    servers = [h for h in org.hosts if h.server and h.role != "dc"] + org.by_role["dc"]
    groups = [ws[i : i + chunk_hosts] for i in range(0, len(ws), chunk_hosts)] + [servers]
    records: dict[tuple[int, str], int] = {}
    for h in org.hosts:
        base = rng(seed, "records", h.name)
        for ch in CHANNEL_CODE:
            records[(h.idx, ch)] = base.randrange(1000, 3_000_000)
    ids = attack_ids if attack_ids is not None else []
    carry: dict[int, list[Any]] = {}
    stats = Stats()
    zw = ZeekWriter(zdir, zeek_format, level)
    em = Emitter(org)
    for d in range(days):
        day0 = org.start + d * MS_DAY
        day = day_str(day0)
        weekday = (day0 // MS_DAY + 3) % 7
        em.new_day()
        zw.open_day(day, day + "-00-00-00")
        _dhcp(em, org, d)
        for gi, group in enumerate(groups):
            for h in group:
                r = rng(seed, "day", h.name, d)
                if h.server:
                    server_day(em, org, r, h, day0)
                else:
                    workstation_day(em, org, r, h, day0, weekday)
                for a in plan.for_host_day(h, d):
                    HANDLERS[a.kind](em, org, seed, h, a)
            taken = em.take(group)
            if d + 1 < days:  # records of actions that run past midnight go with the next day
                for h in group:
                    evs = taken[h.idx] + carry.pop(h.idx, [])
                    taken[h.idx] = [e for e in evs if e.ts < day0 + MS_DAY]
                    later = [e for e in evs if e.ts >= day0 + MS_DAY]
                    if later:
                        carry[h.idx] = later
            else:
                for h in group:
                    taken[h.idx] += carry.pop(h.idx, [])
            path = os.path.join(wdir, f"winlogbeat-{day.replace('-', '.')}-{gi:03d}.ndjson.gz")
            fh = gz_open(path, level)
            for h in group:
                stats.windows += _write_host(fh, h, taken[h.idx], records, ids)
            _close(fh)
            stats.files += 1
            for log, rows in em.take_zeek().items():
                zw.write(log, rows)
                stats.zeek += len(rows)
            if progress:
                progress(d * len(groups) + gi + 1, days * len(groups))
        ids.extend(em.attack_uids)
        em.attack_uids = {}
    zw.close()
    return stats


def _write_host(fh: IO[bytes], h: Host, events: list[Any], records: dict[tuple[int, str], int],
                ids: list[str]) -> int:
    events.sort(key=lambda e: (e.ts, e.seq))
    lines = []
    dumps = orjson.dumps
    for ev in events:
        key = (h.idx, ev.channel)
        rec = records[key] = records[key] + 1
        eid = f"{CHANNEL_CODE[ev.channel]}{h.idx:05d}{rec:010d}"
        if ev.attack:
            ids.append(eid)
        lines.append(dumps(document(ev, h, rec, eid)))
        if len(lines) >= 2000:  # orjson's buffers are roomy: write in batches, keep memory flat
            fh.write(b"\n".join(lines) + b"\n")
            lines = []
    if lines:
        fh.write(b"\n".join(lines) + b"\n")
    return len(events)


def _dhcp(em: Emitter, org: Any, d: int) -> None:
    """Zeek dhcp rows for the address changes of the day (DHCP moves)."""
    lo = org.start + d * MS_DAY
    dhcp_server = org.dc(0)
    r = rng(org.seed, "dhcp-rows", d)
    for h in org.workstations:
        for i, t in enumerate(h.ip_times):
            if lo <= t < lo + MS_DAY and (i > 0 or t > org.start):
                em.zrow("dhcp", t, None, (
                    [zeek_uid(r)], h.ips[i], dhcp_server.ip(t), h.mac, h.name, h.fqdn,
                    org.domain, h.ips[i], h.ips[i], "86400.000000", None, None, ["REQUEST", "ACK"], "0.004210"))
