"""A user's second factors: enrol, confirm, list, remove, check.

SKELETON (issue 4) — signatures are pinned: the hosted pages, the ZITADEL dialect and the MFA
flow call exactly these. Each public method is one transaction and writes an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.accounts.users import UserService
from idp.context import RequestContext
from idp.db import Database
from idp.otp.service import OtpService
from idp.settings import Settings

FACTOR_TYPES = ("otp_sms", "otp_email", "totp")


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, shown once for manual entry
    uri: str  # otpauth://totp/...
    qr_svg: str  # the URI as an SVG QR code (no inline script; safe to embed)


class FactorService:
    def __init__(self, settings: Settings, db: Database, users: UserService, otp: OtpService) -> None:
        self.settings = settings
        self.db = db
        self.users = users
        self.otp = otp

    def list(self, sub: str) -> list:
        """Every factor of ``sub`` (``Factor`` rows: type, state, created_at, changed_at)."""
        raise NotImplementedError

    def ready_types(self, sub: str) -> list[str]:
        """The factor types ``sub`` can use now, e.g. ["otp_sms", "totp"]."""
        raise NotImplementedError

    def add_otp(self, sub: str, channel: str, ctx: RequestContext):
        """Enrol ``otp_sms`` (channel "sms") or ``otp_email`` ("email"), ready at once.

        Raises factor.contact_not_verified (FAILED_PRECONDITION), factor.exists (CONFLICT),
        account.not_found."""
        raise NotImplementedError

    def remove(self, sub: str, factor_type: str, ctx: RequestContext) -> None:
        """Raises factor.not_found."""
        raise NotImplementedError

    def start_totp(self, sub: str, ctx: RequestContext) -> TotpSetup:
        """A new not-ready TOTP factor (replacing a not-ready one). Raises factor.exists."""
        raise NotImplementedError

    def confirm_totp(self, sub: str, code: str, ctx: RequestContext):
        """Make the TOTP factor ready with a first code. Raises factor.not_found, totp.wrong_code."""
        raise NotImplementedError

    def check_totp(self, sub: str, code: str, ctx: RequestContext) -> bool:
        """A code of the ready TOTP factor (±1 step, each code used once)."""
        raise NotImplementedError

    def new_recovery_codes(self, sub: str, ctx: RequestContext) -> list[str]:
        """Replace the user's recovery codes; returns them once (stored hashed)."""
        raise NotImplementedError

    def use_recovery_code(self, sub: str, code: str, ctx: RequestContext) -> bool:
        """Spend one recovery code (single use)."""
        raise NotImplementedError

    def recovery_codes_left(self, sub: str) -> int:
        raise NotImplementedError
