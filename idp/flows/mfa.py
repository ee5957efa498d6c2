"""The second step of a login: state tokens in Redis between the first factor and the second,
and the checks that finish the login.

The hosted pages, the OneAccess dialect, the CloudBase face and the authorization endpoint
(step-up) call exactly these signatures.

A state token is ≥ 128 bits, single use, lives at most 5 minutes (absolute: rotating never
extends it), is bound to the client and (on the JSON API) to the device fingerprint
(``RequestContext.device``), and is rotated after each step. Nothing about the first factor
travels outside Redis but the opaque token. All state changes are Lua scripts (atomic on the
Redis server, so every instance sees one outcome): a verify first *claims* the token, so of N
concurrent verifies exactly one checks a code and wins; the others answer
``mfa.invalid_state_token``. A wrong code releases the claim and counts a failure; the fifth
kills the token (on top of the OTP service's own budget).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from idp import audit
from idp.accounts.users import UserService
from idp.clock import Clock, SystemClock
from idp.contacts import mask_target
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError, Kind, error, invalid
from idp.factors import OTP_FACTOR, FactorService, PasskeyChallenge, PasskeyService, RememberedDevices, TotpSetup
from idp.flows.results import Completed
from idp.guard.bruteforce import BruteForceGuard
from idp.models import Application, User
from idp.otp.service import OtpService, SendResult
from idp.settings import Settings
from idp.store import Keys, guarded, scope_of, scoped_token, token_scope

STATE_TOKEN_TTL = 300
MAX_FAILURES = 5
CLAIM_TIMEOUT_MS = 30_000  # a claim left by a crashed worker stops blocking after this
FACTOR_AMR = {"otp_sms": ["sms"], "otp_email": ["otp", "email"], "totp": ["otp"], "recovery_code": ["otp"]}
CHANNEL_OF = {factor: channel for channel, factor in OTP_FACTOR.items()}

# KEYS[1] the state; ARGV: mode (peek|claim|set|rotate), client_id, device, now_ms, then
# field/value pairs (set). Returns {status, field, value, ...}.
_STATE = """
local rec = redis.call('HMGET', KEYS[1], 'client_id', 'device', 'busy', 'expires_at')
if not rec[1] or tonumber(rec[4]) <= tonumber(ARGV[4]) then return {'unknown'} end
if rec[1] ~= ARGV[2] or rec[2] ~= ARGV[3] then
  local data = redis.call('HGET', KEYS[1], 'data')
  redis.call('DEL', KEYS[1])
  return {'foreign', data}
end
local mode = ARGV[1]
local busy = rec[3] and tonumber(rec[3]) > tonumber(ARGV[4]) - tonumber(ARGV[5])
if mode ~= 'peek' and busy then return {'busy'} end
if mode == 'claim' then redis.call('HSET', KEYS[1], 'busy', ARGV[4]) end
if mode == 'set' then
  for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local all = redis.call('HGETALL', KEYS[1])
if mode == 'rotate' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], unpack(all))
  redis.call('HDEL', KEYS[2], 'busy')
  redis.call('PEXPIREAT', KEYS[2], rec[4])
end
table.insert(all, 1, 'ok')
return all
"""

# After a failed check: count it (ARGV[1] = 1 or 0), kill the token at ARGV[2] failures,
# else release the claim.
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'failures', ARGV[1])
if n >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
else
  redis.call('HDEL', KEYS[1], 'busy')
end
return n
"""


@dataclass(frozen=True)
class NeedsFactor:
    """The first factor passed; a second one is needed before the login completes."""

    state_token: str
    factors: list[str]  # what the person may use: "otp_sms", "otp_email", "totp", "recovery_code"
    masked_phone: str | None = None
    masked_email: str | None = None
    expires_in: int = STATE_TOKEN_TTL
    enrol: bool = False  # policy requires MFA and the person has nothing usable: enrol first
    # the person has a passkey: ``passkey_options`` / ``verify_passkey`` finish the step with it
    passkey: bool = False


@dataclass
class StateData:
    """What the state token stands for (kept in Redis only)."""

    sub: str
    client_id: str
    device: str | None
    amr: list[str]
    auth_time: int
    created_at: int
    factors: list[str] = field(default_factory=list)
    enrol: bool = False
    expires_at: int = 0  # unix seconds; created_at + the state lifetime, never extended
    otp_channel: str | None = None  # the MFA code sent last (send_code), if any
    otp_target: str | None = None
    otp_token: str | None = None
    otp_source: str = ""
    failures: int = 0

    def expires_in(self, now: float) -> int:
        return max(0, self.expires_at - int(now))


def invalid_state_token() -> IdpError:
    return error("mfa.invalid_state_token")


def factor_not_allowed(factor: str) -> IdpError:
    return error("mfa.factor_not_allowed", f"{factor} cannot be used here")


class MfaFlow:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis_client: redis.Redis,
        users: UserService,
        otp: OtpService,
        factors: FactorService,
        devices: RememberedDevices,
        guard: BruteForceGuard | None = None,
        clock: Clock | None = None,
        *,
        passkeys: PasskeyService | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.guard = guard  # the brute-force policy: wrong second-factor codes are failures too
        self.db = db
        self.redis = redis_client
        self.users = users
        self.otp = otp
        self.factors = factors
        self.devices = devices
        self.passkeys = passkeys
        self.state_ttl = STATE_TOKEN_TTL  # tests shorten it to watch a token expire
        self._state = redis_client.register_script(_STATE)
        self._release = redis_client.register_script(_RELEASE)

    # -- first factor passed ----------------------------------------------------------------
    @guarded
    def after_first_factor(
        self, client: Application, ctx: RequestContext, done: Completed, *, remembered_device: str | None = None
    ) -> Completed | NeedsFactor:
        """``Completed`` when no second factor is needed (policy off, nothing enrolled and
        policy optional, or a remembered device the application allows); else
        ``NeedsFactor`` with a new state token. Raises store.unavailable."""
        user = done.user
        if "mfa" in done.amr:  # the first factor was two already (a passkey: held + verified)
            return done
        if not self.second_factor_expected(client.mfa, user.sub):
            return done
        ready = self.factors.ready_types(user.sub)
        if (
            remembered_device
            and (client.remember_device_days or 0) > 0
            and self.devices.is_remembered(user.sub, remembered_device)
        ):
            audit.write(
                self.db, "mfa.skipped", ctx, sub=user.sub, client_id=client.client_id, reason="remembered_device"
            )
            return done
        factors = list(ready)
        if not factors and user.phone_number and user.phone_verified:
            factors = ["otp_sms"]  # policy required: the verified phone serves (OneAccess "SMS")
        enrol = not factors
        if self.factors.recovery_codes_left(user.sub) > 0:
            factors.append("recovery_code")
        token, state = self._new_state(client, ctx, done, factors, enrol)
        audit.write(
            self.db, "mfa.challenge", ctx, sub=user.sub, client_id=client.client_id, factors=factors, enrol=enrol
        )
        return NeedsFactor(
            state_token=token,
            factors=factors,
            masked_phone=mask_target("sms", user.phone_number) if "otp_sms" in factors and user.phone_number else None,
            masked_email=mask_target("email", user.email) if "otp_email" in factors and user.email else None,
            expires_in=state.expires_in(self.clock.time()),
            enrol=enrol,
            passkey=self._has_passkey(user.sub),
        )

    def second_factor_expected(self, policy: str | None, sub: str) -> bool:
        """The MFA policy, in one place: a second factor is asked when the application
        requires it, or allows it and the person has a usable factor. The authorization
        endpoint applies the same rule to an existing SSO session (step-up)."""
        if policy == "required":
            return True
        return policy == "optional" and bool(self.factors.ready_types(sub))

    def _new_state(
        self, client: Application, ctx: RequestContext, done: Completed, factors: list[str], enrol: bool
    ) -> tuple[str, StateData]:
        now = self.clock.time()
        expires_ms = int((now + self.state_ttl) * 1000)
        state = StateData(
            sub=done.user.sub,
            client_id=client.client_id,
            device=ctx.device,
            amr=list(done.amr),
            auth_time=done.auth_time,
            created_at=int(now),
            factors=factors,
            enrol=enrol,
            expires_at=expires_ms // 1000,
        )
        # 192 bits, naming the person's scope: every token the state is rotated to keeps it,
        # so the rotating script's two keys share a slot on Redis Cluster
        token = scoped_token(scope_of(done.user.sub))
        key = Keys.mfa_state(token)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "data": json.dumps(asdict(state)),
                "client_id": client.client_id,
                "device": ctx.device or "",
                "expires_at": expires_ms,
                "failures": 0,
            },
        )
        pipe.pexpireat(key, expires_ms)
        pipe.execute()
        return token, state

    # -- the state token --------------------------------------------------------------------
    @guarded
    def peek(self, client: Application, ctx: RequestContext, state_token: str) -> StateData:
        """The state behind a token, checked against the client and device (a foreign client
        or device kills the token). Raises mfa.invalid_state_token (NOT_FOUND) for unknown,
        used, expired or foreign tokens; store.unavailable."""
        return self._run(client, ctx, state_token, "peek")

    @guarded
    def rotate(self, client: Application, ctx: RequestContext, state_token: str) -> str:
        """Spend ``state_token`` and return a fresh one for the same state (after each step);
        the new one expires when the old one would have. Raises mfa.invalid_state_token."""
        fresh = scoped_token(token_scope(state_token))  # the same scope: one slot with the old key
        self._run(client, ctx, state_token, "rotate", new_key=Keys.mfa_state(fresh))
        return fresh

    def _run(
        self,
        client: Application,
        ctx: RequestContext,
        state_token: str,
        mode: str,
        *,
        new_key: str | None = None,
        **fields: str,
    ) -> StateData:
        if not state_token or len(state_token) > 128:
            raise invalid_state_token()
        keys = [Keys.mfa_state(state_token)] + ([new_key] if new_key else [])
        pairs = [item for pair in fields.items() for item in pair]
        reply = self._state(
            keys=keys,
            args=[mode, client.client_id, ctx.device or "", int(self.clock.time() * 1000), CLAIM_TIMEOUT_MS, *pairs],
        )
        if reply and reply[0] == "foreign":  # another client or device: killed, and worth a record
            sub = json.loads(reply[1]).get("sub")
            audit.write(
                self.db,
                "mfa.failure",
                ctx,
                result="failure",
                sub=sub,
                client_id=client.client_id,
                reason="mfa.foreign_state_token",
            )
        if not reply or reply[0] != "ok":
            raise invalid_state_token()
        return _state_from(dict(zip(reply[1::2], reply[2::2], strict=True)))

    # -- second factor ----------------------------------------------------------------------
    @guarded
    def send_code(
        self, client: Application, ctx: RequestContext, state_token: str, channel: str, target: str | None = None
    ) -> SendResult:
        """Send the MFA code to the user's own verified phone/email (``target``, when given, must
        be that number: OneAccess sends it). The otp_token stays in the state, so ``verify``
        needs only the code. Raises mfa.invalid_state_token, mfa.invalid_channel,
        mfa.factor_not_allowed, mfa.target_mismatch, account.abnormal_status, otp.rate_limited,
        otp.quota_exhausted, otp.delivery_failed, store.unavailable."""
        state = self.peek(client, ctx, state_token)
        factor_type = OTP_FACTOR.get(channel)
        if factor_type is None:
            raise invalid("mfa.invalid_channel")
        user = self._user(state)
        own = self._own_contact(state, user, factor_type)
        if target is not None:
            self._check_target(channel, target, own)
        source = client.auth_source_for(channel)  # none linked: the OTP default code policy
        result = self.otp.send(client, channel, own, "mfa", source, ctx)
        self._run(
            client,
            ctx,
            state_token,
            "set",
            otp_channel=channel,
            otp_target=result.target,
            otp_token=result.otp_token,
            otp_source=source or "",
        )
        return result

    @guarded
    def verify(
        self,
        client: Application,
        ctx: RequestContext,
        state_token: str,
        factor_type: str,
        code: str,
        target: str | None = None,
    ) -> Completed:
        """Check the second factor; on success the state token is spent and the result has
        ``amr`` = first factor's + the factor's (``sms``, ``otp``...) + ``mfa``. Raises
        mfa.invalid_state_token, mfa.factor_not_allowed, mfa.target_mismatch,
        account.abnormal_status, otp.* / totp.wrong_code / recovery.wrong_code,
        store.unavailable."""
        state = self._run(client, ctx, state_token, "claim")

        def check(user: User) -> None:
            self._check_factor(client, ctx, state, user, factor_type, code, target)

        return self._finish_step(client, ctx, state_token, state, factor_type, check, (Kind.WRONG_CODE, Kind.NOT_FOUND))

    def _finish_step(
        self,
        client: Application,
        ctx: RequestContext,
        state_token: str,
        state: StateData,
        factor_type: str,
        check: Callable[[User], list[str] | None],
        counted: tuple[Kind, ...],
    ) -> Completed:
        """Run ``check`` for the claimed step (it answers the factor's ``amr`` values, or None
        for the type's own). A failure releases the state token, counting against its
        attempts when its kind is ``counted``, and is audited; a success spends the token."""
        try:
            user = self._user(state)
            factor_amr = check(user)
        except BaseException as exc:
            failed = isinstance(exc, IdpError) and exc.kind in counted
            self._release(keys=[Keys.mfa_state(state_token)], args=[1 if failed else 0, MAX_FAILURES])
            if isinstance(exc, IdpError):
                audit.failure(
                    self.db, "mfa.failure", ctx, exc, sub=state.sub, client_id=client.client_id, factor=factor_type
                )
            raise
        self.redis.delete(Keys.mfa_state(state_token))
        return self._completed(client, ctx, state, user, factor_type, factor_amr)

    def _check_factor(
        self,
        client: Application,
        ctx: RequestContext,
        state: StateData,
        user: User,
        factor_type: str,
        code: str,
        target: str | None,
    ) -> None:
        if factor_type not in FACTOR_AMR or factor_type not in self._allowed(state):
            raise factor_not_allowed(factor_type)
        if factor_type in CHANNEL_OF:
            channel = CHANNEL_OF[factor_type]
            own = self._own_contact(state, user, factor_type)
            if target is not None:
                self._check_target(channel, target, own)
            if state.otp_channel != channel or not state.otp_token or state.otp_target != own:
                raise error("otp.unknown_token", "no code was sent for this step")
            # the OTP service applies the brute-force policy to the number (this account)
            self.otp.verify(client, channel, own, "mfa", state.otp_source, state.otp_token, code, ctx=ctx)
            return
        self._check_lock(user, ctx)
        if factor_type == "totp":
            ok = self.factors.check_totp(user.sub, code, ctx)
            wrong = error("totp.wrong_code")
        else:
            ok = self.factors.use_recovery_code(user.sub, code, ctx)
            wrong = error("recovery.wrong_code")
        self._count(user, ctx, ok)
        if not ok:
            raise wrong

    # -- a passkey as the second factor -----------------------------------------------------
    @guarded
    def passkey_options(self, client: Application, ctx: RequestContext, state_token: str) -> PasskeyChallenge:
        """Options for ``navigator.credentials.get`` naming the person's own passkeys.
        Raises mfa.invalid_state_token, mfa.factor_not_allowed (no passkey),
        store.unavailable."""
        state = self.peek(client, ctx, state_token)
        if not self._has_passkey(state.sub):
            raise factor_not_allowed("passkey")
        return self._passkeys().authentication_options(state.sub)

    @guarded
    def verify_passkey(
        self,
        client: Application,
        ctx: RequestContext,
        state_token: str,
        handle: str,
        credential: str | dict[str, Any],
    ) -> Completed:
        """Finish the step with one of the person's passkeys (``handle`` from
        ``passkey_options``); the state token is spent and ``amr`` = the first factor's +
        the passkey's (``hwk``/``swk``, ``user``) + ``mfa``. A refused passkey counts as a
        wrong code. Raises mfa.invalid_state_token, mfa.factor_not_allowed,
        passkey.invalid_challenge, passkey.authentication_failed,
        passkey.sign_count_regressed, account.locked, account.abnormal_status,
        store.unavailable."""
        state = self._run(client, ctx, state_token, "claim")

        def check(user: User) -> list[str]:
            if not self._has_passkey(user.sub):
                raise factor_not_allowed("passkey")
            self._check_lock(user, ctx)
            try:
                _, _, passkey_amr = self._passkeys().authenticate(handle, credential, ctx, expected_sub=user.sub)
            except IdpError as exc:
                if exc.kind is Kind.UNAUTHENTICATED:
                    self._count(user, ctx, ok=False)
                raise
            self._count(user, ctx, ok=True)
            return passkey_amr

        return self._finish_step(
            client, ctx, state_token, state, "passkey", check, (Kind.UNAUTHENTICATED, Kind.NOT_FOUND)
        )

    def _has_passkey(self, sub: str) -> bool:
        return self.passkeys is not None and bool(self.passkeys.list(sub))

    def _passkeys(self) -> PasskeyService:
        if self.passkeys is None:
            raise factor_not_allowed("passkey")
        return self.passkeys

    def _check_lock(self, user: User, ctx: RequestContext) -> None:
        """A temporarily locked account checks no second factor either (account.locked)."""
        if self.guard is not None:
            self.guard.check(user.sub, ctx, sub=user.sub, captcha=False)

    def _count(self, user: User, ctx: RequestContext, ok: bool) -> None:
        """Wrong TOTP and recovery codes count under the user's sub (OTP codes are counted by
        the OTP service under the number, which resolves to the same sub)."""
        if self.guard is None:
            return
        if ok:
            self.guard.succeeded(user.sub, ctx, sub=user.sub)
        else:
            self.guard.failed(user.sub, ctx, sub=user.sub)

    # -- enrolment during login (policy required, nothing usable yet) -----------------------
    @guarded
    def start_enrolment(self, client: Application, ctx: RequestContext, state_token: str) -> TotpSetup:
        """Start TOTP enrolment for a state that must enrol (``NeedsFactor.enrol``); only then:
        a first factor alone must never add a factor to an account that has one. Raises
        mfa.invalid_state_token, mfa.factor_not_allowed, factor.exists."""
        state = self.peek(client, ctx, state_token)
        if not state.enrol:
            raise factor_not_allowed("enrolment")
        return self.factors.start_totp(state.sub, ctx)

    @guarded
    def confirm_enrolment(self, client: Application, ctx: RequestContext, state_token: str, code: str) -> Completed:
        """Confirm the TOTP started by ``start_enrolment`` with its first code; that code is
        the second factor, so the login completes (amr + otp + mfa). Raises
        mfa.invalid_state_token, mfa.factor_not_allowed, factor.not_found, totp.wrong_code."""
        state = self._run(client, ctx, state_token, "claim")
        try:
            if not state.enrol:
                raise factor_not_allowed("enrolment")
            user = self._user(state)
            self._check_lock(user, ctx)
            try:
                self.factors.confirm_totp(state.sub, code, ctx)
            except IdpError as exc:
                if exc.kind is Kind.WRONG_CODE:
                    self._count(user, ctx, ok=False)
                raise
        except BaseException as exc:
            counted = isinstance(exc, IdpError) and exc.kind is Kind.WRONG_CODE
            self._release(keys=[Keys.mfa_state(state_token)], args=[1 if counted else 0, MAX_FAILURES])
            raise
        self.redis.delete(Keys.mfa_state(state_token))
        return self._completed(client, ctx, state, user, "totp")

    # -- remember this device ---------------------------------------------------------------
    def remember_device(self, client: Application, ctx: RequestContext, done: Completed) -> str | None:
        """After a completed MFA, a device credential for the cookie when the application
        allows it (``remember_device_days`` > 0), else None."""
        days = client.remember_device_days or 0
        if days <= 0 or "mfa" not in done.amr:
            return None
        return self.devices.remember(done.user.sub, ctx, days=days)

    # -- helpers ----------------------------------------------------------------------------
    def _allowed(self, state: StateData) -> set[str]:
        """The factors offered when the state was made, and any made ready since."""
        return set(state.factors) | set(self.factors.ready_types(state.sub))

    def _user(self, state: StateData) -> User:
        user = self.users.by_sub(state.sub)
        if user is None:
            raise invalid_state_token()
        self.users.ensure_active(user)
        return user

    def _own_contact(self, state: StateData, user: User, factor_type: str) -> str:
        if factor_type not in self._allowed(state):
            raise factor_not_allowed(factor_type)
        if factor_type == "otp_sms" and user.phone_number and user.phone_verified:
            return user.phone_number
        if factor_type == "otp_email" and user.email and user.email_verified:
            return user.email
        raise factor_not_allowed(factor_type)

    def _check_target(self, channel: str, target: str, own: str) -> None:
        try:
            matches = self.otp.normalise_target(channel, target) == own
        except IdpError:
            matches = False
        if not matches:
            raise invalid("mfa.target_mismatch")

    def _completed(
        self,
        client: Application,
        ctx: RequestContext,
        state: StateData,
        user: User,
        factor_type: str,
        factor_amr: list[str] | None = None,
    ) -> Completed:
        checks = FACTOR_AMR[factor_type] if factor_amr is None else factor_amr
        amr = list(dict.fromkeys([*state.amr, *checks, "mfa"]))
        audit.write(self.db, "mfa.success", ctx, sub=user.sub, client_id=client.client_id, factor=factor_type, amr=amr)
        return Completed(user, amr, int(self.clock.time()))


def _state_from(fields: dict[str, str]) -> StateData:
    data = json.loads(fields["data"])
    data.update(
        otp_channel=fields.get("otp_channel"),
        otp_target=fields.get("otp_target"),
        otp_token=fields.get("otp_token"),
        otp_source=fields.get("otp_source", ""),
        failures=int(fields.get("failures") or 0),
    )
    return StateData(**data)
