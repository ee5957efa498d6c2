"""Self-service account operations shared by the hosted pages and the CIAM JSON siblings.

Sign-up (verified phone/email code, or username + password), password reset by code,
password change, profile update, phone/email change by code, and "sign out everywhere".

Every public method is one unit of work: input is checked first, codes are verified without
being spent (``consume=False``), then one transaction writes the change and the audit event
and spends the code(s) just before it commits. A request that fails changes nothing: no code
consumed, no user created (SPEC 5). Redis side effects that must go with the change (spending
a code, ending SSO sessions) run inside the transaction, after the SQL has been flushed, so a
database conflict rolls everything back before any of them happen, and the code is spent
last, so a lost race for it rolls the change back.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.accounts import passwords
from idp.accounts.passwords import verify_password
from idp.accounts.users import CONTACT_COLUMN, UserService, check_username, new_sub
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError, Kind, invalid
from idp.factors.devices import RememberedDevices
from idp.models import Application, User
from idp.oauth.tokens import RefreshTokenStore
from idp.otp.service import OtpService, VerifiedCode
from idp.sessions import SsoSessionStore
from idp.settings import Settings

# What a person may edit about themselves (status, verified flags and contacts are not here:
# contacts change only with a code, status only through an admin).
SELF_PROFILE_FIELDS = ("name", "locale", "username")
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
VERIFIED_COLUMN = {"sms": "phone_verified", "email": "email_verified"}
@dataclass(frozen=True)
class ContactProof:
    """A new phone number or email address with the code sent to it (``usage=update_userinfo``)."""

    channel: str  # "sms" | "email"
    target: str  # as typed; normalised by the service
    otp_token: str
    code: str
    auth_source_id: str | None = None


@dataclass(frozen=True)
class _Checked:
    verified: VerifiedCode
    otp_token: str
    code: str


def audit_failures(type_: str) -> Callable:
    """Every refusal of a public method writes a ``type_`` failure event (SPEC 6) with the
    error code as its reason; an outage does not (there is nowhere to write it)."""

    def decorate(method: Callable) -> Callable:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except IdpError as exc:
                if exc.kind is not Kind.UNAVAILABLE:
                    given = signature.bind_partial(self, *args, **kwargs).arguments
                    client = given.get("client")
                    self._audit_failure(given["ctx"], type_, given.get("sub"), client, exc.code)
                raise

        return wrapper

    return decorate


class SelfService:
    def __init__(self, settings: Settings, db: Database, users: UserService, otp: OtpService,
                 sessions: SsoSessionStore, refresh_tokens: RefreshTokenStore,
                 devices: RememberedDevices) -> None:
        self.settings = settings
        self.db = db
        self.users = users
        self.otp = otp
        self.sessions = sessions
        self.refresh_tokens = refresh_tokens
        self.devices = devices

    # -- sign-up ------------------------------------------------------------------------
    @audit_failures("user.signup")
    def signup(self, client: Application, ctx: RequestContext, *, channel: str | None, target: str | None,
               otp_token: str | None, code: str | None, auth_source_id: str | None,
               username: str | None = None, password: str | None = None,
               profile: dict[str, Any] | None = None) -> User:
        """A new user: a phone/email proven by a ``usage=signup`` code (marked verified), with
        optional username/password/profile; or, with ``channel=None``, username + password.

        Raises signup.identifier_required, account.invalid_username, account.invalid_*,
        password.too_short/too_long, contact.*, otp.invalid_auth_source, otp.unknown_token,
        otp.mismatch, otp.wrong_code, otp.expired_code, otp.too_many_failures,
        account.username_taken/phone_taken/email_taken, store.unavailable.
        """
        fields = _profile_fields(profile or {}, allow_username=False)
        if username is not None:
            check_username(username)
            fields["username"] = username
        if channel is None and (not username or password is None):
            raise invalid("signup.identifier_required",
                          "a username and password, or a phone number or email with a code, are required")
        password_hash = self.users.passwords.hash(password) if password is not None else None
        checked = None
        if channel is not None:
            checked = self._check_code(client, channel, target, "signup", auth_source_id, otp_token, code, ctx)
            fields[CONTACT_COLUMN[channel]] = checked.verified.target
            fields[VERIFIED_COLUMN[channel]] = True
            self.users.ensure_contact_free(channel, checked.verified.target)
        user = User(sub=new_sub(), password_hash=password_hash, **fields)
        try:
            with self.db.transaction() as session:
                session.add(user)
                session.flush()  # a duplicate username/contact fails here, before the code is spent
                method = f"otp_{channel}" if channel else "password"
                audit.record(session, "user.signup", ctx, sub=user.sub, client_id=client.client_id,
                             method=method)
                self._spend(client, [checked] if checked else [])
        except IntegrityError as exc:
            raise self.users.duplicate_error(fields) from exc
        return user

    # -- passwords ----------------------------------------------------------------------
    @audit_failures("password.reset")
    def reset_password(self, client: Application, ctx: RequestContext, *, channel: str, target: str,
                       otp_token: str, code: str, new_password: str, auth_source_id: str | None) -> User:
        """Set a new password with a ``usage=reset_password`` code; ends every SSO session and
        revokes every refresh token of the user (whoever knew the old password is signed out).

        The code is checked before the user is looked up, so only someone who received the code
        learns whether an account exists for that contact (the CIAM face says "User not found").

        Raises password.too_short/too_long, contact.*, otp.*, account.user_not_found,
        account.abnormal_status, store.unavailable.
        """
        password_hash = self.users.passwords.hash(new_password)
        checked = self._check_code(client, channel, target, "reset_password", auth_source_id, otp_token, code, ctx)
        user = self.users.by_contact(channel, checked.verified.target)
        if user is None:
            raise IdpError("account.user_not_found", Kind.NOT_FOUND, "User not found")
        self.users.ensure_active(user)
        with self.db.transaction() as session:
            user.password_hash = password_hash
            setattr(user, VERIFIED_COLUMN[channel], True)  # receiving the code proves the contact
            user.sequence += 1
            session.flush()
            revoked = self.refresh_tokens.revoke_all_in(session, user.sub)
            devices = self.devices.revoke_all_in(session, user.sub, ctx)
            audit.record(session, "password.reset", ctx, sub=user.sub, client_id=client.client_id,
                         channel=channel, refresh_tokens_revoked=revoked, devices_revoked=devices)
            # sessions first: if spending then loses a race, the person is merely signed out
            self.sessions.delete_all(user.sub)
            self._spend(client, [checked])
        return user

    @audit_failures("password.change")
    def change_password(self, sub: str, ctx: RequestContext, *, old_password: str, new_password: str) -> None:
        """Change a password knowing the old one.

        Sessions and refresh tokens are kept (as Keycloak and Auth0 do by default): the person
        is signed in where they are; ``sign_out_everywhere`` ends the others. Audited.

        Raises account.not_found, account.abnormal_status, password.not_set, password.mismatch,
        password.same_as_old, password.too_short/too_long, store.unavailable.
        """
        user = self._active_user(sub)
        if not user.password_hash:
            raise passwords.not_set()
        if not verify_password(user.password_hash, old_password or ""):
            raise IdpError("password.mismatch", Kind.WRONG_CODE, "the current password is wrong")
        if new_password == old_password:  # Tencent CIAM: duplicate_password
            raise invalid("password.same_as_old", "the new password is the same as the current one")
        password_hash = self.users.passwords.hash(new_password)
        with self.db.transaction() as session:
            user.password_hash = password_hash
            user.sequence += 1
            audit.record(session, "password.change", ctx, sub=sub)

    # -- profile and contacts -----------------------------------------------------------
    def update_profile(self, sub: str, ctx: RequestContext, fields: dict[str, Any]) -> User:
        """Edit ``name``, ``locale`` (None clears) and ``username``; bumps ``sequence``.

        Raises account.invalid_field, account.invalid_name/locale/username, account.not_found,
        account.abnormal_status, account.username_taken, store.unavailable.
        """
        return self.update_userinfo(None, sub, ctx, profile=fields)

    def change_contact(self, client: Application, sub: str, ctx: RequestContext, *, channel: str, target: str,
                       otp_token: str, code: str, auth_source_id: str | None) -> User:
        """Set a new phone number/email proven by a ``usage=update_userinfo`` code sent to it.

        Raises contact.*, otp.*, account.not_found, account.abnormal_status,
        account.phone_taken/email_taken, store.unavailable.
        """
        proof = ContactProof(channel, target, otp_token, code, auth_source_id)
        return self.update_userinfo(client, sub, ctx, contacts=[proof])

    @audit_failures("account.update")
    def update_userinfo(self, client: Application | None, sub: str, ctx: RequestContext, *,
                        profile: dict[str, Any] | None = None, contacts: Iterable[ContactProof] = ()) -> User:
        """Profile fields and contact changes in one unit of work (CIAM ``PATCH /userinfo``).

        Raises what ``update_profile`` and ``change_contact`` raise.
        """
        fields = _profile_fields(profile or {}, allow_username=True)
        contacts = list(contacts)
        if contacts and client is None:
            raise invalid("request.invalid", "changing a contact needs the client the code was sent for")
        user = self._active_user(sub)
        checked: list[_Checked] = []
        for proof in contacts:
            item = self._check_code(client, proof.channel, proof.target, "update_userinfo",
                                    proof.auth_source_id, proof.otp_token, proof.code, ctx)
            owner = self.users.by_contact(proof.channel, item.verified.target)
            if owner is not None and owner.sub != sub:
                self.users.ensure_contact_free(proof.channel, item.verified.target)  # raises
            fields[CONTACT_COLUMN[proof.channel]] = item.verified.target
            fields[VERIFIED_COLUMN[proof.channel]] = True
            checked.append(item)
        if not fields:
            return user
        try:
            with self.db.transaction() as session:
                for key, value in fields.items():
                    setattr(user, key, value)
                user.sequence += 1
                session.flush()
                # field names only, never values
                audit.record(session, "account.update", ctx, sub=sub, fields=sorted(fields),
                             client_id=client.client_id if client else None)
                self._spend(client, checked)
        except IntegrityError as exc:
            raise self.users.duplicate_error(fields, sub) from exc
        return user

    # -- sessions -----------------------------------------------------------------------
    @audit_failures("account.sign_out_everywhere")
    def sign_out_everywhere(self, sub: str, ctx: RequestContext) -> int:
        """End every SSO session and revoke every refresh token and remembered device of ``sub``.

        Returns the number of SSO sessions ended. Raises store.unavailable.
        """
        with self.db.transaction() as session:
            revoked = self.refresh_tokens.revoke_all_in(session, sub)
            devices = self.devices.revoke_all_in(session, sub, ctx)
            ended = self.sessions.delete_all(sub)
            audit.record(session, "account.sign_out_everywhere", ctx, sub=sub, sessions=ended,
                         refresh_tokens_revoked=revoked, devices_revoked=devices)
        return ended

    # -- helpers ------------------------------------------------------------------------
    def _check_code(self, client: Application | None, channel: str, target: str | None, usage: str,
                    auth_source_id: str | None, otp_token: str | None, code: str | None,
                    ctx: RequestContext) -> _Checked:
        """Verify a code without spending it (it is spent by ``_spend`` when the change commits)."""
        if channel not in CONTACT_COLUMN:
            raise invalid("request.invalid", "channel must be sms or email")
        if client is None:
            raise invalid("request.invalid", "a code is checked for the client that sent it")
        normalised = self.otp.normalise_target(channel, target or "")
        policy = self.otp.code_policy(client, channel, usage, auth_source_id)
        verified = self.otp.verify(client, channel, normalised, usage, policy.auth_source_id,
                                   otp_token or "", code or "", consume=False, ctx=ctx)
        return _Checked(verified, otp_token or "", code or "")

    def _spend(self, client: Application | None, checked: list[_Checked]) -> None:
        """Single use (SPEC 3): fails with otp.* if a concurrent request spent the code first,
        which rolls back the caller's transaction."""
        for item in checked:
            self.otp.consume(client, item.verified, item.otp_token, item.code)

    def active_user(self, sub: str) -> User:
        """The user, if they may act on their account. Raises account.not_found, account.abnormal_status."""
        return self._active_user(sub)

    def _active_user(self, sub: str) -> User:
        user = self.users.by_sub(sub)
        if user is None:
            raise IdpError("account.not_found", Kind.NOT_FOUND, "no such user")
        self.users.ensure_active(user)
        return user

    def _audit_failure(self, ctx: RequestContext, type_: str, sub: str | None, client: Application | None,
                       reason: str) -> None:
        with self.db.transaction() as session:
            audit.record(session, type_, ctx, result="failure", sub=sub,
                         client_id=client.client_id if client else None, reason=reason)


def _profile_fields(data: dict[str, Any], *, allow_username: bool) -> dict[str, Any]:
    """Shape checks for self-editable fields. Raises account.invalid_field/_name/_locale/_username."""
    allowed = SELF_PROFILE_FIELDS if allow_username else tuple(f for f in SELF_PROFILE_FIELDS if f != "username")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise invalid("account.invalid_field", f"cannot change {', '.join(unknown)}")
    fields = dict(data)
    if "name" in fields:
        name = fields["name"]
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise invalid("account.invalid_name", "name must be text of at most 200 characters")
        fields["name"] = (name or "").strip() or None
    if fields.get("locale") is not None:
        locale = fields["locale"]
        if not isinstance(locale, str) or len(locale) > 16 or not LOCALE_PATTERN.fullmatch(locale):
            raise invalid("account.invalid_locale", "locale must be a language tag such as zh-CN or en")
    if "username" in fields:
        check_username(fields["username"])  # a username cannot be removed, only changed
    return fields
