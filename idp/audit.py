"""Audit events: appended to the caller's unit of work, so they commit with it; searched by
the admin API (``GET /admin/api/v1/audit-events``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, insert, select
from sqlalchemy.orm import Session

from idp import metrics
from idp.context import RequestContext
from idp.db import Database, table_of
from idp.errors import IdpError, Kind, invalid
from idp.models import AuditEvent

log = logging.getLogger("gatehouse")

# the table, not the entity: a plain Core INSERT, no ORM bulk-insert machinery
_INSERT = insert(table_of(AuditEvent))

# An event never holds a code, password, secret or full token: the audit log is kept long and
# read by operators, and nothing in it may let a reader act as someone. A detail whose name is
# (or ends in) one of these words is dropped, whoever passed it: ``otp``, ``code``,
# ``otp_token``, ``new_password``, ``client_secret``, ``recovery_codes``. Counts and names
# about them stay (``refresh_tokens_revoked``, ``code_length``, ``grant_type``).
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "pin",
        "otp",
        "code",
        "codes",
        "secret",
        "secrets",
        "token",
        "tokens",
        "hash",
        "key",
        "cookie",
        "authorization",
        "credential",
        "credentials",
        "assertion",
        "jwt",
    }
)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


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
    """Add one event. ``details`` must never hold a code, password, secret or full token
    (those that look like one are dropped: ``safe_details``).

    A Core INSERT in the caller's transaction rather than ``session.add``: events are never
    read back in the request, and skipping the ORM unit of work keeps audit writes cheap. It
    runs on the session's connection (same transaction): a table INSERT needs none of the ORM
    execution path, which costs about as much again as the statement on SQLite.
    """
    record_row(session, row(type_, ctx, result=result, sub=sub, client_id=client_id, **details))


def record_row(session: Session, event: dict[str, Any]) -> None:
    """Insert an event ``row`` made, in the caller's transaction, and count it."""
    session.connection().execute(_INSERT, event)
    observed(event)


def row(
    type_: str,
    ctx: RequestContext,
    *,
    result: str = "success",
    sub: str | None = None,
    client_id: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """The ``audit_events`` row of one event, as ``record`` inserts it. A caller that folds the
    insert into a statement of its own (the refresh rotation on PostgreSQL) takes the row from
    here and calls ``observed`` once it is written."""
    return dict(
        type=type_,
        result=result,
        sub=sub,
        client_id=client_id or ctx.client_id,
        actor=ctx.actor,
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:300],
        details=safe_details(details, type_),
        at=ctx.now,
    )


def observed(event: dict[str, Any]) -> None:
    """The one counting hook for codes sent, sign-ins and refusals (idp/metrics.py), for an
    event row just written."""
    metrics.observe_event(
        event["type"], event["result"], event["details"], client_id=event["client_id"], sub=event["sub"]
    )


def write(db: Database, type_: str, ctx: RequestContext, **fields: Any) -> None:
    """``record`` in a transaction of its own: an event that belongs to no other change."""
    with db.transaction() as session:
        record(session, type_, ctx, **fields)


def failure(db: Database, type_: str, ctx: RequestContext, exc: IdpError, **fields: Any) -> None:
    """A refusal, with the error's code as ``reason``, in a transaction of its own. An outage
    is not recorded: there is nowhere to write it, and the caller answers 503 anyway."""
    if exc.kind is Kind.UNAVAILABLE:
        return
    write(db, type_, ctx, result="failure", reason=exc.code, **fields)


def is_secret_name(name: str) -> bool:
    """``otp_token``, ``newPassword``, ``client-secret``, ``code`` → True; ``code_length`` → False."""
    words = [w for w in _WORD_SPLIT.split(str(name)) if w]
    return bool(words) and words[-1].lower() in SECRET_WORDS


def safe_details(details: dict[str, Any], type_: str = "") -> dict[str, Any]:
    """``details`` without secret-named keys, at any depth (a defence: callers should never
    pass one). The key, never the value, is logged so the caller gets fixed."""
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if is_secret_name(key):
            log.warning("audit %s: dropped the secret-named detail %r", type_, key)
            continue
        clean[key] = safe_details(value, type_) if isinstance(value, dict) else value
    return clean


# -- search (admin API) -------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """Filters for ``search``; all optional, all combined with AND.

    ``type`` is exact, or a prefix when it ends in ``*`` (``login.*``); ``since`` is
    inclusive and ``until`` exclusive (adjacent windows never overlap); ``before_id`` is the
    cursor: only events older than that one.
    """

    sub: str | None = None
    type: str | None = None
    client_id: str | None = None
    result: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    before_id: int | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_before_id: int | None  # the cursor for the next (older) page; None on the last page


def search(db: Database, query: AuditQuery) -> AuditPage:
    """Newest first (by id: the insertion order, a total order even when clocks tie).

    Raises request.invalid for a limit outside 1..MAX_LIMIT or since >= until.
    """
    if not 1 <= query.limit <= MAX_LIMIT:
        raise _bad(f"limit must be between 1 and {MAX_LIMIT}")
    if query.since and query.until and query.since >= query.until:
        raise _bad("since must be before until")
    rows = list(db.session.scalars(_statement(query).order_by(AuditEvent.id.desc()).limit(query.limit + 1)))
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return AuditPage(rows, rows[-1].id if more else None)


def _statement(query: AuditQuery) -> Select[AuditEvent]:
    stmt = select(AuditEvent)
    for column, value in (
        (AuditEvent.sub, query.sub),
        (AuditEvent.client_id, query.client_id),
        (AuditEvent.result, query.result),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if query.type is not None:
        stmt = stmt.where(_type_filter(query.type))
    if query.since is not None:
        stmt = stmt.where(AuditEvent.at >= _utc(query.since))
    if query.until is not None:
        stmt = stmt.where(AuditEvent.at < _utc(query.until))
    if query.before_id is not None:
        stmt = stmt.where(AuditEvent.id < query.before_id)
    return stmt


def _type_filter(pattern: str) -> ColumnElement[bool]:
    if "*" not in pattern:
        return AuditEvent.type == pattern
    prefix = pattern[:-1]
    if "*" in prefix:
        raise _bad("type: '*' may only end the pattern (login.*)")
    if not prefix:
        return AuditEvent.type.is_not(None)
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return AuditEvent.type.like(f"{escaped}%", escape="\\")


def _utc(value: datetime) -> datetime:
    """Aware UTC: events are written in UTC (SQLite keeps them as naive UTC text)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bad(message: str) -> IdpError:
    return invalid("request.invalid", message)
