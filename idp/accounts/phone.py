"""A phone number changed with verification (ZITADEL ``/auth/v1/users/me/phone``).

``PUT`` sends a code to the new number and keeps it pending in Redis; the number becomes the
user's (verified) phone only when ``verify_phone`` proves it, so nobody can claim, sign in
with or receive MFA codes at a number they have not proven. The verified number stays in use
meanwhile. Each public method writes an audit event; refusals are audited as failures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypedDict

import redis
from sqlalchemy import delete

from idp import audit
from idp.accounts.audited import refusals_audited
from idp.accounts.self_service import SelfService
from idp.context import RequestContext
from idp.db import Database, affected_rows, table_of
from idp.errors import error
from idp.models import Application, Factor, User
from idp.otp.service import OtpService
from idp.store import Keys, guarded

PENDING_PHONE_TTL = 24 * 3600  # seconds a set-but-unverified number waits for its code


class PendingPhone(TypedDict):
    """A number set but not yet proven, kept in Redis (``phone:pending:{sub}``) as JSON."""

    phone: str  # E.164
    otp_token: str  # of the code last sent to it
    client_id: str  # the application that sent it
    auth_source_id: str | None


@dataclass(frozen=True)
class PhoneState:
    """What a person sees of their phone: the number awaiting verification while there is one
    (``verified`` False), else the stored number and its flag."""

    user: User
    phone: str | None
    verified: bool


class PhoneChanges:
    def __init__(self, db: Database, redis_client: redis.Redis, otp: OtpService, accounts: SelfService) -> None:
        self.db = db
        self.redis = redis_client
        self.otp = otp
        self.accounts = accounts

    @guarded
    def phone(self, sub: str) -> PhoneState:
        """Raises account.not_found, account.abnormal_status, store.unavailable."""
        user = self.accounts.active_user(sub)
        pending = self._pending_phone(sub)
        if pending:
            return PhoneState(user, pending["phone"], False)
        return PhoneState(user, user.phone_number, bool(user.phone_number and user.phone_verified))

    @guarded
    @refusals_audited("phone.set")
    def set_phone(self, client: Application, sub: str, ctx: RequestContext, phone: str) -> User:
        """Start a phone change: send a ``usage=update_userinfo`` code to ``phone`` and keep the
        number pending until ``verify_phone``. The number is stored only once proven, so nobody
        can claim someone else's number, log in with it or receive MFA codes at it unproven;
        whether another account holds it is told only to whoever proves it (at verification).

        Raises contact.malformed_phone, phone.not_changed (already the verified number),
        otp.rate_limited, otp.quota_exhausted, otp.delivery_failed, account.not_found,
        account.abnormal_status, store.unavailable.
        """
        user = self.accounts.active_user(sub)
        target = self.otp.normalise_target("sms", phone)
        if target == user.phone_number and user.phone_verified:
            raise error("phone.not_changed")
        auth_source_id = client.auth_source_for("sms")
        sent = self.otp.send(client, "sms", target, "update_userinfo", auth_source_id, ctx)
        pending: PendingPhone = {
            "phone": target,
            "otp_token": sent.otp_token,
            "client_id": client.client_id,
            "auth_source_id": auth_source_id,
        }
        self.redis.set(Keys.pending_phone(sub), json.dumps(pending), ex=PENDING_PHONE_TTL)
        with self.db.transaction() as session:
            user.sequence += 1
            audit.record(session, "phone.set", ctx, sub=sub, client_id=client.client_id, verified=False)
        return user

    @guarded
    @refusals_audited("phone.resend")
    def resend_phone_code(self, client: Application, sub: str, ctx: RequestContext) -> User:
        """Send the pending number's code again (the same code while it is valid).

        Raises phone.not_pending, otp.rate_limited, otp.quota_exhausted, otp.delivery_failed,
        account.not_found, account.abnormal_status, store.unavailable."""
        user = self.accounts.active_user(sub)
        pending = self._require_pending(sub)
        sent = self.otp.send(client, "sms", pending["phone"], "update_userinfo", pending["auth_source_id"], ctx)
        pending.update({"otp_token": sent.otp_token, "client_id": client.client_id})
        self.redis.set(Keys.pending_phone(sub), json.dumps(pending), keepttl=True)
        return user

    @guarded
    def verify_phone(self, client: Application, sub: str, ctx: RequestContext, code: str) -> User:
        """Prove the pending number with its code: it becomes the user's verified phone (and
        what an ``otp_sms`` factor sends to). The code is single use; a wrong one keeps the
        change pending.

        Raises phone.not_pending, otp.unknown_token, otp.wrong_code, otp.expired_code,
        otp.too_many_failures, otp.mismatch (another application sent the code),
        account.phone_taken, account.not_found, account.abnormal_status, store.unavailable."""
        self.accounts.active_user(sub)
        pending = self._require_pending(sub)
        user = self.accounts.change_contact(
            client,
            sub,
            ctx,
            channel="sms",
            target=pending["phone"],
            otp_token=pending["otp_token"],
            code=code,
            auth_source_id=pending["auth_source_id"],
        )
        self.redis.delete(Keys.pending_phone(sub))
        return user

    @guarded
    @refusals_audited("phone.remove")
    def remove_phone(self, sub: str, ctx: RequestContext) -> User:
        """Remove the phone number (and any pending change). Its ``otp_sms`` factor goes with
        it, in the same transaction, as in ZITADEL: SMS codes need a verified number.

        Raises phone.not_found, account.not_found, account.abnormal_status, store.unavailable."""
        user = self.accounts.active_user(sub)
        had_pending = bool(self.redis.delete(Keys.pending_phone(sub)))
        if not user.phone_number and not had_pending:
            raise error("phone.not_found")
        with self.db.transaction() as session:
            user.phone_number = None
            user.phone_verified = False
            user.sequence += 1
            session.flush()
            table = table_of(Factor)
            removed = affected_rows(session, delete(table).where(table.c.sub == sub, table.c.type == "otp_sms"))
            audit.record(session, "account.update", ctx, sub=sub, fields=["phone_number", "phone_verified"])
            if removed:
                audit.record(session, "factor.remove", ctx, sub=sub, type="otp_sms", reason="phone_removed")
        return user

    def _pending_phone(self, sub: str) -> PendingPhone | None:
        raw = self.redis.get(Keys.pending_phone(sub))
        if not raw:
            return None
        pending: PendingPhone = json.loads(raw)
        return pending

    def _require_pending(self, sub: str) -> PendingPhone:
        pending = self._pending_phone(sub)
        if pending is None:
            raise error("phone.not_pending")
        return pending
