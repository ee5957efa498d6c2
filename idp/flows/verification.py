"""Verified contacts as tokens (Tencent CloudBase ``/auth/v1/verification``, SPEC 1, 4.3).

CloudBase splits a code login in three: send a code (``verification_id``), verify it
(``verification_token``), then spend the token on sign-in, sign-up or password reset. The
rules stay the OTP service's (limits, code budget, single use); this module adds:

- ``send``: the ``target`` rule (``USER`` only for a registered contact, ``NOT_USER`` only for
  a free one, ``ANY``) and ``is_user``, which the CloudBase contract reveals on purpose (SPEC 6).
  The ``verification_id`` *is* the OTP service's ``otp_token``; what it was sent for is kept
  beside it (``verify:id:{sha256}``) so the code can be checked from the id alone.
- ``verify``: spends the code and issues a ``verification_token`` (600 s, single use, stored
  hashed) bound to the application, channel, target and usage.
- ``sign_in``, ``sign_up``, ``reset_password``: spend a token. The token is looked at first
  and spent (GETDEL) only when the operation can succeed, so a refused request spends nothing
  (SPEC 5); of N concurrent uses exactly one wins, the others get ``verification.invalid_token``.

Choices (documented for integrators):

- sign-in with a token for an unregistered contact creates the user when the application has
  ``auto_signup`` (as the CIAM OTP grant does), else ``account.user_not_found``; the rules of
  that sign-in are ``LoginFlow.verified_contact``'s (one place for every way in);
- a token from a ``login`` or ``signup`` verification serves sign-in and sign-up; password
  reset takes ``reset_password`` or ``login`` tokens; ``update_userinfo`` tokens serve none of
  these three (they are for contact changes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.accounts.self_service import LOCALE_PATTERN
from idp.accounts.users import CONTACT_COLUMN, UserService, check_username, new_sub
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database
from idp.errors import IdpError, Kind, invalid
from idp.flows.login import METHOD_FOR_CHANNEL, Completed, LoginFlow, user_not_found
from idp.models import Application, RefreshToken, User
from idp.otp.service import OtpService
from idp.sessions import SsoSessionStore
from idp.store import Keys, guarded

VERIFICATION_TOKEN_TTL = 600
TARGET_RULES = ("ANY", "USER", "NOT_USER")
VERIFIED_COLUMN = {"sms": "phone_verified", "email": "email_verified"}
SIGN_IN_USAGES = ("login", "signup")
RESET_USAGES = ("reset_password", "login")
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Sent:
    verification_id: str
    expires_in: int
    is_user: bool


@dataclass(frozen=True)
class Issued:
    verification_token: str
    expires_in: int


@dataclass(frozen=True)
class Proof:
    """What a verification_token stands for: this application saw this contact's code."""

    channel: str
    target: str
    usage: str
    client_id: str


def invalid_token() -> IdpError:
    # SPEC 4.8: CloudBase answers a reused or unknown verification_token with invalid_argument
    return invalid("verification.invalid_token", "unknown, used or expired verification_token")


class VerificationService:
    def __init__(self, db: Database, redis_client: redis.Redis, otp: OtpService, users: UserService,
                 sessions: SsoSessionStore, login: LoginFlow, token_ttl: int = VERIFICATION_TOKEN_TTL) -> None:
        self.db = db
        self.login = login
        self.redis = redis_client
        self.otp = otp
        self.users = users
        self.sessions = sessions
        self.token_ttl = token_ttl

    # -- codes --------------------------------------------------------------------------
    @guarded
    def send(self, client: Application, ctx: RequestContext, channel: str, raw_target: str, usage: str,
             target_rule: str = "ANY") -> Sent:
        """Send a code. Raises contact.*, account.user_not_found (``USER``), account.phone_taken/
        email_taken (``NOT_USER``, or usage ``signup``), login.method_disabled (a login code on
        an application without that method), otp.* (auth source, limits, quota, delivery)."""
        if target_rule not in TARGET_RULES:
            raise invalid("request.invalid", f"target must be one of {', '.join(TARGET_RULES)}")
        target = self.otp.normalise_target(channel, raw_target)
        if usage == "login" and METHOD_FOR_CHANNEL[channel] not in client.login_methods:
            raise IdpError("login.method_disabled", Kind.FORBIDDEN,
                           f"{METHOD_FOR_CHANNEL[channel]} is not enabled for this application")
        user = self.users.by_contact(channel, target)
        if target_rule == "USER" and user is None:
            raise user_not_found()
        if target_rule == "NOT_USER":
            self.users.ensure_contact_free(channel, target)
        source = client.auth_source_for(channel)
        sent = self.otp.send(client, channel, target, usage, source, ctx)
        record = {"channel": channel, "target": sent.target, "usage": usage, "auth_source_id": source or "",
                  "client_id": client.client_id}
        self.redis.set(Keys.verification_id(hash_secret(sent.otp_token)), json.dumps(record), ex=sent.expires_in)
        return Sent(sent.otp_token, sent.expires_in, user is not None)

    @guarded
    def verify(self, client: Application, ctx: RequestContext, verification_id: str, code: str) -> Issued:
        """Spend the code; a ``verification_token`` for it. Raises otp.unknown_token (unknown id
        or another application's), account.locked, otp.wrong_code, otp.expired_code,
        otp.too_many_failures."""
        if not verification_id or len(verification_id) > MAX_TOKEN_LENGTH:
            raise IdpError("otp.unknown_token", Kind.NOT_FOUND, "unknown or expired verification_id")
        raw = self.redis.get(Keys.verification_id(hash_secret(verification_id)))
        record = json.loads(raw) if raw else None
        if record is None or record["client_id"] != client.client_id:
            raise IdpError("otp.unknown_token", Kind.NOT_FOUND, "unknown or expired verification_id")
        # a wrong code counts against the contact (brute-force policy, in the OTP service)
        self.otp.verify(client, record["channel"], record["target"], record["usage"], record["auth_source_id"],
                        verification_id, code or "", consume=True, ctx=ctx)
        token = new_token(32)
        proof = {k: record[k] for k in ("channel", "target", "usage", "client_id")}
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(Keys.verification_token(hash_secret(token)), json.dumps(proof), ex=self.token_ttl)
        pipe.delete(Keys.verification_id(hash_secret(verification_id)))
        pipe.execute()
        return Issued(token, self.token_ttl)

    @guarded
    def peek(self, client: Application, token: str | None, usages: tuple[str, ...]) -> Proof:
        """The token's proof, not spent. Raises verification.invalid_token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise invalid_token()
        raw = self.redis.get(Keys.verification_token(hash_secret(token)))
        proof = Proof(**json.loads(raw)) if raw else None
        if proof is None or proof.client_id != client.client_id or proof.usage not in usages:
            raise invalid_token()
        return proof

    @guarded
    def redeem(self, client: Application, token: str) -> Proof:
        """Spend the token (GETDEL): exactly one of N concurrent callers gets its proof.
        Raises verification.invalid_token."""
        raw = self.redis.getdel(Keys.verification_token(hash_secret(token)))
        proof = Proof(**json.loads(raw)) if raw else None
        if proof is None or proof.client_id != client.client_id:
            raise invalid_token()
        return proof

    # -- what a token buys ----------------------------------------------------------------
    def sign_in(self, client: Application, ctx: RequestContext, token: str | None) -> Completed:
        """The first factor passed by a verified code (amr ``otp`` + channel): the login rules
        (method, lock, status, auto sign-up, audit) are ``LoginFlow.verified_contact``'s; the
        token is spent only once they all pass.

        Raises verification.invalid_token, login.method_disabled, account.locked,
        account.user_not_found, account.abnormal_status, store.unavailable. Audited as
        ``login.success``/``login.failure``.
        """
        try:
            proof = self.peek(client, token, SIGN_IN_USAGES)
        except IdpError as exc:
            self._audit_failure(ctx, "login.failure", client, None, exc, method="verification_token")
            raise
        return self.login.verified_contact(client, ctx, proof.channel, proof.target,
                                           spend=lambda: self.redeem(client, token or ""),
                                           method="verification_token")

    def sign_up(self, client: Application, ctx: RequestContext, token: str | None, *, contact: str | None = None,
                username: str | None = None, password: str | None = None,
                profile: dict[str, Any] | None = None) -> Completed:
        """A new user whose phone/email is the token's (marked verified), with optional username,
        password and profile (``name``, ``locale``). ``contact``, when given, must be the token's.

        Raises verification.invalid_token, request.invalid, account.invalid_username,
        password.too_short/too_long/too_common, account.phone_taken/email_taken/username_taken,
        store.unavailable. Audited as ``user.signup``.
        """
        try:
            proof = self.peek(client, token, SIGN_IN_USAGES)
            self._same_contact(proof, contact)
            fields = _profile(profile or {})
            if username is not None:
                check_username(username)
                fields["username"] = username
            password_hash = self.users.passwords.hash(password) if password is not None else None
            self.users.ensure_contact_free(proof.channel, proof.target)
            fields[CONTACT_COLUMN[proof.channel]] = proof.target
            fields[VERIFIED_COLUMN[proof.channel]] = True
            user = User(sub=new_sub(), password_hash=password_hash, **fields)
            try:
                with self.db.transaction() as session:
                    session.add(user)
                    session.flush()  # a duplicate fails here, before the token is spent
                    audit.record(session, "user.signup", ctx, sub=user.sub, client_id=client.client_id,
                                 method=f"otp_{proof.channel}")
                    self.redeem(client, token or "")  # a lost race rolls the user back
            except IntegrityError as exc:
                raise self.users.duplicate_error(fields) from exc
        except IdpError as exc:
            self._audit_failure(ctx, "user.signup", client, None, exc)
            raise
        return Completed(user, ["otp", proof.channel], int(self.login.clock.time()))

    def reset_password(self, client: Application, ctx: RequestContext, token: str | None, new_password: str, *,
                       contact: str | None = None) -> User:
        """Set a new password for the token's contact; ends every SSO session and revokes every
        refresh token of the user (as ``SelfService.reset_password``).

        Raises verification.invalid_token, request.invalid, password.too_short/too_long/too_common,
        account.user_not_found, account.abnormal_status, store.unavailable.
        """
        user: User | None = None
        try:
            proof = self.peek(client, token, RESET_USAGES)
            self._same_contact(proof, contact)
            password_hash = self.users.passwords.hash(new_password)
            user = self.users.by_contact(proof.channel, proof.target)
            if user is None:
                raise user_not_found()
            self.users.ensure_active(user)
            with self.db.transaction() as session:
                user.password_hash = password_hash
                user.sequence += 1
                session.flush()
                table = RefreshToken.__table__
                revoked = session.execute(
                    table.update().where(table.c.sub == user.sub, table.c.revoked_at.is_(None))
                    .values(revoked_at=ctx.now)).rowcount
                audit.record(session, "password.reset", ctx, sub=user.sub, client_id=client.client_id,
                             channel=proof.channel, refresh_tokens_revoked=revoked)
                self.sessions.delete_all(user.sub)
                self.redeem(client, token or "")
        except IdpError as exc:
            self._audit_failure(ctx, "password.reset", client, user, exc)
            raise
        return user

    # -- helpers ------------------------------------------------------------------------
    def _same_contact(self, proof: Proof, contact: str | None) -> None:
        if contact and self.otp.normalise_target(proof.channel, contact) != proof.target:
            raise invalid("request.invalid", "the contact is not the one the verification_token proves")

    def _audit_failure(self, ctx: RequestContext, type_: str, client: Application, user: User | None,
                       exc: IdpError, **details: Any) -> None:
        if exc.kind is Kind.UNAVAILABLE:
            return
        with self.db.transaction() as session:
            audit.record(session, type_, ctx, result="failure", client_id=client.client_id,
                         sub=user.sub if user is not None else None, reason=exc.code, **details)


def _profile(profile: dict[str, Any]) -> dict[str, Any]:
    """``name`` (trimmed, at most 200) and ``locale`` (a language tag) of a new user.
    Raises account.invalid_name / account.invalid_locale."""
    fields: dict[str, Any] = {}
    name, locale = profile.get("name"), profile.get("locale")
    if name is not None:
        if not isinstance(name, str) or len(name) > 200:
            raise invalid("account.invalid_name", "name must be text of at most 200 characters")
        fields["name"] = name.strip() or None
    if locale is not None:
        if not isinstance(locale, str) or len(locale) > 16 or not LOCALE_PATTERN.fullmatch(locale):
            raise invalid("account.invalid_locale", "locale must be a language tag such as zh-CN or en")
        fields["locale"] = locale
    return fields
