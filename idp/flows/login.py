"""The login flow behind the hosted pages: first factor (password, SMS code, email code).

Returns results (``Completed``), never responses. Every face signs people in through here
(the hosted pages, CloudBase ``/auth/v1/signin``, OneAccess ``/api/v2/sdk/login``); the rules:

- the application decides which methods are offered (``login.method_disabled``);
- the brute-force policy (``BruteForceGuard``, issue 5) is asked before any secret is checked
  (``account.locked``, ``login.captcha_required``) and told of every failure and success;
- no user enumeration (SPEC 6): an unknown identifier and a wrong password answer
  ``login.invalid_credentials`` after one argon2 verification each; a user without a
  password answers ``password.not_set`` (seed 002's contract) only after that same
  verification; a code for an unknown number answers like a wrong code and is not spent;
- every success and failure writes an audit event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from idp import audit
from idp.accounts import passwords
from idp.accounts.users import UserService
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError, Kind
from idp.guard.bruteforce import BruteForceGuard
from idp.models import Application, User
from idp.otp.service import OtpService, SendResult
from idp.sessions import SsoSession, SsoSessionStore
from idp.settings import Settings

METHOD_FOR_CHANNEL = {"sms": "sms_otp", "email": "email_otp"}
CHANNELS = tuple(METHOD_FOR_CHANNEL)


@dataclass(frozen=True)
class Completed:
    """The person passed the first factor: who, and with which checks (``amr``)."""

    user: User
    amr: list[str] = field(default_factory=list)
    auth_time: int = field(default_factory=lambda: int(time.time()))


def invalid_credentials() -> IdpError:
    return IdpError("login.invalid_credentials", Kind.UNAUTHENTICATED, "wrong username or password")


def user_not_found() -> IdpError:
    return IdpError("account.user_not_found", Kind.NOT_FOUND, "User not found")


def method_disabled(method: str) -> IdpError:
    return IdpError("login.method_disabled", Kind.FORBIDDEN, f"{method} is not enabled for this application")


class LoginFlow:
    def __init__(self, settings: Settings, db: Database, users: UserService, otp: OtpService,
                 sessions: SsoSessionStore, guard: BruteForceGuard, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db
        self.users = users
        self.otp = otp
        self.sessions = sessions
        self.guard = guard

    # -- password ---------------------------------------------------------------------
    def password(self, client: Application, ctx: RequestContext, identifier: str, password: str, *,
                 captcha_token: str | None = None) -> Completed:
        """``identifier`` is a username, an email address or a phone number. ``captcha_token``
        (a solved captcha) is what the brute-force policy asks for after repeated failures.

        Raises login.method_disabled, account.locked, login.captcha_required,
        login.invalid_credentials, password.not_set, account.abnormal_status.
        """
        self._require(client, "password", ctx)
        user = self.find_user(identifier or "")
        sub = user.sub if user is not None else None
        try:
            self.guard.check(identifier or "", ctx, captcha_token, sub=sub)
        except IdpError as exc:
            raise self._failed(client, ctx, exc, user, "password") from None
        stored = user.password_hash if user is not None and user.password_hash else None
        # one argon2 verification on every path (unknown user, no password, wrong password)
        ok = self.users.passwords.verify(stored, password or "")
        if user is not None and stored is None:
            self.guard.failed(identifier or "", ctx, sub=sub)
            raise self._failed(client, ctx, passwords.not_set(), user, "password")
        if not ok or user is None or stored is None:
            self.guard.failed(identifier or "", ctx, sub=sub)
            raise self._failed(client, ctx, invalid_credentials(), user, "password")
        if not user.is_active:
            raise self._failed(client, ctx, _abnormal(), user, "password")
        self.guard.succeeded(identifier or "", ctx, sub=sub)
        self._rehash_if_needed(user, password, stored)
        return self._succeeded(client, ctx, Completed(user, ["pwd"], int(self.clock.time())), "password")

    def find_user(self, identifier: str) -> User | None:
        """Username first, then email address, then phone number (all exact, normalised); the
        brute-force policy resolves identifiers with the same lookup."""
        return self.guard.find_user(identifier)

    def _rehash_if_needed(self, user: User, password: str, stored: str) -> None:
        """SPEC 6: rehash on login when the argon2 parameters changed."""
        if not self.users.passwords.needs_rehash(stored):
            return
        with self.db.transaction() as session:
            session.merge(user).password_hash = self.users.passwords.rehash(password)

    # -- one-time codes ---------------------------------------------------------------
    def send_code(self, client: Application, ctx: RequestContext, channel: str, target: str) -> SendResult:
        """Send a login code whether or not the number is registered (no enumeration).

        Raises login.method_disabled, contact.*, otp.rate_limited, otp.quota_exhausted,
        otp.delivery_failed.
        """
        source = self._code_source(client, channel, ctx)
        return self.otp.send(client, channel, target, "login", source, ctx)

    def verify_code(self, client: Application, ctx: RequestContext, channel: str, target: str,
                    otp_token: str, code: str, *, captcha_token: str | None = None) -> Completed:
        """Like the OTP grant (``idp.oauth.grants.OtpGrant``): the code is spent only when the
        person can log in; an unknown number without auto sign-up answers ``otp.wrong_code``.
        The brute-force policy applies to the number/address (its account when it has one);
        the page can carry a captcha, so this way in asks for one when it is due.

        Raises login.method_disabled, contact.*, account.locked, login.captcha_required, otp.*,
        account.abnormal_status.
        """
        source = self._code_source(client, channel, ctx)
        target = self.otp.normalise_target(channel, target)
        user = self.users.by_contact(channel, target)
        sub = user.sub if user is not None else None
        can_login = (user is None and client.auto_signup) or (user is not None and user.is_active)
        try:
            self.guard.check(target, ctx, captcha_token, sub=sub)
            # the OTP service counts a wrong code as a failure of this number (BruteForceGuard)
            self.otp.verify(client, channel, target, "login", source, otp_token, code, consume=can_login, ctx=ctx)
        except IdpError as exc:
            raise self._failed(client, ctx, exc, user, channel) from None
        if user is not None and not user.is_active:
            raise self._failed(client, ctx, _abnormal(), user, channel)
        if user is None and not client.auto_signup:
            self.guard.failed(target, ctx, sub=None)  # answered like a wrong code, counted like one
            wrong = IdpError("otp.wrong_code", Kind.WRONG_CODE, "wrong code")
            raise self._failed(client, ctx, wrong, None, channel)
        if user is None:
            user = self.users.create_from_verified_contact(channel, target, ctx)
        return self._succeeded(client, ctx, Completed(user, ["otp", channel], int(self.clock.time())), channel)

    def verified_contact(self, client: Application, ctx: RequestContext, channel: str, target: str, *,
                         spend: Callable[[], object] | None = None, method: str | None = None) -> Completed:
        """Sign in the owner of a contact already proven by a code (CloudBase
        ``verification_token``): the login method must be enabled, the account must not be
        (temporarily) locked or disabled, an unknown contact is signed up when the application
        has ``auto_signup`` (as the CIAM OTP grant does). ``spend`` (spending the proof) runs
        once every check has passed, before anything is created. Audited as
        ``login.success``/``login.failure`` (``method``, default the channel's login method).

        Raises login.method_disabled, account.locked, account.user_not_found,
        account.abnormal_status, and whatever ``spend`` raises.
        """
        user: User | None = None
        login_method = METHOD_FOR_CHANNEL.get(channel, channel)
        try:
            if channel not in METHOD_FOR_CHANNEL or login_method not in client.login_methods:
                raise method_disabled(login_method)
            user = self.users.by_contact(channel, target)
            self.guard.check(target, ctx, sub=user.sub if user is not None else None, captcha=False)
            if user is None and not client.auto_signup:
                raise user_not_found()
            if user is not None:
                self.users.ensure_active(user)
            if spend is not None:
                spend()
        except IdpError as exc:
            raise self._failed(client, ctx, exc, user, method or login_method) from None
        if user is None:
            user = self.users.create_from_verified_contact(channel, target, ctx)
        self.guard.succeeded(target, ctx, sub=user.sub)
        return self._succeeded(client, ctx, Completed(user, ["otp", channel], int(self.clock.time())), login_method)

    def _code_source(self, client: Application, channel: str, ctx: RequestContext) -> str:
        if channel not in METHOD_FOR_CHANNEL:
            raise IdpError("login.method_disabled", Kind.FORBIDDEN, "unknown login method")
        self._require(client, METHOD_FOR_CHANNEL[channel], ctx)
        source = client.auth_source_for(channel)
        if source is None:  # enabled but no channel configured: nothing could deliver it
            raise method_disabled(METHOD_FOR_CHANNEL[channel])
        return source

    # -- session ----------------------------------------------------------------------
    def start_session(self, completed: Completed, ctx: RequestContext, replaces: str | None = None) -> SsoSession:
        """A new SSO session under a new id; the browser's previous id is removed (SPEC 6)."""
        return self.sessions.create(completed.user.sub, completed.amr, ctx, replaces=replaces)

    def end_session(self, session: SsoSession, ctx: RequestContext) -> None:
        self.sessions.delete(session)
        with self.db.transaction() as db_session:
            audit.record(db_session, "logout", ctx, sub=session.sub)

    # -- helpers ----------------------------------------------------------------------
    def _require(self, client: Application, method: str, ctx: RequestContext) -> None:
        if method not in client.login_methods:
            raise self._failed(client, ctx, method_disabled(method), None, method)

    def _succeeded(self, client: Application, ctx: RequestContext, done: Completed, method: str) -> Completed:
        with self.db.transaction() as session:
            audit.record(session, "login.success", ctx, sub=done.user.sub, client_id=client.client_id,
                         method=method, amr=done.amr)
        return done

    def _failed(self, client: Application, ctx: RequestContext, exc: IdpError, user: User | None,
                method: str) -> IdpError:
        if exc.kind is not Kind.UNAVAILABLE:
            with self.db.transaction() as session:
                audit.record(session, "login.failure", ctx, result="failure", client_id=client.client_id,
                             sub=user.sub if user is not None else None, method=method, reason=exc.code)
        return exc


def _abnormal() -> IdpError:
    return IdpError("account.abnormal_status", Kind.USER_STATUS, "Abnormal user status")
