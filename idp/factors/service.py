"""A user's second factors: enrol, confirm, list, remove, check.

The hosted pages, the ZITADEL dialect, the admin API and the MFA flow call exactly these
signatures. Each public method is one transaction and writes an audit event for every
change; a change bumps ``User.sequence`` (ZITADEL ``details.sequence``).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from idp import audit
from idp.accounts.users import UserService
from idp.context import RequestContext
from idp.crypto import CodeCipher
from idp.db import Database, affected_rows
from idp.errors import IdpError, error, invalid
from idp.factors import recovery, totp
from idp.models import Factor, RecoveryCode, User
from idp.otp.service import OtpService
from idp.settings import Settings

FACTOR_TYPES = ("otp_sms", "otp_email", "totp")
OTP_FACTOR = {"sms": "otp_sms", "email": "otp_email"}


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, shown once for manual entry
    uri: str  # otpauth://totp/...
    qr_data_uri: str  # the URI as an SVG QR code, ``data:image/svg+xml`` for an <img>
    sequence: int = 0  # the user's change sequence after the change (ZITADEL details)
    created_at: datetime | None = None


def factor_not_found() -> IdpError:
    return error("factor.not_found")


def factor_exists() -> IdpError:
    return error("factor.exists")


class FactorService:
    def __init__(self, settings: Settings, db: Database, users: UserService, otp: OtpService) -> None:
        self.settings = settings
        self.db = db
        self.users = users
        self.otp = otp
        self.cipher = CodeCipher(settings.secret_key)

    # -- reading ----------------------------------------------------------------------
    def list(self, sub: str) -> builtins.list[Factor]:
        """Every factor of ``sub`` (``Factor`` rows: type, state, created_at, changed_at)."""
        query = select(Factor).where(Factor.sub == sub).order_by(Factor.id)
        return builtins.list(self.db.session.scalars(query.execution_options(populate_existing=True)))

    def get(self, sub: str, factor_type: str) -> Factor | None:
        """One factor of ``sub``, fresh from the database, or None."""
        query = select(Factor).where(Factor.sub == sub, Factor.type == factor_type)
        return self.db.session.scalar(query.execution_options(populate_existing=True))

    def sequence(self, sub: str) -> int:
        """The user's change sequence (ZITADEL ``details.sequence``); 0 for an unknown user."""
        return int(self.db.session.scalar(select(User.sequence).where(User.sub == sub)) or 0)

    def ready_types(self, sub: str) -> builtins.list[str]:
        """The factor types ``sub`` can use now, e.g. ["otp_sms", "totp"]: ready, and for the
        OTP factors the phone/email is still there and verified."""
        user = self.users.by_sub(sub)
        if user is None:
            return []
        return [f.type for f in self.list(sub) if f.ready and _usable(user, f.type)]

    # -- SMS / email OTP ----------------------------------------------------------------
    def add_otp(self, sub: str, channel: str, ctx: RequestContext) -> Factor:
        """Enrol ``otp_sms`` (channel "sms") or ``otp_email`` ("email"), ready at once.

        Raises factor.invalid_type, factor.contact_not_verified (FAILED_PRECONDITION),
        factor.exists (CONFLICT), account.not_found."""
        factor_type = OTP_FACTOR.get(channel) or (channel if channel in OTP_FACTOR.values() else None)
        if factor_type is None:
            raise invalid("factor.invalid_type")
        with self.db.transaction() as session:
            user = _user(session, sub)
            if not _usable(user, factor_type):
                what = "phone number" if factor_type == "otp_sms" else "email address"
                raise error("factor.contact_not_verified", f"a verified {what} is needed first")
            if _factor(session, sub, factor_type) is not None:
                raise factor_exists()
            factor = Factor(sub=sub, type=factor_type, state="ready")
            session.add(factor)
            self._changed(session, user, "factor.add", ctx, factor_type)
        return factor

    def remove(self, sub: str, factor_type: str, ctx: RequestContext) -> int:
        """Remove a factor (ready or not); returns the user's new change sequence.

        Raises factor.not_found."""
        with self.db.transaction() as session:
            factor = _factor(session, sub, factor_type)
            if factor is None:
                raise factor_not_found()
            session.delete(factor)
            user = _user(session, sub)
            self._changed(session, user, "factor.remove", ctx, factor_type)
        return user.sequence

    def remove_all(self, sub: str, ctx: RequestContext) -> builtins.list[str]:
        """Remove every factor of ``sub`` (ready or not) and their recovery codes, in one
        transaction: an administrator's reset for a person who lost their phone or
        authenticator. Each removal is audited as ``remove`` audits one, and the recovery codes
        go too, since they stand in for the factors they came with. Returns the factor types
        removed (empty when there were none). Raises account.not_found."""
        with self.db.transaction() as session:
            user = _user(session, sub)
            factors = builtins.list(session.scalars(select(Factor).where(Factor.sub == sub).order_by(Factor.id)))
            for factor in factors:
                session.delete(factor)
                self._changed(session, user, "factor.remove", ctx, factor.type)
            codes = affected_rows(
                session,
                delete(RecoveryCode).where(RecoveryCode.sub == sub).execution_options(synchronize_session=False),
            )
            if codes:
                self._changed(session, user, "factor.remove", ctx, "recovery_code")
        return [f.type for f in factors]

    # -- TOTP -----------------------------------------------------------------------------
    def start_totp(self, sub: str, ctx: RequestContext) -> TotpSetup:
        """A new not-ready TOTP factor (replacing a not-ready one). Raises factor.exists,
        account.not_found."""
        secret = totp.new_secret()
        with self.db.transaction() as session:
            user = _user(session, sub)
            factor = _factor(session, sub, "totp")
            if factor is not None and factor.ready:
                raise factor_exists()
            if factor is None:
                factor = Factor(sub=sub, type="totp")
                session.add(factor)
            factor.state = "not_ready"
            factor.secret = self.cipher.seal(secret)
            factor.last_totp_step = None
            self._changed(session, user, "factor.totp.start", ctx, "totp")
        label = user.username or user.email or user.phone_number or user.sub
        uri = totp.provisioning_uri(secret, label)
        return TotpSetup(secret, uri, totp.qr_data_uri(uri), user.sequence, factor.created_at)

    def confirm_totp(self, sub: str, code: str, ctx: RequestContext) -> Factor:
        """Make the TOTP factor ready with a first code. Raises factor.not_found,
        factor.exists (already ready), totp.wrong_code."""
        with self.db.transaction() as session:
            factor = _factor(session, sub, "totp")
            if factor is None or not factor.secret:
                raise factor_not_found()
            if factor.ready:
                raise factor_exists()
            step = totp.matching_step(self.cipher.unseal(factor.secret), code, ctx.now.timestamp(), None)
            if step is not None:
                factor.state = "ready"
                factor.last_totp_step = step
                self._changed(session, _user(session, sub), "factor.totp.confirm", ctx, "totp")
            else:
                audit.record(
                    session,
                    "factor.totp.confirm",
                    ctx,
                    result="failure",
                    sub=sub,
                    factor="totp",
                    reason="totp.wrong_code",
                )
        if step is None:
            raise _wrong_totp()
        return factor

    def check_totp(self, sub: str, code: str, ctx: RequestContext) -> bool:
        """A code of the ready TOTP factor (±1 step, each step used once: the step is claimed
        with a conditional UPDATE, so of two concurrent uses of one code only one passes)."""
        factor = self.get(sub, "totp")
        if factor is None or not factor.ready or not factor.secret:
            return False
        secret = self.cipher.unseal(factor.secret)
        step = totp.matching_step(secret, code, ctx.now.timestamp(), factor.last_totp_step)
        if step is None:
            return False
        with self.db.transaction() as session:
            claimed = affected_rows(
                session,
                update(Factor)
                .where(
                    Factor.id == factor.id,
                    Factor.state == "ready",
                    (Factor.last_totp_step.is_(None)) | (Factor.last_totp_step < step),
                )
                .values(last_totp_step=step)
                .execution_options(synchronize_session=False),
            )
        return claimed == 1

    # -- recovery codes -------------------------------------------------------------------
    def new_recovery_codes(self, sub: str, ctx: RequestContext) -> builtins.list[str]:
        """Replace the user's recovery codes; returns them once (stored as keyed hashes).
        Raises account.not_found."""
        codes = [recovery.new_code() for _ in range(recovery.COUNT)]
        with self.db.transaction() as session:
            user = _user(session, sub)
            session.execute(delete(RecoveryCode).where(RecoveryCode.sub == sub))
            session.add_all(RecoveryCode(sub=sub, code_hash=self._recovery_hash(sub, c)) for c in codes)
            self._changed(session, user, "factor.recovery_codes.generate", ctx, "recovery_code")
        return codes

    def use_recovery_code(self, sub: str, code: str, ctx: RequestContext) -> bool:
        """Spend one recovery code (single use: a conditional UPDATE, so it is spent once)."""
        canonical = recovery.normalise(code)
        if canonical is None:
            return False
        with self.db.transaction() as session:
            spent = (
                affected_rows(
                    session,
                    update(RecoveryCode)
                    .where(
                        RecoveryCode.sub == sub,
                        RecoveryCode.used_at.is_(None),
                        RecoveryCode.code_hash == self._recovery_hash(sub, canonical),
                    )
                    .values(used_at=ctx.now)
                    .execution_options(synchronize_session=False),
                )
                == 1
            )
            if spent:
                audit.record(session, "factor.recovery_code.use", ctx, sub=sub, factor="recovery_code")
        return spent

    def recovery_codes_left(self, sub: str) -> int:
        query = (
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.sub == sub, RecoveryCode.used_at.is_(None))
        )
        return int(self.db.session.scalar(query) or 0)

    # -- helpers --------------------------------------------------------------------------
    def _recovery_hash(self, sub: str, code: str) -> str:
        return self.cipher.digest(sub, recovery.normalise(code) or "")

    @staticmethod
    def _changed(session: Session, user: User, type_: str, ctx: RequestContext, factor_type: str) -> None:
        user.sequence += 1
        audit.record(session, type_, ctx, sub=user.sub, factor=factor_type)


def _user(session: Session, sub: str) -> User:
    user = session.scalar(select(User).where(User.sub == sub))
    if user is None:
        raise error("account.not_found")
    return user


def _factor(session: Session, sub: str, factor_type: str) -> Factor | None:
    return session.scalar(select(Factor).where(Factor.sub == sub, Factor.type == factor_type))


def _usable(user: User, factor_type: str) -> bool:
    if factor_type == "otp_sms":
        return bool(user.phone_number and user.phone_verified)
    if factor_type == "otp_email":
        return bool(user.email and user.email_verified)
    return True


def _wrong_totp() -> IdpError:
    return error("totp.wrong_code")
