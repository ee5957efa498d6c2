"""Where the domain reads the time: one clock per ``Services``, so every rule that depends on
time (code and token lifetimes, locks, ``auth_time``, ``max_age``) reads the same clock and a
test can move it instead of waiting."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def now(self) -> datetime:
        """The same instant as an aware UTC datetime."""
        ...


class SystemClock:
    """The operating system's wall clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)
