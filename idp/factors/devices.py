"""Remember this device (issue 4 point 5): a revocable credential that skips the second
factor — never the first — in the same browser for a while.

SKELETON (issue 4) — signatures are pinned.
"""

from __future__ import annotations

from idp.context import RequestContext
from idp.db import Database
from idp.settings import Settings


class RememberedDevices:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    def remember(self, sub: str, ctx: RequestContext, days: int | None = None) -> str:
        """A new device credential for ``sub``; returns the raw value (cookie), stores its hash."""
        raise NotImplementedError

    def is_remembered(self, sub: str, raw: str | None) -> bool:
        """True when ``raw`` is a live, unrevoked credential of ``sub`` (touches last_used_at)."""
        raise NotImplementedError

    def list(self, sub: str) -> list:
        """The user's live remembered devices (id, user_agent, ip, created_at, last_used_at, expires_at)."""
        raise NotImplementedError

    def revoke(self, sub: str, device_id: int, ctx: RequestContext) -> None:
        """Raises device.not_found."""
        raise NotImplementedError

    def revoke_all(self, sub: str, ctx: RequestContext) -> int:
        raise NotImplementedError
