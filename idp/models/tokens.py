"""Refresh tokens: stored as SHA-256 only, rotated on use, grouped in families."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # every rotation of one login shares a family; reuse of a rotated member revokes it all
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    sub: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(500), default="")
    auth_time: Mapped[int] = mapped_column()
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the claims the authorization request asked for (OIDC Core 5.5), kept for every rotation
    claims: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, default=None)
    # the SSO session the grant began in (its public ``sid``), carried into refreshed ID tokens
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
