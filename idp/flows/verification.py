"""Verified contacts as tokens (Tencent CloudBase ``/auth/v1/verification``, User Login API).

CloudBase splits a code login in three: send a code (``verification_id``), verify it
(``verification_token``), then spend the token on sign-in, sign-up or password reset. The
rules stay the OTP service's (limits, code budget, single use); this module adds the token
mechanics:

- ``send``: the ``target`` rule (``USER`` only for a registered contact, ``NOT_USER`` only for
  a free one, ``ANY``) and ``is_user``, which the CloudBase contract reveals on purpose.
  The ``verification_id`` *is* the OTP service's ``otp_token``; what it was sent for is kept
  beside it (``verify:id:{sha256}``) so the code can be checked from the id alone.
- ``verify``: spends the code and issues a ``verification_token`` (600 s, single use, stored
  hashed) bound to the application, channel, target and usage.
- ``peek`` and ``redeem``: look at a token, spend it (GETDEL: of N concurrent uses exactly
  one wins, the others get ``verification.invalid_token``).

What a token buys is the one sign-in (``LoginFlow.sign_in``), the one sign-up
(``SignUpFlow.sign_up``) and the one password reset (``SelfService.reset_password``): the
token is their proof (``TokenProof``), looked at first and spent only when the operation can
succeed, so a refused request spends nothing.

Choices (documented for integrators):

- sign-in with a token for an unregistered contact creates the user when the application has
  ``auto_signup`` (as the CIAM OTP grant does), else ``account.user_not_found`` (the CloudBase
  contract tells who is registered anyway: ``is_user``);
- a token from a ``login`` or ``signup`` verification serves sign-in and sign-up; password
  reset takes ``reset_password`` or ``login`` tokens; ``update_userinfo`` tokens serve none of
  these three (they are for contact changes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypedDict

import redis

from idp.accounts.proofs import Contact
from idp.accounts.self_service import SelfService
from idp.accounts.users import UserService, user_not_found
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.errors import IdpError, error, invalid
from idp.flows.login import METHOD_FOR_CHANNEL, LoginFlow, method_disabled
from idp.flows.results import Completed
from idp.flows.signup import SignUpFlow
from idp.models import Application, User
from idp.otp.service import OtpService
from idp.store import Keys, guarded

VERIFICATION_TOKEN_TTL = 600
TARGET_RULES = ("ANY", "USER", "NOT_USER")
SIGN_IN_USAGES = ("login", "signup")
RESET_USAGES = ("reset_password", "login")
MAX_TOKEN_LENGTH = 128


class SentRecord(TypedDict):
    """What a ``verification_id`` was sent for, kept in Redis as JSON (``verify:id:{sha256}``)."""

    channel: str
    target: str
    usage: str
    auth_source_id: str
    client_id: str


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
class Verified:
    """What a verification_token stands for: this application saw this contact's code."""

    channel: str
    target: str
    usage: str
    client_id: str


def invalid_token() -> IdpError:
    # CloudBase answers a reused or unknown verification_token with invalid_argument
    return invalid("verification.invalid_token")


class TokenProof:
    """A ``verification_token`` as the proof of its contact (``idp.accounts.proofs.Proof``).
    ``claimed``, when the request names a contact too, must be the token's."""

    def __init__(
        self,
        verifications: VerificationService,
        client: Application,
        token: str | None,
        usages: tuple[str, ...],
        claimed: str | None = None,
    ) -> None:
        self.verifications, self.client, self.token, self.usages = verifications, client, token, usages
        self.claimed = claimed
        self._contact: Contact | None = None

    def contact(self) -> Contact:
        """The token's contact, not spent. Raises verification.invalid_token, request.invalid."""
        if self._contact is None:
            found = self.verifications.peek(self.client, self.token, self.usages)
            normalise = self.verifications.otp.normalise_target
            if self.claimed and normalise(found.channel, self.claimed) != found.target:
                raise invalid("request.invalid", "the contact is not the one the verification_token proves")
            self._contact = Contact(found.channel, found.target)
        return self._contact

    def check(self) -> Contact:
        return self.contact()  # a token was checked when it was issued; spending it is the race

    def spend(self) -> None:
        """Raises verification.invalid_token when another request spent it first."""
        self.verifications.redeem(self.client, self.token or "")


class VerificationService:
    def __init__(
        self,
        redis_client: redis.Redis,
        otp: OtpService,
        users: UserService,
        login: LoginFlow,
        signup: SignUpFlow,
        accounts: SelfService,
        token_ttl: int = VERIFICATION_TOKEN_TTL,
    ) -> None:
        self.redis = redis_client
        self.otp = otp
        self.users = users
        self.login = login
        self.signup = signup
        self.accounts = accounts
        self.token_ttl = token_ttl

    # -- codes --------------------------------------------------------------------------
    @guarded
    def send(
        self,
        client: Application,
        ctx: RequestContext,
        channel: str,
        raw_target: str,
        usage: str,
        target_rule: str = "ANY",
    ) -> Sent:
        """Send a code. Raises contact.*, account.user_not_found (``USER``), account.phone_taken/
        email_taken (``NOT_USER``, or usage ``signup``), login.method_disabled (a login code on
        an application without that method), otp.* (auth source, limits, quota, delivery)."""
        if target_rule not in TARGET_RULES:
            raise invalid("request.invalid", f"target must be one of {', '.join(TARGET_RULES)}")
        target = self.otp.normalise_target(channel, raw_target)
        if usage == "login" and METHOD_FOR_CHANNEL[channel] not in client.login_methods:
            raise method_disabled(METHOD_FOR_CHANNEL[channel])
        user = self.users.by_contact(channel, target)
        if target_rule == "USER" and user is None:
            raise user_not_found()
        source = client.auth_source_for(channel)
        if target_rule == "NOT_USER" or usage == "signup":  # only to a contact no account uses
            sent = self.signup.send_code(client, ctx, channel, target, source, usage=usage)
        else:
            sent = self.otp.send(client, channel, target, usage, source, ctx)
        record: SentRecord = {
            "channel": channel,
            "target": sent.target,
            "usage": usage,
            "auth_source_id": source or "",
            "client_id": client.client_id,
        }
        self.redis.set(Keys.verification_id(hash_secret(sent.otp_token)), json.dumps(record), ex=sent.expires_in)
        return Sent(sent.otp_token, sent.expires_in, user is not None)

    @guarded
    def verify(self, client: Application, ctx: RequestContext, verification_id: str, code: str) -> Issued:
        """Spend the code; a ``verification_token`` for it. Raises otp.unknown_token (unknown id
        or another application's), account.locked, otp.wrong_code, otp.expired_code,
        otp.too_many_failures."""
        if not verification_id or len(verification_id) > MAX_TOKEN_LENGTH:
            raise error("otp.unknown_token", "unknown or expired verification_id")
        raw = self.redis.get(Keys.verification_id(hash_secret(verification_id)))
        record: SentRecord | None = json.loads(raw) if raw else None
        if record is None or record["client_id"] != client.client_id:
            raise error("otp.unknown_token", "unknown or expired verification_id")
        # a wrong code counts against the contact (brute-force policy, in the OTP service)
        self.otp.verify(
            client,
            record["channel"],
            record["target"],
            record["usage"],
            record["auth_source_id"],
            verification_id,
            code or "",
            consume=True,
            ctx=ctx,
        )
        token = new_token(32)
        proof = {k: record[k] for k in ("channel", "target", "usage", "client_id")}
        # two keys of two random tokens, so two slots on Redis Cluster: no transaction, and none
        # needed (the code is already spent; the id is dropped only to tidy up)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(Keys.verification_token(hash_secret(token)), json.dumps(proof), ex=self.token_ttl)
        pipe.delete(Keys.verification_id(hash_secret(verification_id)))
        pipe.execute()
        return Issued(token, self.token_ttl)

    @guarded
    def peek(self, client: Application, token: str | None, usages: tuple[str, ...]) -> Verified:
        """The token's proof, not spent. Raises verification.invalid_token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise invalid_token()
        raw = self.redis.get(Keys.verification_token(hash_secret(token)))
        proof = Verified(**json.loads(raw)) if raw else None
        if proof is None or proof.client_id != client.client_id or proof.usage not in usages:
            raise invalid_token()
        return proof

    @guarded
    def redeem(self, client: Application, token: str) -> Verified:
        """Spend the token (GETDEL): exactly one of N concurrent callers gets its proof.
        Raises verification.invalid_token."""
        raw = self.redis.getdel(Keys.verification_token(hash_secret(token)))
        proof = Verified(**json.loads(raw)) if raw else None
        if proof is None or proof.client_id != client.client_id:
            raise invalid_token()
        return proof

    # -- what a token buys ----------------------------------------------------------------
    def sign_in(self, client: Application, ctx: RequestContext, token: str | None) -> Completed:
        """``LoginFlow.sign_in`` with the token as its proof (amr ``otp`` + channel); an unknown
        contact is ``account.user_not_found`` unless the application signs it up.

        Raises verification.invalid_token, login.method_disabled, account.locked,
        account.user_not_found, account.abnormal_status, store.unavailable. Audited as
        ``login.success``/``login.failure`` (method ``verification_token``).
        """
        proof = TokenProof(self, client, token, SIGN_IN_USAGES)
        return self.login.sign_in(client, ctx, proof, reveal_unknown=True, method="verification_token")

    def sign_up(
        self,
        client: Application,
        ctx: RequestContext,
        token: str | None,
        *,
        contact: str | None = None,
        username: str | None = None,
        password: str | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Completed:
        """``SignUpFlow.sign_up`` with the token as its proof: the token's phone/email (marked
        verified); ``contact``, when given, must be the token's.

        Raises verification.invalid_token, request.invalid, account.invalid_username,
        account.invalid_<field>, password.too_short/too_long/too_common,
        account.phone_taken/email_taken/username_taken, store.unavailable. Audited as ``user.signup``.
        """
        proof = TokenProof(self, client, token, SIGN_IN_USAGES, contact)
        return self.signup.sign_up(client, ctx, proof, username=username, password=password, profile=profile)

    def reset_password(
        self,
        client: Application,
        ctx: RequestContext,
        token: str | None,
        new_password: str,
        *,
        contact: str | None = None,
    ) -> User:
        """``SelfService.reset_password`` with the token as its proof: a new password, every
        SSO session ended, every refresh token and remembered device revoked, the contact
        marked verified; ``contact``, when given, must be the token's.

        Raises verification.invalid_token, request.invalid, password.too_short/too_long/too_common,
        account.user_not_found, account.abnormal_status, store.unavailable.
        """
        proof = TokenProof(self, client, token, RESET_USAGES, contact)
        return self.accounts.reset_password(client, ctx, proof, new_password)
