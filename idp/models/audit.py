"""Audit events: who did what, when, from where, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # the admin listing filters by person or type, newest (highest id) first
    __table_args__ = (
        Index("ix_audit_events_sub_id", "sub", "id"),
        Index("ix_audit_events_type_id", "type", "id", postgresql_ops={"type": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    type: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16), default="success")
    sub: Mapped[str | None] = mapped_column(String(64), default=None)
    client_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # who acted: "admin_token", an m2m client_id, an administrator's sub; None when the
    # person acted on their own account
    actor: Mapped[str | None] = mapped_column(String(128), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
