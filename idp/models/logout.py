"""Back-channel logout deliveries (OpenID Connect Back-Channel Logout 1.0): one row per
(ended session, application) that must be told, kept until it is delivered or given up.

Rows are written in the sign-out's own transaction, so a sign-out that commits always leaves
its notices behind, and one that fails leaves none. A worker sends them later (the person's
request never waits for an application), claiming each row with a conditional UPDATE on
``next_attempt_at`` so that two processes never send the same one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class LogoutDelivery(Base):
    __tablename__ = "logout_deliveries"
    __table_args__ = (Index("ix_logout_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    sub: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=PENDING)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
