"""The OTP service: send one-time codes and verify them.

Every code rule lives here once (length and lifetime by auth source, one code in flight per
target and usage, send limits, the guess budget, single use); every face sends and checks
codes through ``send`` and ``verify``. Who may receive a code for what (a sign-up code only to
a free contact, a login code only where that method is on) is decided above, by the flows:
this package knows nothing of accounts.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

import redis
from redis.typing import EncodableT, FieldT

from idp import audit
from idp.clock import Clock, SystemClock
from idp.contacts import normalise_email, normalise_phone
from idp.context import RequestContext
from idp.crypto import CodeCipher, new_code
from idp.db import Database
from idp.errors import IdpError, error, invalid
from idp.guard.bruteforce import LOOK_UP, BruteForceGuard, LookUp
from idp.models import Application, AuthSource
from idp.otp.limits import Rule, SendLimiter
from idp.otp.messages import render_code_message
from idp.otp.senders import DeliveryError, Sender
from idp.settings import LUA_REACHED, Settings, limit_on
from idp.store import Keys, decoded, guarded, scoped_token, token_scope

USAGES = ("login", "signup", "update_userinfo", "reset_password", "mfa")  # mfa: a second factor
CHANNELS = ("sms", "email")
# Tencent CIAM, Send OTP Verification Code: "A 6-digit verification code will be used by
# default, which is valid for 60 seconds."
DEFAULT_CODE_LENGTH = 6
DEFAULT_CODE_TTL = 60

# Atomic verification: one Lua script. Of N concurrent correct submissions exactly one sees
# 'ok' when consuming. ``consume=0`` checks a code without spending it (used when the caller
# must still refuse, e.g. "User not found", so the failing request consumes nothing).
# ARGV[4], ARGV[5]: the wrong-code budgets per otp_token and per target (0: none, ``reached``);
# ARGV[6]: the per-target window, "" when it is off (nothing is counted across resends).
# Spending renames the record to its "spent" key (KEYS[4], same slot, same TTL) rather than
# deleting it, so that a request failing on a store outage after the spend can give the code
# back (``_GIVE_BACK``); verification reads only the live key, so a spent code never verifies.
_VERIFY = (
    LUA_REACHED
    + """
local rec = redis.call('HMGET', KEYS[1], 'binding', 'digest', 'code_exp', 'attempts')
if not rec[1] then return 'unknown_token' end
if rec[1] ~= ARGV[1] then return 'mismatch' end
local max_attempts = tonumber(ARGV[4])
if reached(tonumber(rec[4]), max_attempts) then return 'unknown_token' end
if reached(tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(ARGV[5])) then
  redis.call('DEL', KEYS[1])
  return 'too_many_failures'
end
if tonumber(rec[3]) < tonumber(ARGV[3]) then return 'expired_code' end
if rec[2] ~= ARGV[2] then
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  if ARGV[6] ~= '' and redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
  if reached(attempts, max_attempts) then
    redis.call('DEL', KEYS[1])
    if redis.call('GET', KEYS[3]) == ARGV[8] then redis.call('DEL', KEYS[3]) end
  end
  return 'wrong_code'
end
if ARGV[7] == '1' then
  redis.call('RENAME', KEYS[1], KEYS[4])
  redis.call('DEL', KEYS[2])
  if redis.call('GET', KEYS[3]) == ARGV[8] then redis.call('DEL', KEYS[3]) end
end
return 'ok'
"""
)

# Give a spent code back: only while its spent record is kept and no live record has taken its
# place, so a code goes back at most once per spend. The live-code pointer is restored, for
# what is left of the code's lifetime, when no other code has been sent meanwhile.
# KEYS: the record, the spent record, the live-code pointer; ARGV: the otp_token, now (ms).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('RENAME', KEYS[2], KEYS[1])
local left = tonumber(redis.call('HGET', KEYS[1], 'code_exp') or '0') - tonumber(ARGV[2])
if left > 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', left)
end
return 1
"""


def _refusal(outcome: str) -> IdpError:
    """The error of a check the script refused, by its outcome."""
    match outcome:
        case "mismatch":
            return error("otp.mismatch")
        case "too_many_failures":
            return error("otp.too_many_failures")
        case "expired_code":
            return error("otp.expired_code")
        case "wrong_code":
            return error("otp.wrong_code")
    return error("otp.unknown_token")


@dataclass(frozen=True)
class SendResult:
    otp_token: str
    channel: str
    target: str
    resent: bool  # the same live code was sent again
    expires_in: int  # seconds the otp_token stays valid


@dataclass(frozen=True)
class VerifiedCode:
    channel: str
    target: str
    usage: str
    auth_source_id: str


@dataclass(frozen=True)
class CodePolicy:
    auth_source_id: str  # "" when the default policy applies
    length: int
    ttl: int


class OtpService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis_client: redis.Redis,
        senders: dict[str, Sender],
        guard: BruteForceGuard | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.settings = settings
        self.guard = guard  # the brute-force policy, for every code verification
        self.db = db
        self.redis = redis_client
        self.senders = senders
        self.cipher = CodeCipher(settings.secret_key)
        self.limiter = SendLimiter(redis_client, settings.limits)
        self._verify = redis_client.register_script(_VERIFY)
        self._give_back = redis_client.register_script(_GIVE_BACK)

    # -- input ------------------------------------------------------------------------
    def normalise_target(self, channel: str, raw: str) -> str:
        """E.164 or normalised email. Raises contact.malformed_phone/_email, contact.blocked_email."""
        if channel == "sms":
            return normalise_phone(raw, self.settings.default_region)
        return normalise_email(raw, self.settings.email_blocklist)

    def code_policy(self, client: Application, channel: str, usage: str, auth_source_id: str | None) -> CodePolicy:
        """The auth source's code length and lifetime, checked against the client.

        Raises otp.auth_source_required (login without one), otp.invalid_auth_source.
        """
        if not auth_source_id:
            if usage == "login":
                raise invalid("otp.auth_source_required")
            return CodePolicy("", DEFAULT_CODE_LENGTH, DEFAULT_CODE_TTL)
        source: AuthSource | None = next((s for s in client.auth_sources if s.id == auth_source_id), None)
        if source is None or source.kind != channel:
            raise error("otp.invalid_auth_source")
        return CodePolicy(source.id, source.code_length, source.code_ttl)

    # -- send -------------------------------------------------------------------------
    @guarded
    def send(
        self,
        client: Application,
        channel: str,
        raw_target: str,
        usage: str,
        auth_source_id: str | None,
        ctx: RequestContext,
    ) -> SendResult:
        """Send (or re-send) a code. Raises contact.*, otp.invalid_auth_source,
        otp.auth_source_required, otp.rate_limited, otp.quota_exhausted, otp.delivery_failed,
        store.unavailable."""
        if usage not in USAGES:
            raise invalid("otp.invalid_usage", f"usage must be one of {', '.join(USAGES)}")
        target = self.normalise_target(channel, raw_target)
        policy = self.code_policy(client, channel, usage, auth_source_id)

        # a code that reaches a phone cannot be taken back: nothing is spent or sent while the
        # send could not be recorded (the audit event below)
        self.db.check()
        now = self.clock.time()
        binding = _binding(channel, target, usage, client.client_id, policy.auth_source_id)
        live = self._live_code(usage, channel, target, binding, now)
        rules = self.limiter.rules(channel, target, ctx.ip, client.client_id, int(now))
        try:
            self.limiter.reserve(rules, channel, now)
        except IdpError as exc:  # a refused send is audited too: pumping runs show in the log
            audit.failure(
                self.db,
                "otp.send",
                ctx,
                exc,
                client_id=client.client_id,
                channel=channel,
                usage=usage,
                rule=exc.details.get("rule"),
            )
            raise
        try:
            if live:
                token, code, code_ttl = live
            else:
                # the otp_token names its target's scope: its record shares a slot with the
                # target's failure counter and live-code pointer (idp/store.py)
                token = scoped_token(Keys.otp_scope(channel, target))
                code, code_ttl = new_code(policy.length), policy.ttl
            message = render_code_message(channel, target, usage, code, code_ttl, self.settings.issuer)
            self.senders[channel].deliver(message)
        except DeliveryError as exc:
            self.limiter.refund(rules)
            audit.write(
                self.db,
                "otp.send",
                ctx,
                result="failure",
                client_id=client.client_id,
                channel=channel,
                usage=usage,
                reason=str(exc),
            )
            raise error("otp.delivery_failed") from exc
        except BaseException:
            self.limiter.refund(rules)
            raise
        try:
            if not live:
                self._store(token, code, client, channel, target, usage, policy, now)
            audit.write(
                self.db, "otp.send", ctx, client_id=client.client_id, channel=channel, usage=usage, resent=bool(live)
            )
        except BaseException:
            # a store failed after the delivery: the caller answers 503 without an otp_token,
            # so the send counts for nothing and its code is not left in flight
            self._undo_send(rules, None if live else token, usage, channel, target)
            raise
        return SendResult(token, channel, target, bool(live), self.settings.otp_token_ttl)

    def _undo_send(self, rules: list[Rule], token: str | None, usage: str, channel: str, target: str) -> None:
        """Best effort (the store that failed may be Redis itself): refund the send and drop
        the code it stored."""
        with suppress(redis.RedisError):
            self.limiter.refund(rules)
            if token is not None:
                self.redis.delete(Keys.otp_token(token), Keys.otp_inflight(usage, channel, target))

    def _live_code(
        self, usage: str, channel: str, target: str, binding: str, now: float
    ) -> tuple[str, str, int] | None:
        """The otp_token, code and remaining lifetime of a code still valid for this target
        and sent for the same client and auth source (one code in flight)."""
        token = decoded(self.redis.get(Keys.otp_inflight(usage, channel, target)))
        if not token:
            return None
        sealed, code_exp, stored_binding = self.redis.hmget(Keys.otp_token(token), "sealed", "code_exp", "binding")
        remaining = (int(code_exp or 0) - now * 1000) / 1000
        if not sealed or stored_binding != binding or remaining < 1:
            return None
        return token, self.cipher.unseal(decoded(sealed)), int(remaining)

    def _store(
        self,
        token: str,
        code: str,
        client: Application,
        channel: str,
        target: str,
        usage: str,
        policy: CodePolicy,
        now: float,
    ) -> None:
        code_exp_ms = int((now + policy.ttl) * 1000)
        record: dict[FieldT, EncodableT] = {  # what HSET takes
            "binding": _binding(channel, target, usage, client.client_id, policy.auth_source_id),
            "digest": self.cipher.digest(token, code),
            "sealed": self.cipher.seal(code),  # only for re-sending while valid
            "code_exp": code_exp_ms,
            "attempts": 0,
        }
        key = Keys.otp_token(token)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=record)
        pipe.expire(key, self.settings.otp_token_ttl)
        pipe.set(Keys.otp_inflight(usage, channel, target), token, ex=policy.ttl)
        pipe.execute()

    # -- verify -----------------------------------------------------------------------
    @guarded
    def verify(
        self,
        client: Application,
        channel: str,
        target: str,
        usage: str,
        auth_source_id: str,
        otp_token: str,
        code: str,
        *,
        consume: bool = True,
        ctx: RequestContext | None = None,
        guarded_as: str | LookUp | None = LOOK_UP,
    ) -> VerifiedCode:
        """Check ``code`` against ``otp_token`` (``target`` already normalised).

        Every way a code is checked shares the brute-force policy: a temporarily locked
        number/address (its account, when it has one: the guard finds it) checks no code, and
        a wrong code counts as a failure of it (``ctx`` gives the client IP; without it only
        the per-identifier rules apply). No captcha here: the code's own budget bounds guessing.
        ``guarded_as``: the account (or None) a caller that has just asked the guard itself found
        for ``target``, so neither the lookup nor the lock check is made twice in one request.

        Raises otp.unknown_token, account.locked, otp.mismatch, otp.wrong_code, otp.expired_code,
        otp.too_many_failures, store.unavailable.
        """
        if not otp_token or len(otp_token) > 128:
            raise error("otp.unknown_token")
        ctx = ctx or RequestContext()
        sub: str | None = None
        if self.guard is not None and isinstance(guarded_as, LookUp):
            account = self.guard.find_contact(channel, target)
            sub = account.sub if account is not None else None
            self.guard.check(target, ctx, sub=sub, captcha=False)
        elif not isinstance(guarded_as, LookUp):
            sub = guarded_as
        limits = self.settings.limits
        if token_scope(otp_token) != Keys.otp_scope(channel, target):
            # sent to another target (or not a token of ours): its record lives with that
            # target's keys, so the script cannot run here; the answer is what it would give
            found = self.redis.exists(Keys.otp_token(otp_token))
            raise error("otp.mismatch") if found else error("otp.unknown_token")
        outcome = self._verify(
            keys=[
                Keys.otp_token(otp_token),
                Keys.otp_failures(usage, channel, target),
                Keys.otp_inflight(usage, channel, target),
                Keys.otp_spent(otp_token),
            ],
            args=[
                _binding(channel, target, usage, client.client_id, auth_source_id or ""),
                self.cipher.digest(otp_token, code or ""),
                int(self.clock.time() * 1000),
                limits.token_attempts,
                limits.target_failures,
                limits.target_failure_window if limit_on(limits.target_failure_window) else "",
                "1" if consume else "0",
                otp_token,
            ],
        )
        if outcome != "ok":
            if self.guard is not None and outcome in ("wrong_code", "too_many_failures"):
                self.guard.failed(target, ctx, sub=sub)
            raise _refusal(outcome)
        if self.guard is not None and isinstance(guarded_as, LookUp):
            # a caller that asked the guard itself clears the counters once it has signed the
            # person in (a right code for an account that may not sign in is no success)
            self.guard.succeeded(target, ctx, sub=sub)
        return VerifiedCode(channel, target, usage, auth_source_id or "")

    @guarded
    def give_back(self, otp_token: str, usage: str, channel: str, target: str) -> bool:
        """Undo the spending of ``otp_token``'s code (``target`` normalised) by a request that
        then failed on a store outage before it could answer: a request that answers 503
        spends nothing. True when the code is live again; False when there was nothing to give
        back (never spent, already given back, or its record expired).

        Raises store.unavailable.
        """
        if not otp_token or token_scope(otp_token) != Keys.otp_scope(channel, target):
            return False  # never verified here: nothing was spent
        keys = [Keys.otp_token(otp_token), Keys.otp_spent(otp_token), Keys.otp_inflight(usage, channel, target)]
        return bool(self._give_back(keys=keys, args=[otp_token, int(self.clock.time() * 1000)]))


def _binding(channel: str, target: str, usage: str, client_id: str, auth_source_id: str) -> str:
    """Everything a code was sent for; verifying with any of it changed is a mismatch."""
    return "\x1f".join((channel, target, usage, client_id, auth_source_id))
