"""Token signing keys. The private key never leaves the database and this process.

At most one key per algorithm is active (a unique index on ``alg`` over the active rows), so two
workers that create an algorithm's first key at once cannot both succeed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow


class SigningKey(Base):
    __tablename__ = "signing_keys"
    __table_args__ = (
        Index(
            "uq_signing_keys_active_alg",
            "alg",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), default="RS256")
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
