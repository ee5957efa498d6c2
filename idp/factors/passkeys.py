"""Passkeys (Web Authentication: An API for accessing Public Key Credentials, Level 3): a
person's discoverable credentials, each a way in on its own and a second factor.

The hosted pages, the ZITADEL dialect, the login flow and the MFA flow call exactly these
signatures. A ceremony has two calls: ``registration_options`` / ``authentication_options``
give the browser its options (``PublicKeyCredential.parseCreationOptionsFromJSON`` /
``parseRequestOptionsFromJSON`` read them as they are) and an opaque ``handle``; ``register``
/ ``authenticate`` take the handle back with what ``navigator.credentials.create`` / ``get``
answered (``PublicKeyCredential.toJSON()``) and verify it with py_webauthn.

The rules: the Relying Party ID is the issuer's host and the only origin the issuer's origin;
user verification is required, attestation is ``none``, resident keys are required; a
person's own credentials are excluded when they register another. A challenge lives in Redis
for 5 minutes under the SHA-256 of its handle and is spent by one GETDEL, so it serves one
ceremony whatever the outcome; it is bound to the person it was issued for (or to nobody, for
"sign in with a passkey"). Each credential's signature counter must grow when the
authenticator keeps one (Web Authentication Level 3, 7.2 step 22): a counter that does not is
a sign of a cloned authenticator and is refused and audited.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp import audit
from idp.accounts.users import UserService
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database, affected_rows
from idp.errors import IdpError, error, invalid
from idp.factors.totp import ISSUER
from idp.models import Passkey, User
from idp.models.passkeys import DEFAULT_NAME, NAME_MAX
from idp.sessions.store import SsoSession
from idp.settings import Settings
from idp.store import Keys, decoded, guarded

CHALLENGE_TTL = 300  # seconds, absolute
CEREMONY_TIMEOUT_MS = 300_000  # what the browser is told: no longer than the challenge lives
MAX_HANDLE_LENGTH = 128
MAX_CREDENTIAL_LENGTH = 64 * 1024  # a JSON credential; attestation "none" keeps them small
REGISTER, AUTHENTICATE = "register", "authenticate"


@dataclass(frozen=True)
class PasskeyChallenge:
    """One ceremony's start: the ``handle`` to send back with the browser's answer, and the
    options as JSON-ready data (``PublicKeyCredentialCreationOptionsJSON`` or
    ``PublicKeyCredentialRequestOptionsJSON``)."""

    handle: str
    options: dict[str, Any]
    expires_in: int = CHALLENGE_TTL

    @property
    def options_json(self) -> str:
        return json.dumps(self.options, separators=(",", ":"))


def invalid_challenge() -> IdpError:
    return error("passkey.invalid_challenge")


def authentication_failed() -> IdpError:
    return error("passkey.authentication_failed")


def passkey_not_found() -> IdpError:
    return error("passkey.not_found")


def amr_of(passkey: Passkey) -> builtins.list[str]:
    """RFC 8176 values for a passkey sign-in: ``hwk`` for a device-bound key, ``swk`` for one
    that may be synced (backup eligible); ``user`` for the verified person; ``mfa`` because
    something held and the person's verification were both checked."""
    return ["swk" if passkey.backup_eligible else "hwk", "user", "mfa"]


class PasskeyService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis_client: redis.Redis,
        users: UserService,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis_client
        self.users = users
        self.clock = clock or SystemClock()
        issuer = urlsplit(settings.issuer)
        self.rp_id = issuer.hostname or "localhost"
        self.origin = f"{issuer.scheme}://{issuer.netloc}"
        self.challenge_ttl = CHALLENGE_TTL

    # -- reading ------------------------------------------------------------------------
    def list(self, sub: str) -> builtins.list[Passkey]:
        """Every passkey of ``sub``, oldest first."""
        query = select(Passkey).where(Passkey.sub == sub).order_by(Passkey.created_at, Passkey.pk)
        return builtins.list(self.db.session.scalars(query.execution_options(populate_existing=True)))

    def get(self, sub: str, passkey_id: str) -> Passkey | None:
        query = select(Passkey).where(Passkey.sub == sub, Passkey.id == passkey_id)
        return self.db.session.scalar(query.execution_options(populate_existing=True))

    # -- registration -------------------------------------------------------------------
    @guarded
    def registration_options(self, sub: str, ctx: RequestContext) -> PasskeyChallenge:
        """Options for ``navigator.credentials.create`` for ``sub``, excluding the passkeys
        they have. Raises account.not_found, account.abnormal_status, store.unavailable."""
        user = self._active_user(sub)
        label = user.username or user.email or user.phone_number or user.sub
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=ISSUER,
            # the user handle is the sub: opaque, at most 64 bytes, no personal data
            user_id=user.sub.encode(),
            user_name=label,
            user_display_name=user.name or label,
            timeout=CEREMONY_TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(p) for p in self.list(sub)],
        )
        return self._challenge(REGISTER, sub, options.challenge, json.loads(options_to_json(options)))

    def register(
        self, sub: str, handle: str, credential: str | dict[str, Any], name: str | None, ctx: RequestContext
    ) -> Passkey:
        """Verify what ``navigator.credentials.create`` answered to the options of ``handle``
        (issued for ``sub``) and keep the passkey under ``name`` (blank: "Passkey").

        Raises passkey.invalid_name, passkey.invalid_challenge (unknown, used, expired, or
        another person's), passkey.registration_failed (origin, RP ID, user verification,
        signature, malformed), passkey.exists, account.not_found, account.abnormal_status,
        store.unavailable."""
        label = _name(name)
        try:
            record = self._take(handle, REGISTER)
            if record.get("sub") != sub:
                raise invalid_challenge()
            self._active_user(sub)
            parsed = _parse_registration(credential)
            try:
                verified = verify_registration_response(
                    credential=parsed,
                    expected_challenge=base64url_to_bytes(record["challenge"]),
                    expected_rp_id=self.rp_id,
                    expected_origin=self.origin,
                    require_user_verification=True,
                )
            except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
                raise error("passkey.registration_failed", _reason(exc)) from None
            passkey = Passkey(
                id=new_token(12),
                sub=sub,
                credential_id=bytes_to_base64url(verified.credential_id),
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=_transports(parsed),
                backup_eligible=verified.credential_device_type == "multi_device",
                backup_state=verified.credential_backed_up,
                aaguid=verified.aaguid,
                name=label,
                created_at=ctx.now,
            )
            try:
                with self.db.transaction() as session:
                    user = _user(session, sub)
                    session.add(passkey)
                    session.flush()
                    user.sequence += 1
                    audit.record(session, "passkey.add", ctx, sub=sub, passkey_id=passkey.id, aaguid=passkey.aaguid)
            except IntegrityError:
                raise error("passkey.exists") from None
        except IdpError as exc:
            audit.failure(self.db, "passkey.add", ctx, exc, sub=sub)
            raise
        return passkey

    # -- authentication -------------------------------------------------------------------
    @guarded
    def authentication_options(self, sub: str | None) -> PasskeyChallenge:
        """Options for ``navigator.credentials.get``. ``sub`` None: any discoverable passkey of
        this site ("sign in with a passkey", autofill), so ``allowCredentials`` is empty; a
        ``sub``: that person's passkeys (the second step of a sign-in). Raises
        store.unavailable."""
        allowed = [_descriptor(p) for p in self.list(sub)] if sub is not None else []
        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=CEREMONY_TIMEOUT_MS,
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return self._challenge(AUTHENTICATE, sub, options.challenge, json.loads(options_to_json(options)))

    def authenticate(
        self,
        handle: str,
        credential: str | dict[str, Any],
        ctx: RequestContext,
        *,
        expected_sub: str | None = None,
        before_verify: Callable[[str], None] | None = None,
    ) -> tuple[User, Passkey, builtins.list[str]]:
        """Verify what ``navigator.credentials.get`` answered to the options of ``handle``:
        signature, origin, RP ID, user verification, the user handle, the signature counter.
        ``expected_sub``: the person who must own the passkey (the second step of their
        sign-in). ``before_verify`` is called with the owner's sub once the credential is
        found and before anything is checked (the flows ask the brute-force policy there,
        as they do before checking any other secret). Returns the person, the passkey (its
        counter, backup state and last use updated) and the ``amr``.

        Does not check the account's status: the flows do, as for every other way in.
        Raises passkey.invalid_challenge, passkey.authentication_failed (an unknown
        credential, another person's, a failed check), passkey.sign_count_regressed (audited),
        store.unavailable."""
        record = self._take(handle, AUTHENTICATE)
        bound = record.get("sub")
        if bound is not None and expected_sub is not None and bound != expected_sub:
            raise invalid_challenge()
        owner = bound or expected_sub
        parsed = _parse_assertion(credential)
        passkey = self.db.session.scalar(
            select(Passkey)
            .where(Passkey.credential_id == bytes_to_base64url(parsed.raw_id))
            .execution_options(populate_existing=True)
        )
        if passkey is None or (owner is not None and passkey.sub != owner):
            raise authentication_failed()
        user_handle = parsed.response.user_handle
        if user_handle is None and owner is None:
            # a discoverable credential names its person (Web Authentication Level 3, 7.2 step 6)
            raise authentication_failed()
        if user_handle is not None and user_handle != passkey.sub.encode():
            raise authentication_failed()
        if before_verify is not None:
            before_verify(passkey.sub)
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=base64url_to_bytes(record["challenge"]),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=passkey.public_key,
                # the counter is checked below, once the signature has proven it authentic
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise error("passkey.authentication_failed", _reason(exc)) from None
        stored, new = passkey.sign_count, verified.new_sign_count
        counted = bool(new or stored)  # many passkeys keep no counter and always send 0
        moved = 0
        if not counted or new > stored:
            with self.db.transaction() as session:
                # conditional on the counter read: of two assertions with one count, one moves it
                moved = affected_rows(
                    session,
                    update(Passkey)
                    .where(Passkey.pk == passkey.pk, Passkey.sign_count == stored)
                    .values(sign_count=new, backup_state=verified.credential_backed_up, last_used_at=ctx.now)
                    .execution_options(synchronize_session=False),
                )
        if moved != 1:
            if not counted:  # removed meanwhile
                raise authentication_failed()
            regressed = error("passkey.sign_count_regressed")
            audit.failure(
                self.db,
                "passkey.sign_count_regressed",
                ctx,
                regressed,
                sub=passkey.sub,
                passkey_id=passkey.id,
                stored_sign_count=stored,
                sign_count=new,
            )
            raise regressed
        row = self.get(passkey.sub, passkey.id)
        user = self.users.by_sub(passkey.sub)
        if user is None or row is None:
            raise authentication_failed()
        return user, row, amr_of(row)

    # -- removal ----------------------------------------------------------------------------
    def remove(self, sub: str, passkey_id: str, ctx: RequestContext) -> int:
        """Remove a passkey of ``sub``; returns the person's new change sequence. Raises
        passkey.not_found (no such passkey, or another person's)."""
        with self.db.transaction() as session:
            passkey = session.scalar(select(Passkey).where(Passkey.sub == sub, Passkey.id == passkey_id))
            if passkey is None:
                raise passkey_not_found()
            session.delete(passkey)
            user = _user(session, sub)
            user.sequence += 1
            audit.record(session, "passkey.remove", ctx, sub=sub, passkey_id=passkey_id)
        return user.sequence

    # -- challenges ---------------------------------------------------------------------------
    def _challenge(self, purpose: str, sub: str | None, challenge: bytes, options: dict[str, Any]) -> PasskeyChallenge:
        handle = new_token(32)
        record = {
            "purpose": purpose,
            "sub": sub,
            "challenge": bytes_to_base64url(challenge),
            # absolute, by the service's clock: the Redis TTL only clears it away
            "expires_at": int(self.clock.time()) + self.challenge_ttl,
        }
        self.redis.set(Keys.passkey_challenge(hash_secret(handle)), json.dumps(record), ex=self.challenge_ttl)
        return PasskeyChallenge(handle, options, self.challenge_ttl)

    @guarded
    def _take(self, handle: str, purpose: str) -> dict[str, Any]:
        """Spend the challenge behind ``handle`` (GETDEL: of N concurrent uses exactly one
        gets it). Raises passkey.invalid_challenge, store.unavailable."""
        if not handle or len(handle) > MAX_HANDLE_LENGTH:
            raise invalid_challenge()
        raw = decoded(self.redis.getdel(Keys.passkey_challenge(hash_secret(handle))))
        record: dict[str, Any] | None = json.loads(raw) if raw else None
        if record is None or record.get("purpose") != purpose or record["expires_at"] <= self.clock.time():
            raise invalid_challenge()
        return record

    def _active_user(self, sub: str) -> User:
        return self.users.active(sub)


def _name(name: str | None) -> str:
    label = " ".join((name or "").split())
    if len(label) > NAME_MAX:
        raise invalid("passkey.invalid_name")
    return label or DEFAULT_NAME


def _parse_registration(credential: str | dict[str, Any]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(_text(credential))
    except (WebAuthnException, ValidationError, ValueError, KeyError, TypeError) as exc:
        raise error("passkey.registration_failed", _reason(exc)) from None


def _parse_assertion(credential: str | dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(_text(credential))
    except (WebAuthnException, ValidationError, ValueError, KeyError, TypeError) as exc:
        raise error("passkey.authentication_failed", _reason(exc)) from None


def _text(credential: str | dict[str, Any]) -> str:
    """A credential's JSON (``PublicKeyCredential.toJSON()``), given as text or parsed."""
    text = credential if isinstance(credential, str) else json.dumps(credential)
    if len(text) > MAX_CREDENTIAL_LENGTH:
        raise ValueError("the credential is too large")
    return text


def _reason(exc: Exception) -> str:
    return f"the passkey could not be verified: {exc}"[:300]


def _transports(parsed: RegistrationCredential) -> builtins.list[str]:
    return [t.value for t in parsed.response.transports or []]


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in passkey.transports or []:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue  # a transport this library does not know: the browser may still find it
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id), transports=transports or None)


def _user(session: Session, sub: str) -> User:
    user = session.scalar(select(User).where(User.sub == sub))
    if user is None:
        raise error("account.not_found")
    return user


# Adding a passkey gives a new way in: like changing a password, it needs a sign-in this recent
# (seconds), so a browser left signed in cannot be given someone else's passkey.
RECENT_SIGN_IN = 600


def signed_in_recently(session: SsoSession, now: float) -> bool:
    """Whether ``session`` may add a passkey now (``RECENT_SIGN_IN``)."""
    return session.age(now) <= RECENT_SIGN_IN
