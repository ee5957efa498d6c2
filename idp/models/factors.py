"""Second factors of a user (``otp_sms``, ``otp_email``, ``totp``; state ``ready`` or
``not_ready``), recovery codes and remembered devices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow

FACTOR_STATES = ("ready", "not_ready")


class Factor(Base):
    """One second factor of a person: ``otp_sms``, ``otp_email`` or ``totp`` (one of each)."""

    __tablename__ = "factors"
    __table_args__ = (UniqueConstraint("sub", "type", name="uq_factors_sub_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(16))  # otp_sms | otp_email | totp
    state: Mapped[str] = mapped_column(String(16), default="ready")  # ready | not_ready
    # TOTP only: the base32 secret AES-GCM sealed with the app secret key (crypto.CodeCipher)
    secret: Mapped[str | None] = mapped_column(String(255), default=None)
    # TOTP only: the last time step accepted, so each code is used once (RFC 6238 5.2)
    last_totp_step: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def ready(self) -> bool:
        return self.state == "ready"


class RecoveryCode(Base):
    """A single-use recovery code, stored as SHA-256 (≈50 random bits each)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class RememberedDevice(Base):
    """A revocable credential that skips the second factor in one browser ("remember this
    device"); only its SHA-256 is kept."""

    __tablename__ = "remembered_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
