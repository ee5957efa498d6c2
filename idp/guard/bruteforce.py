"""One brute-force policy for every way in: a wrong password and a wrong one-time code count
toward the same captcha and the same temporary lock, whichever face they came through (OWASP
Authentication Cheat Sheet, "Protect against automated attacks"; NIST SP 800-63B 5.2.2).

``LoginFlow.password``, the OTP verifications, the hosted login page and the JSON dialects
(CIAM, CloudBase, OneAccess) call exactly these signatures.

Failures are counted in Redis per (identifier, IP) and per identifier, so the counters hold
across app instances. After a few failures a solved captcha is required; after more, the
identifier is locked for a configured time and unlocks by itself (or by an admin). A lock
never extends itself: an attacker cannot keep a person locked out forever.

The rules (thresholds are ``Limits`` settings, README "Limits"):

- **Subject.** What is counted is the *account* when the identifier names one (its ``sub``:
  ``ada`` and ``ada@example.com`` share one budget), else the identifier normalised (lower-case
  email, E.164 phone, exact username). Unknown identifiers are counted, captcha'd and locked
  exactly like known ones, so the policy's answers tell nothing about who is registered.
  Subjects are stored hashed (a password typed into the username box never lands in Redis).
- **Captcha** (``login.captcha_required``) once the failures reach ``login_captcha_after`` for
  this identifier from this IP, or ``login_captcha_after_identifier`` from anywhere, or
  ``login_captcha_after_ip`` from this IP over all identifiers (password spraying). A valid
  ``captcha_token`` is spent by the attempt; one that is not needed is left alone. Only ways
  in whose wire format can carry a captcha ask for one (``check(..., captcha=False)`` for the
  others: the CIAM OTP grants, CloudBase verification codes, MFA codes — their guesses are
  bounded by the OTP budget and the lock).
- **Lock** (``account.locked``, USER_STATUS, ``retry_after``) when the identifier's failures
  reach ``login_lock_after`` within ``login_failure_window``: for ``login_lock_seconds``, for
  every IP, whatever the password. The lock stores the instant it ends, read against the
  services' clock (its Redis expiry only cleans up). Attempts during the lock check no secret
  and count nothing (the end is never moved), and the per-identifier count restarts with the
  lock, so the lock ends when it said it would and the person starts afresh.
- **Off.** Every threshold reads as ``idp.settings.reached`` says: 0 switches that rule off.
  A ``login_failure_window`` of 0 counts no failure at all (no captcha, no lock); a
  ``login_lock_seconds`` of 0 never locks (the captcha rules still count).
- **Success** clears the identifier's count for this IP (the per-identifier count runs out
  with its window).
- **Unlock** by an admin clears the lock and the identifier's counters (``login.unlocked``).

A user whose ``status`` is ``locked`` (set by an admin) is another thing: permanent until an
admin changes it, ``account.abnormal_status``.

Audit events: ``login.captcha_required`` (a captcha was asked for), ``login.locked`` (a lock
started), ``login.unlocked`` (by an admin; unlocking by time is implicit).

Redis (``idp/store.py``): ``bf:lock:{h}`` (string: when the lock ends, unix ms; ttl = lock
time), ``bf:id:{h}`` (int), ``bf:idip:{h}`` (hash ip -> int), ``bf:ip:{ip}`` (int); counters
live for the failure window from their first failure. Every rule is one round trip (a
pipeline or a Lua script), a failure two: the subject's three keys share a hash tag (the
subject's hash, so one slot on Redis Cluster) and one script counts them and starts the lock
atomically; the per-IP count is another subject, on another slot, counted right after by a
script of its own. The lock rule needs only the subject's keys; the spraying captcha reads the
IP's count, which may trail a concurrent failure by one round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

import redis
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idp import audit
from idp.clock import Clock, SystemClock
from idp.contacts import normalise_email, normalise_phone
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError, error
from idp.guard.captcha import CaptchaChallenge, CaptchaService
from idp.models import User
from idp.settings import LUA_REACHED, Settings, limit_on, reached
from idp.store import Keys, decoded, guarded

MAX_IDENTIFIER = 320


class LookUp:
    """``sub=LOOK_UP``: the caller has not resolved the identifier; the guard looks it up."""

    def __repr__(self) -> str:
        return "LOOK_UP"


LOOK_UP: Final = LookUp()

# KEYS: lock, per identifier, per identifier by IP (hash): one subject, one hash tag (the
# subject's hash), so one slot on Redis Cluster. ARGV: ip, window (s, never 0: a window of 0
# counts nothing and never gets here), lock_after (0 when the lock is off), lock time (ms), now
# (ms), the end of a lock starting now (ms). Returns {per-identifier count, 1 if this failure
# started a lock}; {-1, 0} during a lock. The lock holds the instant it ends (by the services'
# clock); its Redis expiry is only the clean-up. During a lock nothing is counted and its end
# is never moved.
_FAILED = (
    LUA_REACHED
    + """
local now = tonumber(ARGV[5])
if tonumber(redis.call('GET', KEYS[1]) or '0') > now then return {-1, 0} end
local window = tonumber(ARGV[2])
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], window) end
local fresh = redis.call('EXISTS', KEYS[3]) == 0
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
if fresh then redis.call('EXPIRE', KEYS[3], window) end
if reached(n, tonumber(ARGV[3])) then
  redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[4])
  redis.call('DEL', KEYS[2])
  return {n, 1}
end
return {n, 0}
"""
)

# KEYS: one counter (the per-IP failures: another subject, so another slot, and a script of its
# own). ARGV: window (s). Counts one; the window runs from the first.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# KEYS: the per-IP captcha counter. ARGV: limit (never 0: a limit of 0 never gets here), window.
# Returns the seconds to wait, or 0.
_CAPTCHA_RATE = (
    LUA_REACHED
    + """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if reached(n - 1, tonumber(ARGV[1])) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0
"""
)


def locked(retry_after: int) -> IdpError:
    """A temporary lock. Said the same way whether or not the identifier has an account."""
    return error("account.locked", retry_after=retry_after)


def captcha_required() -> IdpError:
    return error("login.captcha_required")


def captcha_rate_limited(retry_after: int) -> IdpError:
    return error("captcha.rate_limited", retry_after=retry_after, rule="captcha_ip")


class BruteForceGuard:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis_client: redis.Redis,
        captcha: CaptchaService,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.settings = settings
        self.limits = settings.limits
        self.db = db
        self.redis = redis_client
        self.captcha = captcha
        self._failed = redis_client.register_script(_FAILED)
        self._count = redis_client.register_script(_COUNT)
        self._captcha_rate = redis_client.register_script(_CAPTCHA_RATE)

    # -- what every way in calls ----------------------------------------------------------
    @guarded
    def check(
        self,
        identifier: str,
        ctx: RequestContext,
        captcha_token: str | None = None,
        *,
        sub: str | LookUp | None = LOOK_UP,
        captcha: bool = True,
    ) -> bool:
        """Before checking a secret for ``identifier`` (a normalised username, email, phone
        number, or a user's sub). Raises account.locked (USER_STATUS, with ``retry_after``),
        login.captcha_required (CAPTCHA_REQUIRED) when a captcha is due and ``captcha_token``
        is missing or not valid (a valid one is spent).

        Returns whether failures of ``identifier`` from this IP were counted: only then has a
        success (``succeeded``) anything to clear, so most sign-ins make one Redis call less.

        ``sub``: the account the caller already found for ``identifier`` (None: none), so the
        guard need not look it up again. ``captcha=False`` for ways in that cannot carry one:
        only the lock applies there.
        """
        keys = self._keys(identifier, sub)
        lock_left, per_identifier, by_ip, per_ip = self._read(keys, ctx)
        if lock_left > 0:
            raise locked(lock_left)
        counted_here = by_ip is not None
        if not captcha or not self._due(per_identifier, by_ip, per_ip):
            return counted_here
        if captcha_token and self.captcha.redeem(captcha_token, ctx):
            return counted_here
        audit.write(
            self.db,
            "login.captcha_required",
            ctx,
            result="failure",
            sub=keys.sub,
            reason="invalid_captcha" if captcha_token else "no_captcha",
        )
        raise captcha_required()

    @guarded
    def captcha_due(self, identifier: str, ctx: RequestContext, *, sub: str | LookUp | None = LOOK_UP) -> bool:
        """Whether the next attempt for ``identifier`` from this IP must carry a captcha (the
        hosted page shows the captcha before the person submits). False while locked."""
        lock_left, per_identifier, by_ip, per_ip = self._read(self._keys(identifier, sub), ctx)
        return lock_left <= 0 and self._due(per_identifier, by_ip, per_ip)

    def _read(self, keys: _Keys, ctx: RequestContext) -> tuple[int, str | None, str | None, str | None]:
        """One round trip: the lock's seconds left (0: none) and the three failure counts."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.lock)
        pipe.get(keys.per_identifier)
        pipe.hget(keys.by_ip, ctx.ip)
        pipe.get(keys.per_ip(ctx.ip))
        lock_ends, per_identifier, by_ip, per_ip = pipe.execute()
        return self._seconds_left(lock_ends), per_identifier, by_ip, per_ip

    def _seconds_left(self, lock_ends: str | None) -> int:
        """Whole seconds (rounded up) until a lock ending at ``lock_ends`` (ms) ends; 0 when
        there is none or it has ended by the clock (its key may outlive it a moment)."""
        left_ms = int(lock_ends or 0) - int(self.clock.time() * 1000)
        return max(0, -(-left_ms // 1000))

    @guarded
    def failed(self, identifier: str, ctx: RequestContext, *, sub: str | LookUp | None = LOOK_UP) -> IdpError | None:
        """Count one failure (wrong password or wrong code); may start a lock (audited).

        Returns the ``account.locked`` error when this failure started the lock (else None): the
        flows still answer that attempt with its own error (wrong password/code) and every later
        one with the lock; the hosted page may announce the lock at once (``locked_for``)."""
        limits = self.limits
        if not limit_on(limits.login_failure_window):
            return None  # a failure window of 0 counts nothing: neither captcha nor lock applies
        keys = self._keys(identifier, sub)
        now_ms, lock_ms = int(self.clock.time() * 1000), limits.login_lock_seconds * 1000
        # a lock of 0 seconds is no lock: that rule is off, the failures still count toward the captcha
        lock_after = limits.login_lock_after if limit_on(limits.login_lock_seconds) else 0
        count, started = self._failed(
            keys=[keys.lock, keys.per_identifier, keys.by_ip],
            args=[
                ctx.ip,
                limits.login_failure_window,
                lock_after,
                lock_ms,
                now_ms,
                now_ms + lock_ms,
            ],
        )
        if count == -1:
            return None  # locked: nothing counts, the IP's spraying count included
        # the IP's count is a rule of its own (the captcha for spraying), on its own slot
        self._count(keys=[keys.per_ip(ctx.ip)], args=[limits.login_failure_window])
        if not started:
            return None
        audit.write(
            self.db,
            "login.locked",
            ctx,
            result="failure",
            sub=keys.sub,
            lock_seconds=limits.login_lock_seconds,
            failures=limits.login_lock_after,
        )
        return locked(limits.login_lock_seconds)

    @guarded
    def succeeded(self, identifier: str, ctx: RequestContext, *, sub: str | LookUp | None = LOOK_UP) -> None:
        """A success clears the counters of ``identifier`` for this IP."""
        self.redis.hdel(self._keys(identifier, sub).by_ip, ctx.ip)

    def unlock(self, identifier: str, ctx: RequestContext, *, sub: str | LookUp | None = LOOK_UP) -> bool:
        """Admin unlock: clear the lock and the counters (audited). True if it was locked."""
        with self.db.transaction() as session:
            return self.unlock_in(session, identifier, ctx, sub=sub)

    @guarded
    def unlock_in(
        self, session: Session, identifier: str, ctx: RequestContext, *, sub: str | LookUp | None = LOOK_UP
    ) -> bool:
        """``unlock`` inside the caller's unit of work: Redis is cleared now, the
        ``login.unlocked`` event goes into ``session`` and commits (or not) with the caller's
        change. Raises store.unavailable, which rolls the caller's change back."""
        keys = self._keys(identifier, sub)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.lock)
        pipe.delete(keys.per_identifier, keys.by_ip)
        was_locked, _ = pipe.execute()
        if was_locked:
            audit.record(session, "login.unlocked", ctx, sub=keys.sub, by="admin")
        return bool(was_locked)

    # -- admin operations and lookups -----------------------------------------------------
    def unlock_account(self, sub: str, ctx: RequestContext) -> bool:
        """``POST /admin/api/v1/users/<sub>/unlock``: clear the account's lock and counters.
        Audited as ``admin.user.unlock`` (and ``login.unlocked`` when it was locked).
        Raises account.not_found. True if it was locked."""
        if self.db.session.scalar(select(User.sub).where(User.sub == sub)) is None:
            raise error("account.not_found")
        with self.db.transaction() as session:
            was_locked = self.unlock_in(session, sub, ctx, sub=sub)
            audit.record(session, "admin.user.unlock", ctx, sub=sub, was_locked=was_locked)
        return was_locked

    @guarded
    def locked_for(self, identifier: str, *, sub: str | LookUp | None = LOOK_UP) -> int:
        """Seconds the identifier stays locked (0: not locked). For the admin API."""
        return self._seconds_left(decoded(self.redis.get(self._keys(identifier, sub).lock)))

    @guarded
    def new_captcha(self, ctx: RequestContext) -> CaptchaChallenge:
        """A captcha image, at most ``captcha_ip_per_minute`` per client IP (drawing one costs
        CPU; nobody needs more). Raises captcha.rate_limited (RATE_LIMITED, ``retry_after``)."""
        limit = self.limits.captcha_ip_per_minute
        if limit_on(limit):  # 0: no limit, and no counter
            window_start = int(self.clock.time()) // 60 * 60
            wait = int(self._captcha_rate(keys=[Keys.captcha_rate(ctx.ip, window_start)], args=[limit, 60]))
            if wait:
                raise captcha_rate_limited(wait)
        return self.captcha.new(ctx)

    def find_user(self, identifier: str) -> User | None:
        """Username first, then email address, then phone number (exact, normalised): the one
        lookup of ``LoginFlow.find_user`` and of the policy, so both name the same account."""
        identifier = (identifier or "").strip()
        if not identifier or len(identifier) > MAX_IDENTIFIER:
            return None
        email, phone = self._as_email(identifier), self._as_phone(identifier)
        clauses = [User.username == identifier]
        if email:
            clauses.append(User.email == email)
        if phone:
            clauses.append(User.phone_number == phone)
        found = list(self.db.session.scalars(select(User).where(or_(*clauses)).limit(3)))
        rules: tuple[Callable[[User], bool], ...] = (
            lambda u: u.username == identifier,
            lambda u: bool(email) and u.email == email,
            lambda u: bool(phone) and u.phone_number == phone,
        )
        for matches in rules:
            user = next((u for u in found if matches(u)), None)
            if user is not None:
                return user
        return None

    def find_contact(self, channel: str, target: str) -> User | None:
        """The account a phone number (E.164) or email address (normalised) belongs to: the
        subject of the code checks sent to it."""
        column = User.phone_number if channel == "sms" else User.email
        return self.db.session.scalar(select(User).where(column == target))

    def normalise(self, identifier: str) -> str:
        """Lower-case email, E.164 phone, else the exact (trimmed) text."""
        identifier = (identifier or "").strip()[:MAX_IDENTIFIER]
        return self._as_email(identifier) or self._as_phone(identifier) or identifier

    # -- helpers --------------------------------------------------------------------------
    def _as_email(self, identifier: str) -> str | None:
        if "@" not in identifier:
            return None
        try:
            return normalise_email(identifier, self.settings.email_blocklist)
        except IdpError:
            return None

    def _as_phone(self, identifier: str) -> str | None:
        if "@" in identifier or not identifier[:1] or identifier[:1] not in "+0123456789(":
            return None
        try:
            return normalise_phone(identifier, self.settings.default_region)
        except IdpError:
            return None

    def _keys(self, identifier: str, sub: str | LookUp | None) -> _Keys:
        if isinstance(sub, LookUp):
            user = self.find_user(identifier)
            sub = user.sub if user is not None else None
        subject = f"sub:{sub}" if sub else f"id:{self.normalise(identifier)}"
        return _Keys(hashlib.sha256(subject.encode()).hexdigest(), sub)

    def _due(self, per_identifier: str | None, by_ip: str | None, per_ip: str | None) -> bool:
        limits = self.limits
        return any(
            reached(int(count or 0), limit)
            for limit, count in (
                (limits.login_captcha_after, by_ip),
                (limits.login_captcha_after_identifier, per_identifier),
                (limits.login_captcha_after_ip, per_ip),
            )
        )


class _Keys:
    __slots__ = ("by_ip", "lock", "per_identifier", "sub")

    def __init__(self, subject_hash: str, sub: str | None) -> None:
        self.lock = Keys.login_lock(subject_hash)
        self.per_identifier = Keys.login_failures(subject_hash)
        self.by_ip = Keys.login_failures_by_ip(subject_hash)
        self.sub = sub

    @staticmethod
    def per_ip(ip: str) -> str:
        return Keys.ip_failures(ip)
