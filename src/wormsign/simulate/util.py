"""Deterministic randomness, identifiers and time formats shared by the simulator."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from functools import lru_cache

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MS_HOUR = 3_600_000
MS_DAY = 86_400_000


def rng(seed: int, *key: object) -> random.Random:
    """A generator derived from the run seed and a key; independent of call order and hash seeds."""
    text = ":".join([str(seed), *(str(k) for k in key)]).encode()
    return random.Random(int.from_bytes(hashlib.sha256(text).digest()[:8], "big"))


def digest_hex(algo: str, *key: object) -> str:
    """A stable fake digest (``sha256``, ``md5``, ``sha1``) of a key: the 'hash' of a simulated binary."""
    return hashlib.new(algo, "|".join(str(k) for k in key).encode()).hexdigest()


_B62_TABLE = bytes(ord(_B62[b % 62]) for b in range(256))


def zeek_uid(r: random.Random, prefix: str = "C") -> str:
    """A Zeek connection (``C``) or file (``F``) uid: a letter and 17 base-62 characters."""
    return prefix + r.randbytes(17).translate(_B62_TABLE).decode()


def guid(r: random.Random) -> str:
    """A braced upper-case GUID as Sysmon and Windows write them."""
    h = r.randbytes(16).hex().upper()
    return "{" + f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" + "}"


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


_HMS: list[str] = []  # "HH:MM:SS." of each second of a day, made on first use


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds and a ``Z`` (Winlogbeat's @timestamp)."""
    if not _HMS:
        _HMS.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}." for s in range(86400))
    d, r = divmod(ms, 86_400_000)
    s, f = divmod(r, 1000)
    return f"{_day(d)}T{_HMS[s]}{f:03d}Z"


def iso_us(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with microseconds (truth.json)."""
    return iso(ms)[:-1] + "000Z"


def sysmon_time(ms: int) -> str:
    """Sysmon's UtcTime layout: ``2026-03-02 09:14:07.250``."""
    t = iso(ms)
    return t[:10] + " " + t[11:-1]


def zeek_ts(ms: int) -> str:
    """Zeek's epoch seconds with microseconds."""
    return f"{ms // 1000}.{ms % 1000:03d}000"


def day_str(ms: int) -> str:
    return _day(ms // MS_DAY)


def parse_iso_ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time (naive means UTC)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def weighted(r: random.Random, table: dict[str, float]) -> str:
    """Pick a key of ``table`` with its value as weight (keys in their listed order)."""
    keys = list(table)
    return r.choices(keys, weights=[table[k] for k in keys])[0]
