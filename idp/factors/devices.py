"""Remember this device: a revocable credential that skips the second factor — never the
first — in the same browser for a while.

The raw credential (256 bits, ``new_token(32)``) lives only in the browser's HttpOnly
cookie; the database keeps its SHA-256 (a database dump lets no one skip anything). The hosted
pages, the MFA flow and "sign out everywhere" (``SelfService``) call exactly these signatures.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database, affected_rows
from idp.errors import error
from idp.models import RememberedDevice
from idp.settings import Settings

DEFAULT_DAYS = 30
MAX_TOKEN_LENGTH = 128


class RememberedDevices:
    def __init__(self, settings: Settings, db: Database, clock: Clock | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock or SystemClock()

    def remember(self, sub: str, ctx: RequestContext, days: int | None = None) -> str:
        """A new device credential for ``sub``, valid ``days`` (default 30); returns the raw
        value (cookie), stores its hash."""
        raw = new_token(32)
        lifetime = timedelta(days=days if days and days > 0 else DEFAULT_DAYS)
        with self.db.transaction() as session:
            device = RememberedDevice(
                sub=sub,
                token_hash=hash_secret(raw),
                user_agent=(ctx.user_agent or "")[:300],
                ip=ctx.ip,
                created_at=ctx.now,
                expires_at=ctx.now + lifetime,
            )
            session.add(device)
            session.flush()
            audit.record(session, "device.remember", ctx, sub=sub, device_id=device.id, days=lifetime.days)
        return raw

    def is_remembered(self, sub: str, raw: str | None) -> bool:
        """True when ``raw`` is a live, unrevoked credential of ``sub`` (touches last_used_at)."""
        if not raw or len(raw) > MAX_TOKEN_LENGTH:
            return False
        now = self.clock.now()
        with self.db.transaction() as session:
            # the lookup is by hash (an index), so its timing says nothing about the value
            touched = affected_rows(
                session,
                update(RememberedDevice)
                .where(
                    RememberedDevice.token_hash == hash_secret(raw),
                    RememberedDevice.sub == sub,
                    RememberedDevice.revoked_at.is_(None),
                    RememberedDevice.expires_at > now,
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False),
            )
        return touched == 1

    def list(self, sub: str) -> builtins.list[RememberedDevice]:
        """The user's live remembered devices (id, user_agent, ip, created_at, last_used_at, expires_at)."""
        query = (
            select(RememberedDevice)
            .where(
                RememberedDevice.sub == sub,
                RememberedDevice.revoked_at.is_(None),
                RememberedDevice.expires_at > self.clock.now(),
            )
            .order_by(RememberedDevice.id)
            .execution_options(populate_existing=True)
        )
        return builtins.list(self.db.session.scalars(query))

    def revoke(self, sub: str, device_id: int, ctx: RequestContext) -> None:
        """Raises device.not_found (also for another user's device)."""
        with self.db.transaction() as session:
            device = session.scalar(
                select(RememberedDevice).where(
                    RememberedDevice.id == device_id, RememberedDevice.sub == sub, RememberedDevice.revoked_at.is_(None)
                )
            )
            if device is None:
                raise error("device.not_found")
            device.revoked_at = ctx.now
            audit.record(session, "device.revoke", ctx, sub=sub, device_id=device_id)

    def revoke_all(self, sub: str, ctx: RequestContext) -> int:
        """Revoke every live device of ``sub`` (e.g. on password change); returns how many."""
        with self.db.transaction() as session:
            count = self.revoke_all_in(session, sub, ctx)
            audit.record(session, "device.revoke_all", ctx, sub=sub, count=count)
        return count

    @staticmethod
    def revoke_all_in(session: Session, sub: str, ctx: RequestContext) -> int:
        """``revoke_all`` inside the caller's unit of work (password reset, sign out everywhere)."""
        return affected_rows(
            session,
            update(RememberedDevice)
            .where(RememberedDevice.sub == sub, RememberedDevice.revoked_at.is_(None))
            .values(revoked_at=ctx.now)
            .execution_options(synchronize_session=False),
        )


def expires_in(device: RememberedDevice, now: datetime) -> int:
    """Seconds left, for a cookie's Max-Age."""
    expires_at = device.expires_at
    if expires_at.tzinfo is None:  # SQLite hands back naive UTC
        expires_at = expires_at.replace(tzinfo=UTC)
    return max(0, int((expires_at - now).total_seconds()))
