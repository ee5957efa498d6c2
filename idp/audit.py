"""Audit events: appended to the caller's unit of work, so they commit with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from idp.context import RequestContext
from idp.models import AuditEvent

# the table, not the entity: a plain Core INSERT, no ORM bulk-insert machinery
_INSERT = insert(AuditEvent.__table__)


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
    """Add one event. ``details`` must never hold a code, password, secret or full token.

    A Core INSERT in the caller's transaction rather than ``session.add``: events are never
    read back in the request, and skipping the ORM unit of work keeps audit writes cheap.
    """
    session.execute(
        _INSERT,
        dict(
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
