"""Consents: which scopes a person allowed a third-party application (the consent page, OpenID
Connect Core 1.0 3.1.2.4), so they are asked once, not at every sign-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow


class Consent(Base):
    """One row per (person, application); ``scopes`` only grows as more scopes are allowed."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("sub", "client_id", name="uq_consents_sub_client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def covers(self, scopes: list[str]) -> bool:
        return set(scopes) <= set(self.scopes)
