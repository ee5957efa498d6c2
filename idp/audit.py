"""Audit events: appended to the caller's unit of work, so they commit with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from idp.context import RequestContext
from idp.models import AuditEvent


def record(
    session: Session,
    type_: str,
    ctx: RequestContext,
    *,
    result: str = "success",
    sub: str | None = None,
    client_id: str | None = None,
    **details: Any,
) -> None:
    """Add one event. ``details`` must never hold a code, password, secret or full token."""
    session.add(
        AuditEvent(
            type=type_,
            result=result,
            sub=sub,
            client_id=client_id or ctx.client_id,
            ip=ctx.ip,
            user_agent=(ctx.user_agent or "")[:300],
            details=details,
            at=ctx.now,
        )
    )
