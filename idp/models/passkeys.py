"""Passkeys: WebAuthn public key credentials a person registered (Web Authentication Level 3),
each a way in on its own and a second factor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow

NAME_MAX = 64
DEFAULT_NAME = "Passkey"


class Passkey(Base):
    """One discoverable credential of a person. ``id`` is what the APIs show; the credential
    id is the authenticator's, base64url without padding."""

    __tablename__ = "passkeys"

    pk: Mapped[int] = mapped_column("pk", primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    sub: Mapped[str] = mapped_column(String(64), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as the authenticator sent it
    sign_count: Mapped[int] = mapped_column(default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backup_state: Mapped[bool] = mapped_column(default=False)
    aaguid: Mapped[str] = mapped_column(String(36), default="")
    name: Mapped[str] = mapped_column(String(NAME_MAX), default=DEFAULT_NAME)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
