"""Collects the records of one chunk of hosts: Windows events per host, Zeek rows per log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wormsign.simulate.org import Host, Org
from wormsign.simulate.util import zeek_ts
from wormsign.simulate.winlog import WinEvent, is_failure, pack
from wormsign.simulate.zeek import tsv_row

EXTERNAL = None  # a party outside the organisation (an address, no host)


class Emitter:
    """Where generators put records. Events for hosts already written are a bug, and raise."""

    def __init__(self, org: Org, zeek_line: Callable[[str, tuple[Any, ...]], Any] = tsv_row) -> None:
        self.org = org
        self.win: dict[int, list[WinEvent]] = {}
        # log -> (ts, seq, line): a row is formatted when it is made (a line is smaller than its values)
        self.zeek: dict[str, list[tuple[int, int, Any]]] = {}
        self.zeek_line = zeek_line
        self.written: set[int] = set()
        self.attack_uids: dict[str, None] = {}  # ordered set: a connection's uid is on several logs
        self.seq = 0

    def event(self, host: Host, ts: int, channel: str, eid: int, data: dict[str, str], attack: bool = False) -> None:
        if host.idx in self.written:
            raise RuntimeError(f"event {eid} for {host.name} after its chunk was written")
        self.seq += 1
        self.win.setdefault(host.idx, []).append(
            WinEvent(ts, self.seq, channel, eid, pack(data), attack, is_failure(eid, data)))

    def zrow(self, log: str, ts: int, uid: str | None, row: tuple[Any, ...], attack: bool = False) -> None:
        """A Zeek row: ``row`` holds the fields after ``ts`` (and after ``uid`` when given)."""
        self.seq += 1
        vals = (zeek_ts(ts), uid, *row) if uid is not None else (zeek_ts(ts), *row)
        self.zeek.setdefault(log, []).append((ts, self.seq, self.zeek_line(log, vals)))
        if attack and uid is not None:
            self.attack_uids[uid] = None

    def take(self, hosts: list[Host]) -> dict[int, list[WinEvent]]:
        """The events of ``hosts``, removed from the collector; they may get no more."""
        out = {}
        for h in hosts:
            out[h.idx] = self.win.pop(h.idx, [])
            self.written.add(h.idx)
        return out

    def take_one(self, h: Host) -> list[WinEvent]:
        """The events of ``h``, removed from the collector; it may get no more."""
        self.written.add(h.idx)
        return self.win.pop(h.idx, [])

    def take_zeek(self) -> dict[str, list[Any]]:
        """The Zeek lines made since the last call, per log, in (time, order made)."""
        out = {log: [v for _, _, v in sorted(rows, key=lambda x: (x[0], x[1]))] for log, rows in self.zeek.items()}
        self.zeek = {}
        return out

    def new_day(self) -> None:
        self.written = set()
