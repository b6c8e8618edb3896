"""Domain account lockouts during brute force: failures in a window lock an account for a while."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

LOCKED = "0xc0000234"
BAD_PASSWORD = "0xc000006a"
NO_SUCH_USER = "0xc0000064"


@dataclass(slots=True)
class AccountState:
    failures: list[int] = field(default_factory=list)
    locks: list[tuple[int, int]] = field(default_factory=list)  # (from, until)


class Lockouts:
    """The domain's lockout policy applied to failures in the order the plan produces them."""

    def __init__(self, threshold: int, window_ms: int, duration_ms: int) -> None:
        self.threshold = threshold
        self.window = window_ms
        self.duration = duration_ms
        self.accounts: dict[str, AccountState] = {}

    def locked(self, account: str, t: int) -> bool:
        st = self.accounts.get(account)
        return bool(st) and any(a <= t < b for a, b in st.locks)  # type: ignore[union-attr]

    def fail(self, account: str, t: int) -> bool:
        """Count a bad password at ``t``; True when this failure locks the account."""
        st = self.accounts.setdefault(account, AccountState())
        bisect.insort(st.failures, t)
        lo = bisect.bisect_left(st.failures, t - self.window)
        hi = bisect.bisect_right(st.failures, t)
        if hi - lo >= self.threshold and not self.locked(account, t):
            st.locks.append((t, t + self.duration))
            st.failures = st.failures[hi:]
            return True
        return False
