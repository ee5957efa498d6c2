"""One brute-force policy for every way in (issue 5 point 2, SPEC 6).

SKELETON — signatures are pinned: ``LoginFlow.password``, the OTP verifications, the hosted
login page and the JSON dialects (CIAM, CloudBase, OneAccess) use exactly these.

Failures are counted in Redis per (identifier, IP) and per identifier, so the counters hold
across app instances. After a few failures a solved captcha is required; after more, the
identifier is locked for a configured time and unlocks by itself (or by an admin). A lock
never extends itself: an attacker cannot keep a person locked out forever.
"""

from __future__ import annotations

import redis

from idp.accounts.captcha import CaptchaService
from idp.context import RequestContext
from idp.db import Database
from idp.settings import Settings


class BruteForceGuard:
    def __init__(self, settings: Settings, db: Database, redis_client: redis.Redis,
                 captcha: CaptchaService) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis_client
        self.captcha = captcha

    def check(self, identifier: str, ctx: RequestContext, captcha_token: str | None = None) -> None:
        """Before checking a secret for ``identifier`` (a normalised username, email, phone
        number, or a user's sub). Raises account.locked (USER_STATUS, with ``retry_after``),
        login.captcha_required (CAPTCHA_REQUIRED) when a captcha is due and ``captcha_token``
        is missing or not valid (a valid one is spent)."""
        raise NotImplementedError

    def captcha_due(self, identifier: str, ctx: RequestContext) -> bool:
        """Whether the next attempt for ``identifier`` from this IP must carry a captcha (the
        hosted page shows the captcha before the person submits)."""
        raise NotImplementedError

    def failed(self, identifier: str, ctx: RequestContext) -> None:
        """Count one failure (wrong password or wrong code); may start a lock (audited)."""
        raise NotImplementedError

    def succeeded(self, identifier: str, ctx: RequestContext) -> None:
        """A success clears the counters of ``identifier`` for this IP."""
        raise NotImplementedError

    def unlock(self, identifier: str, ctx: RequestContext) -> bool:
        """Admin unlock: clear the lock and the counters (audited). True if it was locked."""
        raise NotImplementedError
