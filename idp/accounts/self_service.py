"""Self-service account operations shared by the hosted pages and the JSON faces.

Password reset by a proof of the contact, password change, profile update, phone/email
change by code, signing out one session or everywhere, and withdrawing an application's
access. (Sign-up, which ends signed in, is a flow: ``idp.flows.signup``.)

Every public method is one unit of work: input is checked first, proofs are verified without
being spent, then one transaction writes the change and the audit event and spends the
proof(s) just before it commits. A request that fails changes nothing: no code consumed, no
password changed. Redis side effects that must go with the change (spending a proof, ending
SSO sessions) run inside the transaction, after the SQL has been flushed, so a database
conflict rolls everything back before any of them happen, and the proof is spent last, so a
lost race for it rolls the change back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.accounts import passwords
from idp.accounts.audited import refusals_audited
from idp.accounts.passwords import verify_password
from idp.accounts.profile import checked as checked_profile
from idp.accounts.proofs import ContactCode, Proof, bind
from idp.accounts.users import CONTACT_COLUMN, VERIFIED_COLUMN, UserService, user_not_found
from idp.context import RequestContext
from idp.db import Database, affected_rows
from idp.errors import error, invalid
from idp.factors.devices import RememberedDevices
from idp.models import Application, Consent, User
from idp.oauth.tokens import RefreshTokenStore
from idp.otp.service import OtpService
from idp.sessions import SsoSessionStore, end_all_sessions, end_session
from idp.settings import Settings


class SelfService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        users: UserService,
        otp: OtpService,
        sessions: SsoSessionStore,
        refresh_tokens: RefreshTokenStore,
        devices: RememberedDevices,
    ) -> None:
        self.settings = settings
        self.db = db
        self.users = users
        self.otp = otp
        self.sessions = sessions
        self.refresh_tokens = refresh_tokens
        self.devices = devices

    # -- passwords ----------------------------------------------------------------------
    @refusals_audited("password.reset")
    def reset_password(
        self, client: Application, ctx: RequestContext, proof: Proof | ContactCode, new_password: str
    ) -> User:
        """Set a new password for the owner of the contact ``proof`` proves (a
        ``usage=reset_password`` code, or a flow's proof such as a CloudBase
        verification_token). Whoever knew the old password is shut out: every SSO session
        ends, every refresh token and every remembered device (which would skip MFA) is
        revoked. Receiving the proof also proves the contact: it is marked verified.

        The proof is checked before the user is looked up, so only someone who received the
        code learns whether an account exists for that contact (Tencent CIAM says "User not
        found"), and spent last: of concurrent resets with one proof exactly one wins.

        Raises password.too_short/too_long/too_common, request.invalid, contact.*, the proof's
        errors (otp.*, verification.invalid_token), account.user_not_found,
        account.abnormal_status, store.unavailable.
        """
        proof = bind(self.otp, client, ctx, "reset_password", proof)
        password_hash = self.users.passwords.hash(new_password)
        contact = proof.check()
        user = self.users.by_contact(contact.channel, contact.target)
        if user is None:
            raise user_not_found()
        self.users.ensure_active(user)
        with self.db.transaction() as session:
            user.password_hash = password_hash
            setattr(user, VERIFIED_COLUMN[contact.channel], True)  # receiving the proof proves the contact
            user.sequence += 1
            session.flush()
            revoked = self.refresh_tokens.revoke_all_in(session, user.sub)
            devices = self.devices.revoke_all_in(session, user.sub, ctx)
            audit.record(
                session,
                "password.reset",
                ctx,
                sub=user.sub,
                client_id=client.client_id,
                channel=contact.channel,
                refresh_tokens_revoked=revoked,
                devices_revoked=devices,
            )
            # sessions first: if spending then loses a race, the person is merely signed out
            end_all_sessions(self.sessions, session, user.sub)
            proof.spend()
        return user

    @refusals_audited("password.change")
    def change_password(self, sub: str, ctx: RequestContext, *, old_password: str, new_password: str) -> None:
        """Change a password knowing the old one.

        Sessions and refresh tokens are kept (as Keycloak and Auth0 do by default): the person
        is signed in where they are; ``sign_out_everywhere`` ends the others. Audited. A
        person without a password is told so: it is their own account.

        Raises account.not_found, account.abnormal_status, password.not_set, password.mismatch,
        password.same_as_old, password.too_short/too_long, store.unavailable.
        """
        user = self._active_user(sub)
        if not user.password_hash:
            raise passwords.not_set()
        if not verify_password(user.password_hash, old_password or ""):
            raise error("password.mismatch")
        if new_password == old_password:  # Tencent CIAM: duplicate_password
            raise invalid("password.same_as_old")
        password_hash = self.users.passwords.hash(new_password)
        with self.db.transaction() as session:
            user.password_hash = password_hash
            user.sequence += 1
            audit.record(session, "password.change", ctx, sub=sub)

    # -- profile and contacts -----------------------------------------------------------
    def update_profile(self, sub: str, ctx: RequestContext, fields: dict[str, Any]) -> User:
        """Edit profile fields (``idp.accounts.profile``: None clears one; the username can
        only be changed); bumps ``sequence``.

        Raises account.invalid_field, account.invalid_<field>, account.not_found,
        account.abnormal_status, account.username_taken, store.unavailable.
        """
        return self.update_userinfo(None, sub, ctx, profile=fields)

    def change_contact(
        self,
        client: Application,
        sub: str,
        ctx: RequestContext,
        *,
        channel: str,
        target: str,
        otp_token: str,
        code: str,
        auth_source_id: str | None,
    ) -> User:
        """Set a new phone number/email proven by a ``usage=update_userinfo`` code sent to it.

        Raises contact.*, otp.*, account.not_found, account.abnormal_status,
        account.phone_taken/email_taken, store.unavailable.
        """
        proof = ContactCode(channel, target, otp_token, code, auth_source_id)
        return self.update_userinfo(client, sub, ctx, contacts=[proof])

    @refusals_audited("account.update")
    def update_userinfo(
        self,
        client: Application | None,
        sub: str,
        ctx: RequestContext,
        *,
        profile: dict[str, Any] | None = None,
        contacts: Iterable[Proof | ContactCode] = (),
    ) -> User:
        """Profile fields and contact changes in one unit of work (CIAM ``PATCH /userinfo``).

        Raises what ``update_profile`` and ``change_contact`` raise.
        """
        fields = checked_profile(profile or {})
        proofs = [bind(self.otp, client, ctx, "update_userinfo", given) for given in contacts]
        user = self._active_user(sub)
        for proof in proofs:
            contact = proof.check()
            owner = self.users.by_contact(contact.channel, contact.target)
            if owner is not None and owner.sub != sub:
                self.users.ensure_contact_free(contact.channel, contact.target)  # raises
            fields[CONTACT_COLUMN[contact.channel]] = contact.target
            fields[VERIFIED_COLUMN[contact.channel]] = True
        if not fields:
            return user
        try:
            with self.db.transaction() as session:
                for key, value in fields.items():
                    setattr(user, key, value)
                user.sequence += 1
                session.flush()
                # field names only, never values
                audit.record(
                    session,
                    "account.update",
                    ctx,
                    sub=sub,
                    fields=sorted(fields),
                    client_id=client.client_id if client else None,
                )
                for proof in proofs:
                    proof.spend()
        except IntegrityError as exc:
            raise self.users.duplicate_error(fields, sub) from exc
        return user

    # -- sessions -----------------------------------------------------------------------
    @refusals_audited("account.sign_out_everywhere")
    def sign_out_everywhere(self, sub: str, ctx: RequestContext) -> int:
        """End every SSO session and revoke every refresh token and remembered device of ``sub``.

        Returns the number of SSO sessions ended. Raises store.unavailable.
        """
        with self.db.transaction() as session:
            revoked = self.refresh_tokens.revoke_all_in(session, sub)
            devices = self.devices.revoke_all_in(session, sub, ctx)
            ended = end_all_sessions(self.sessions, session, sub)
            audit.record(
                session,
                "account.sign_out_everywhere",
                ctx,
                sub=sub,
                sessions=ended,
                refresh_tokens_revoked=revoked,
                devices_revoked=devices,
            )
        return ended

    def sign_out_session(self, sub: str, sid: str, ctx: RequestContext) -> bool:
        """End one of ``sub``'s SSO sessions, named by its public ``sid`` (the account page
        never shows session ids), telling its applications. False when ``sub`` has no such
        session (already ended). Raises store.unavailable."""
        session = next((s for s in self.sessions.list_for(sub) if s.sid == sid), None)
        if session is None:
            return False
        with self.db.transaction() as db_session:
            audit.record(db_session, "account.sign_out_session", ctx, sub=sub, sid=sid)
            end_session(self.sessions, db_session, session)
        return True

    # -- applications with access -------------------------------------------------------
    def consented_applications(self, sub: str) -> list[Application]:
        """The third-party applications ``sub`` allowed (consent page), by name."""
        query = (
            select(Application)
            .join(Consent, Consent.client_id == Application.client_id)
            .where(Consent.sub == sub, Application.first_party.is_(False))
            .order_by(Application.name)
        )
        return list(self.db.session.scalars(query))

    def revoke_access(self, sub: str, client_id: str, ctx: RequestContext) -> bool:
        """Withdraw ``sub``'s consent to ``client_id``: the consent goes (the next sign-in asks
        again) with that application's refresh tokens for ``sub`` and their access tokens,
        audited ``consent.revoke``. False when there was no consent. Raises store.unavailable."""
        with self.db.transaction() as session:
            removed = affected_rows(session, delete(Consent).where(Consent.sub == sub, Consent.client_id == client_id))
            if not removed:
                return False
            revoked = self.refresh_tokens.revoke_grant_in(session, sub, client_id)
            audit.record(session, "consent.revoke", ctx, sub=sub, client_id=client_id, refresh_tokens_revoked=revoked)
        return True

    # -- helpers ------------------------------------------------------------------------
    def active_user(self, sub: str) -> User:
        """The user, if they may act on their account. Raises account.not_found, account.abnormal_status."""
        return self._active_user(sub)

    def _active_user(self, sub: str) -> User:
        return self.users.active(sub)
