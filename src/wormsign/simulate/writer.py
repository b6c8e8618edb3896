"""Writes a planned run: per day, hosts in chunks; Winlogbeat NDJSON per chunk, Zeek logs per day.

Memory stays flat however long the run: a workstation's records are written as soon as its
day is made; the servers' records (domain controllers hear from every workstation) are
sorted and spilled to an unnamed temporary file whenever many are held, and merged back,
in order, when the servers' chunk is written at the end of the day.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from wormsign.simulate import attacks, campaigns, chores, notpetya, wannacry
from wormsign.simulate.benign import server_day, workstation_day
from wormsign.simulate.emit import Emitter
from wormsign.simulate.gzout import Compressor, GzStream
from wormsign.simulate.org import Host
from wormsign.simulate.plan import Plan
from wormsign.simulate.util import MS_DAY, day_str, rng, zeek_uid
from wormsign.simulate.winlog import CHANNEL_CODE, WinEvent, line
from wormsign.simulate.zeek import ZeekWriter

HANDLERS: dict[str, Callable[..., None]] = {**campaigns.HANDLERS, **attacks.HANDLERS, **wannacry.HANDLERS,
                                         **notpetya.HANDLERS, **chores.HANDLERS}
SPILL_EVENTS = 20_000  # servers' records held in memory before they are spilled to disk
SPILL_BATCH = 500  # records per pickled batch of a spilled run (what a merge holds per run)


class Stats:
    def __init__(self) -> None:
        self.windows = 0
        self.zeek = 0
        self.files = 0

    @property
    def events(self) -> int:
        return self.windows + self.zeek


class Spill:
    """Sorted runs of hosts' records in an unnamed temporary file, read back merged in (ts, seq) order."""

    def __init__(self, directory: str) -> None:
        self.fh: IO[bytes] | None = None
        self.dir = directory
        self.runs: dict[int, list[list[int]]] = {}  # host idx -> runs -> offsets of their batches

    def add(self, idx: int, events: list[WinEvent]) -> None:
        if self.fh is None:
            self.fh = tempfile.TemporaryFile(dir=self.dir)  # noqa: SIM115 - open across calls; close() ends it
        events.sort()  # (ts, seq) first, and seq is unique
        offsets = []
        for i in range(0, len(events), SPILL_BATCH):
            offsets.append(self.fh.tell())
            pickle.dump(events[i : i + SPILL_BATCH], self.fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.runs.setdefault(idx, []).append(offsets)

    def _read(self, offsets: list[int]) -> Iterator[WinEvent]:
        assert self.fh is not None
        for off in offsets:
            self.fh.seek(off)
            batch = pickle.load(self.fh)
            self.fh.seek(0, os.SEEK_END)
            yield from batch

    def merged(self, idx: int, held: list[WinEvent]) -> Iterable[WinEvent]:
        """The spilled runs of ``idx`` and ``held`` (sorted here), as one sorted stream."""
        held.sort()
        runs = self.runs.pop(idx, [])
        return heapq.merge(*(self._read(r) for r in runs), held) if runs else held

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        self.fh, self.runs = None, {}


def write(plan: Plan, out: str, days: int, *, chunk_hosts: int = 100, zeek_format: str = "tsv",
          level: int = 6, attack_ids: list[str] | None = None,
          progress: Callable[[int, int], None] | None = None,
          background: Callable[[Emitter, Any, Any, Host, int, int], None] | None = None) -> Stats:
    """Emit every host and day of ``plan`` under ``out/logs``; attack record ids go to ``attack_ids``.

    ``background(em, org, rng, host, day0, weekday)``, when given, adds extra everyday records of a
    host's day (the benign volume), after its usual day and its planned actions."""
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
    carry: dict[int, list[WinEvent]] = {}  # records of actions that run past midnight go with the next day
    stats = Stats()
    gz = Compressor()
    zw = ZeekWriter(zdir, zeek_format, level, gz.open)
    em = Emitter(org, zw.line_maker())
    spill = Spill(out)

    def make_day(h: Host, d: int, day0: int, weekday: int) -> None:
        r = rng(seed, "day", h.name, d)
        if h.server:
            server_day(em, org, r, h, day0)
        else:
            workstation_day(em, org, r, h, day0, weekday)
        chores.host_day(em, org, seed, h, d, day0, weekday)
        for a in plan.for_host_day(h, d):
            HANDLERS[a.kind](em, org, seed, h, a)
        if background is not None:
            background(em, org, rng(seed, "background", h.name, d), h, day0, weekday)

    def write_host(fh: GzStream, h: Host, stream: Iterable[WinEvent], end: int | None) -> None:
        """``stream`` sorted; records from ``end`` on are kept for the next day."""
        later: list[WinEvent] = []
        if end is not None:
            stream = _until(stream, end, later)
        stats.windows += _write_host(fh, h, stream, records, ids)
        if later:
            carry[h.idx] = later

    def spill_servers() -> None:
        """Sort and spill the servers' held records once there are many."""
        if sum(len(em.win.get(h.idx, ())) for h in servers) > SPILL_EVENTS:
            for h in servers:
                if em.win.get(h.idx):
                    spill.add(h.idx, em.win.pop(h.idx))

    try:
        for d in range(days):
            day0 = org.start + d * MS_DAY
            day = day_str(day0)
            weekday = (day0 // MS_DAY + 3) % 7
            end = day0 + MS_DAY if d + 1 < days else None
            em.new_day()
            zw.open_day(day, day + "-00-00-00")
            _dhcp(em, org, d)
            for gi, group in enumerate(groups):
                path = os.path.join(wdir, f"winlogbeat-{day.replace('-', '.')}-{gi:03d}.ndjson.gz")
                fh = gz.open(path, level)
                if group is servers:  # they hear from the others all day: all made first, then written
                    for h in group:
                        make_day(h, d, day0, weekday)
                        spill_servers()
                    for h in group:
                        held = em.take_one(h) + carry.pop(h.idx, [])
                        write_host(fh, h, spill.merged(h.idx, held), end)
                    spill.close()
                else:
                    for h in group:
                        make_day(h, d, day0, weekday)
                        held = em.take_one(h) + carry.pop(h.idx, [])
                        held.sort()
                        write_host(fh, h, held, end)
                    spill_servers()
                fh.close()
                stats.files += 1
                for log, rows in em.take_zeek().items():
                    zw.write(log, rows)
                    stats.zeek += len(rows)
                if progress:
                    progress(d * len(groups) + gi + 1, days * len(groups))
            ids.extend(em.attack_uids)
            em.attack_uids = {}
        zw.close()
    finally:
        spill.close()
        gz.finish()
    return stats


def _until(stream: Iterable[WinEvent], end: int, later: list[WinEvent]) -> Iterator[WinEvent]:
    """The records of sorted ``stream`` before ``end``; the rest go to ``later``."""
    it = iter(stream)
    for ev in it:
        if ev.ts >= end:
            later.append(ev)
            later.extend(it)
            return
        yield ev


def _write_host(fh: GzStream, h: Host, events: Iterable[WinEvent], records: dict[tuple[int, str], int],
                ids: list[str]) -> int:
    """Number and write ``events`` (sorted) of ``h``; returns how many."""
    lines: list[str] = []
    n = 0
    counters = {ch: records[(h.idx, ch)] for ch in CHANNEL_CODE}
    prefix = {ch: f"{code}{h.idx:05d}" for ch, code in CHANNEL_CODE.items()}
    for ev in events:
        rec = counters[ev.channel] = counters[ev.channel] + 1
        eid = f"{prefix[ev.channel]}{rec:010d}"
        if ev.attack:
            ids.append(eid)
        lines.append(line(ev, h, rec, eid))
        if len(lines) >= 2000:
            fh.write(("\n".join(lines) + "\n").encode())
            n += len(lines)
            lines = []
    if lines:
        fh.write(("\n".join(lines) + "\n").encode())
        n += len(lines)
    for ch in CHANNEL_CODE:
        records[(h.idx, ch)] = counters[ch]
    return n


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
