"""A clock for the token tests: the real time plus an offset the test moves (thread-safe), so
real waiting still counts and a test can jump hours ahead without sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class OffsetClock:
    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
