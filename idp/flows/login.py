"""The login flow: the first factor (password, a proven phone number or email address, or a
passkey) for every face. Returns results (``Completed``), never responses.

Every way in signs people in through here: the hosted pages, the Tencent CIAM OTP grants,
CloudBase ``/auth/v1/signin``, OneAccess ``/api/v2/sdk/login``. The rules:

- the application decides which methods are offered (``login.method_disabled``);
- the brute-force policy (``BruteForceGuard``) is asked before any secret is checked
  (``account.locked``, ``login.captcha_required`` where the face can carry a captcha) and told
  of every failure and success;
- no user enumeration: an unknown identifier, a wrong password and a user without a password
  answer ``login.invalid_credentials`` after one argon2 verification each (a face whose
  contract names ``password_not_set`` opts in to it); a code for an unknown contact answers
  like a wrong code and is not spent (a face whose contract says "User not found" opts in);
- a proof (a code, a verification_token) is spent only when the person can sign in;
- every success and failure writes an audit event (``login.success``, ``login.failure`` with
  the real reason).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from idp import audit
from idp.accounts import passwords
from idp.accounts.proofs import CodeProof, ContactCode, Proof
from idp.accounts.users import UserService, user_not_found
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError, Kind, error
from idp.factors import PasskeyChallenge, PasskeyService
from idp.flows.results import Completed
from idp.flows.signup import SignUpFlow
from idp.guard.bruteforce import BruteForceGuard
from idp.models import Application, User
from idp.otp.service import OtpService, SendResult
from idp.sessions import SsoSession, SsoSessionStore, end_session
from idp.settings import Settings

METHOD_FOR_CHANNEL = {"sms": "sms_otp", "email": "email_otp"}
CHANNELS = tuple(METHOD_FOR_CHANNEL)


def invalid_credentials() -> IdpError:
    return error("login.invalid_credentials")


def method_disabled(method: str) -> IdpError:
    return error("login.method_disabled", f"{method} is not enabled for this application")


def _wrong_code() -> IdpError:
    return error("otp.wrong_code")


class LoginFlow:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        users: UserService,
        otp: OtpService,
        sessions: SsoSessionStore,
        guard: BruteForceGuard,
        signup: SignUpFlow,
        clock: Clock | None = None,
        *,
        passkeys: PasskeyService | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db
        self.users = users
        self.otp = otp
        self.sessions = sessions
        self.guard = guard
        self.signup = signup
        self.passkeys = passkeys

    # -- password ---------------------------------------------------------------------
    def password(
        self,
        client: Application,
        ctx: RequestContext,
        identifier: str,
        password: str,
        *,
        captcha_token: str | None = None,
        reveal_password_not_set: bool = False,
    ) -> Completed:
        """``identifier`` is a username, an email address or a phone number. ``captcha_token``
        (a solved captcha) is what the brute-force policy asks for after repeated failures.

        A user without a password answers ``login.invalid_credentials`` like a wrong password
        (audited with the real reason, ``password.not_set``); ``reveal_password_not_set`` is
        for a face whose contract names it (Tencent CloudBase, User Login API:
        ``password_not_set``). Either way only after the same argon2 verification.

        Raises login.method_disabled, account.locked, login.captcha_required,
        login.invalid_credentials, password.not_set (only when revealed), account.abnormal_status.
        """
        user: User | None = None
        try:
            self._require(client, "password")
            user = self.find_user(identifier or "")
            sub = user.sub if user is not None else None
            counted = self.guard.check(identifier or "", ctx, captcha_token, sub=sub)
            stored = user.password_hash if user is not None and user.password_hash else None
            # one argon2 verification on every path (unknown user, no password, wrong password)
            ok = self.users.passwords.verify(stored, password or "")
            if not ok or user is None or stored is None:
                self.guard.failed(identifier or "", ctx, sub=sub)
                if user is not None and stored is None:
                    raise passwords.not_set()
                raise invalid_credentials()
            self.users.ensure_active(user)
        except IdpError as exc:
            self._refused(client, ctx, exc, user, "password")
            if exc.code == "password.not_set" and not reveal_password_not_set:
                raise invalid_credentials() from None
            raise
        if counted:  # a failure that raced this sign-in from the same IP stays counted: stricter, never looser
            self.guard.succeeded(identifier or "", ctx, sub=user.sub)
        self._rehash_if_needed(user, password, stored)
        audit.write(
            self.db, "login.success", ctx, sub=user.sub, client_id=client.client_id, method="password", amr=["pwd"]
        )
        return Completed(user, ["pwd"], int(self.clock.time()))

    # -- a passkey ----------------------------------------------------------------------
    def passkey_options(self, client: Application, ctx: RequestContext) -> PasskeyChallenge:
        """Options for "sign in with a passkey" (any discoverable passkey of this site, also
        for autofill). Raises login.method_disabled, store.unavailable."""
        try:
            self._require(client, "passkey")
        except IdpError as exc:
            self._refused(client, ctx, exc, None, "passkey")
            raise
        return self._passkeys().authentication_options(None)

    def passkey(
        self,
        client: Application,
        ctx: RequestContext,
        handle: str,
        credential: str | dict[str, Any],
        *,
        record_success: bool = True,
    ) -> Completed:
        """Sign in with a discoverable passkey: ``handle`` from ``passkey_options`` and what
        ``navigator.credentials.get`` answered (``PublicKeyCredential.toJSON()``, text or
        parsed). A passkey proves something held and the verified person at once, so the
        result's ``amr`` has ``mfa`` and the MFA policy asks no second step.

        The brute-force policy is asked once the credential names its person and before its
        signature is checked (``account.locked``); a refused check of a known passkey counts
        as a failure for that person. ``record_success``: as for ``sign_in``.

        Raises login.method_disabled, passkey.invalid_challenge, passkey.authentication_failed,
        passkey.sign_count_regressed, account.locked, account.abnormal_status,
        store.unavailable."""
        owner: list[str] = []

        def guard_first(sub: str) -> None:
            owner.append(sub)
            self.guard.check(sub, ctx, sub=sub, captcha=False)

        user: User | None = None
        try:
            self._require(client, "passkey")
            user, _, amr = self._passkeys().authenticate(handle, credential, ctx, before_verify=guard_first)
            self.users.ensure_active(user)
        except IdpError as exc:
            if owner and exc.kind is Kind.UNAUTHENTICATED:
                self.guard.failed(owner[0], ctx, sub=owner[0])
            self._refused(client, ctx, exc, user, "passkey", sub=owner[0] if owner else None)
            raise
        self.guard.succeeded(user.sub, ctx, sub=user.sub)
        if record_success:
            audit.write(
                self.db, "login.success", ctx, sub=user.sub, client_id=client.client_id, method="passkey", amr=amr
            )
        return Completed(user, amr, int(self.clock.time()))

    def _passkeys(self) -> PasskeyService:
        if self.passkeys is None:
            raise method_disabled("passkey")
        return self.passkeys

    def find_user(self, identifier: str) -> User | None:
        """Username first, then email address, then phone number (all exact, normalised); the
        brute-force policy resolves identifiers with the same lookup."""
        return self.guard.find_user(identifier)

    def _rehash_if_needed(self, user: User, password: str, stored: str) -> None:
        """Rehash on login when the argon2 parameters changed."""
        if not self.users.passwords.needs_rehash(stored):
            return
        with self.db.transaction() as session:
            session.merge(user).password_hash = self.users.passwords.rehash(password)

    # -- a proven phone number or email address -----------------------------------------
    def send_code(self, client: Application, ctx: RequestContext, channel: str, target: str) -> SendResult:
        """Send a login code whether or not the number is registered (no enumeration).

        Raises login.method_disabled, contact.*, otp.rate_limited, otp.quota_exhausted,
        otp.delivery_failed.
        """
        try:
            source = self._code_source(client, channel)
        except IdpError as exc:
            self._refused(client, ctx, exc, None, METHOD_FOR_CHANNEL.get(channel, channel))
            raise
        return self.otp.send(client, channel, target, "login", source, ctx)

    def verify_code(
        self,
        client: Application,
        ctx: RequestContext,
        channel: str,
        target: str,
        otp_token: str,
        code: str,
        *,
        captcha_token: str | None = None,
    ) -> Completed:
        """The hosted pages' code login: ``sign_in`` with the application's own auth source,
        and a captcha when the brute-force policy asks for one (the page can show it)."""
        return self.sign_in(
            client, ctx, ContactCode(channel, target, otp_token, code), captcha=True, captcha_token=captcha_token
        )

    def sign_in(
        self,
        client: Application,
        ctx: RequestContext,
        proof: Proof | ContactCode,
        *,
        source_from_request: bool = False,
        auto_signup: bool | None = None,
        reveal_unknown: bool = False,
        captcha: bool = False,
        captcha_token: str | None = None,
        method: str | None = None,
        record_success: bool = True,
    ) -> Completed:
        """Sign in the owner of the contact ``proof`` proves (a login code, a CloudBase
        verification_token): the one decision "may this contact sign in, or be signed up".

        The login method must be enabled; a temporarily locked contact checks nothing; the
        proof is checked, and spent only when the person can sign in (an active account, or
        an unknown contact with auto sign-up, which signs them up); a disabled account
        answers ``account.abnormal_status`` once the proof is right. What the faces'
        contracts differ in are options, with the safe choice as default:

        - ``source_from_request``: a code's auth source is the one the request names (Tencent
          CIAM: ``otp.auth_source_required`` without one), not the application's own;
        - ``auto_signup``: sign up an unknown contact (None: the application's setting);
        - ``reveal_unknown``: an unknown contact without auto sign-up is
          ``account.user_not_found`` (Tencent CIAM's OTP grant, CloudBase) rather than an
          answer and a failure count like a wrong code's (no enumeration);
        - ``captcha``: the face can carry a captcha (``captcha_token``), so the brute-force
          policy may ask for one;
        - ``method``: how the audit events name this way in (default: the channel);
        - ``record_success``: False when the caller records ``login.success`` itself, in the
          transaction that gives the person their tokens (``TokenIssuer.issue``'s
          ``sign_in_method``): one commit fewer, and no success without its tokens.

        Raises login.method_disabled, request.invalid, contact.*, otp.auth_source_required,
        otp.invalid_auth_source, account.locked, login.captcha_required, the proof's errors
        (otp.*, verification.invalid_token), account.abnormal_status, account.user_not_found
        (revealed only), account.*_taken (an auto sign-up losing a race), store.unavailable.
        """
        user: User | None = None
        name = method or (proof.channel if isinstance(proof, ContactCode) else None)
        try:
            if isinstance(proof, ContactCode):
                proof = self.code_proof(client, ctx, proof, source_from_request)
            contact = proof.contact()
            name = method or contact.channel
            self._require(client, METHOD_FOR_CHANNEL[contact.channel])
            user = self.users.by_contact(contact.channel, contact.target)
            counted = self.guard.check(
                contact.target, ctx, captcha_token, sub=user.sub if user else None, captcha=captcha
            )
            if isinstance(proof, CodeProof):
                proof.guarded_as(user.sub if user else None)  # the code checks need not ask again
            done = self._prove(client, ctx, proof, user, auto_signup, reveal_unknown)
        except IdpError as exc:
            self._refused(client, ctx, exc, user, name)
            raise
        if counted:  # nothing counted from this IP: nothing to clear
            self.guard.succeeded(contact.target, ctx, sub=done.user.sub)
        if record_success:
            audit.write(
                self.db, "login.success", ctx, sub=done.user.sub, client_id=client.client_id, method=name, amr=done.amr
            )
        return done

    def _prove(
        self,
        client: Application,
        ctx: RequestContext,
        proof: Proof,
        user: User | None,
        auto_signup: bool | None,
        reveal_unknown: bool,
    ) -> Completed:
        contact = proof.contact()
        if user is None and (client.auto_signup if auto_signup is None else auto_signup):
            return self.signup.sign_up(client, ctx, proof)  # checks, creates, spends: one unit of work
        if user is not None and user.is_active:
            proof.spend()  # checks and spends at once: a wrong code counts, a lost race is refused
            return Completed(user, ["otp", contact.channel], int(self.clock.time()))
        proof.check()  # the person cannot sign in: nothing is spent, but only a right proof learns why
        if user is not None:
            self.users.ensure_active(user)  # raises
        if reveal_unknown:
            raise user_not_found()
        self.guard.failed(contact.target, ctx, sub=None)  # answered like a wrong code, counted like one
        raise _wrong_code()

    def code_proof(
        self, client: Application, ctx: RequestContext, code: ContactCode, source_from_request: bool
    ) -> CodeProof:
        """The login proof ``sign_in`` makes of ``code``; a caller that builds it itself keeps
        it, to give the code back when its request fails on a store outage after the spend."""
        if not source_from_request:
            code = replace(code, auth_source_id=self._code_source(client, code.channel))
        return CodeProof(self.otp, client, ctx, "login", code)

    def _code_source(self, client: Application, channel: str) -> str:
        """The application's own auth source for a login code. Raises login.method_disabled
        (an unknown channel, a disabled method, or no auth source to deliver the code)."""
        if channel not in METHOD_FOR_CHANNEL:
            raise error("login.method_disabled", "unknown login method")
        self._require(client, METHOD_FOR_CHANNEL[channel])
        source = client.auth_source_for(channel)
        if source is None:  # enabled but no channel configured: nothing could deliver it
            raise method_disabled(METHOD_FOR_CHANNEL[channel])
        return source

    # -- session ----------------------------------------------------------------------
    def start_session(self, completed: Completed, ctx: RequestContext, replaces: str | None = None) -> SsoSession:
        """A new SSO session under a new id; the browser's previous id is removed (session
        fixation, OWASP)."""
        return self.sessions.create(completed.user.sub, completed.amr, ctx, replaces=replaces)

    def end_session(self, session: SsoSession, ctx: RequestContext) -> None:
        """Sign this browser out, telling the applications it signed in to (Back-Channel Logout)."""
        with self.db.transaction() as db_session:
            audit.record(db_session, "logout", ctx, sub=session.sub)
            end_session(self.sessions, db_session, session)

    # -- helpers ----------------------------------------------------------------------
    def _refused(
        self,
        client: Application,
        ctx: RequestContext,
        exc: IdpError,
        user: User | None,
        method: str | None,
        sub: str | None = None,
    ) -> None:
        """``login.failure`` with the real reason, whatever the face is told."""
        sub = user.sub if user is not None else sub
        audit.failure(self.db, "login.failure", ctx, exc, client_id=client.client_id, sub=sub, method=method)

    @staticmethod
    def _require(client: Application, method: str) -> None:
        if method not in client.login_methods:
            raise method_disabled(method)
