"""The clock of the test suite: it starts at the real time and then moves only when a test
moves it, so an expiry is tested by stepping past it instead of waiting for it.

Every time-dependent rule of the domain reads ``services.clock`` (``idp/clock.py``): code and
state-token lifetimes, locks, ``auth_time``/``max_age``, token ``iat``/``exp``, refresh-token
and remembered-device expiry. ``tests/conftest.py`` gives each test a fresh ``ManualClock``
through the ``clock`` fixture. It is thread-safe: a live server thread and the test read it
while the test moves it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class ManualClock:
    def __init__(self, at: float | None = None) -> None:
        """``at``: seconds since the Unix epoch to start from (default: the real time now)."""
        self._now = time.time() if at is None else float(at)
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> float:
        """Move the clock by ``seconds`` (negative moves it back); returns the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"
