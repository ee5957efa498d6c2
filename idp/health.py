"""Readiness: whether the stores Gatehouse cannot answer without both answer now.

Each check runs in a thread of its own and is given ``timeout`` seconds (1 s by default): a
stopped store refuses at once, but a blackholed one (packets dropped, a frozen server) would
otherwise hold the caller until a TCP or driver timeout, far longer than a load balancer's
probe waits. Both checks run at once, so the answer comes within about ``timeout`` whatever
the stores do. A check that is still waiting when its time is up counts as failed; its thread
ends by itself when the store's own socket timeout fires. Nothing is cached: every probe asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis
from sqlalchemy import text

from idp.db import Database

TIMEOUT = 1.0

Check = Callable[[], object]


def database_check(db: Database) -> Check:
    def check() -> None:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def redis_check(client: redis.Redis) -> Check:
    def check() -> None:
        if not client.ping():
            raise redis.ConnectionError("no PONG")

    return check


def failed_checks(checks: dict[str, Check], timeout: float = TIMEOUT) -> list[str]:
    """The names of the checks that raised or did not finish within ``timeout`` seconds, in
    the order given; [] when every store answered."""
    passed: set[str] = set()
    lock = threading.Lock()

    def run(name: str, check: Check) -> None:
        try:
            check()
        except Exception:  # any failure means "not ready"; the answer says which store
            return
        with lock:
            passed.add(name)

    threads = [
        threading.Thread(target=run, args=(name, check), name=f"readyz-{name}", daemon=True)
        for name, check in checks.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout  # one deadline for all: they run side by side
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return [name for name in checks if name not in passed]


def readiness(db: Database, client: redis.Redis, timeout: float = TIMEOUT) -> list[str]:
    """``[]`` when the database answers ``SELECT 1`` and Redis answers ``PING`` within
    ``timeout`` seconds each; else the failed ones among ``database`` and ``redis``."""
    return failed_checks({"database": database_check(db), "redis": redis_check(client)}, timeout)
