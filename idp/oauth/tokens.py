"""Who a token is for (``Principal``) and the refresh-token store: hashed, rotated on use,
revoked by family. Tokens are made by ``idp.oauth.issuer.TokenIssuer``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import CTE, ColumnElement, Insert, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database, affected_rows, table_of
from idp.models import Application, AuditEvent, RefreshToken, User
from idp.models.users import PERSON_COLUMNS, Person, PersonRecord
from idp.oauth.claims import ClaimsRequest
from idp.oauth.revocation import AccessTokenRevocations
from idp.sessions.store import acr_for
from idp.settings import Settings


@dataclass
class Principal:
    """An authenticated user as the token endpoint sees it."""

    user: Person
    auth_time: int
    amr: list[str]
    nonce: str | None = None  # OIDC Core 3.1.2.1: only from an authorize request, never on refresh
    family_id: str | None = None  # refresh: join the family; code: the family its replay revokes
    # OIDC Core 5.5: claims asked for by name, {"userinfo": [...], "id_token": [...]}
    claims: ClaimsRequest | None = None
    # the SSO session's public ``sid`` (OpenID Connect Back-Channel Logout 1.0, 2.1), when the
    # grant began in one: an authorization code and the refresh tokens that follow it
    sid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def acr(self) -> str:
        """The assurance level follows from the checks passed (``amr``), never a stored flag."""
        return acr_for(self.amr)

    def get_user_id(self) -> str:
        return self.user.sub


@dataclass(frozen=True, slots=True)
class StoredRefreshToken:
    """A refresh token's row and its holder (None if the person is gone), read in one Core
    query: the refresh grant is the busiest path of the service and needs no ORM objects.
    The methods are Authlib's ``TokenMixin``, which the refresh grant calls."""

    holder: PersonRecord | None
    id: int
    family_id: str
    client_id: str
    sub: str
    scope: str
    auth_time: int
    amr: list[str]
    claims: ClaimsRequest | None
    sid: str | None
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    def check_client(self, client: ClientMixin) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self) -> bool:
        return False


# statements built once
_INSERT_TOKEN = insert(table_of(RefreshToken))
_TOKENS = table_of(RefreshToken)
_USERS = table_of(User)
_TOKEN_COLUMNS = tuple(field.name for field in fields(StoredRefreshToken) if field.name != "holder")
# the token's columns in its fields' order, then the holder's (all NULL when the person is gone)
_FIND_WITH_HOLDER = (
    select(
        *(_TOKENS.c[name] for name in _TOKEN_COLUMNS),
        *(_USERS.c[name].label("holder_" + name) for name in PERSON_COLUMNS),
    )
    .select_from(_TOKENS.outerjoin(_USERS, _USERS.c.sub == _TOKENS.c.sub))
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)
# Core UPDATE: no ORM session synchronisation needed; matches only a token still live
_ROTATE = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"), _TOKENS.c.rotated_at.is_(None), _TOKENS.c.revoked_at.is_(None))
    .values(rotated_at=bindparam("rotated_at_now"))
)
_AUDIT = table_of(AuditEvent)
_SUCCESSOR_COLUMNS = (
    "token_hash",
    "family_id",
    "client_id",
    "sub",
    "scope",
    "auth_time",
    "amr",
    "claims",
    "sid",
    "created_at",
    "expires_at",
)
_EVENT_COLUMNS = ("type", "result", "sub", "client_id", "actor", "ip", "user_agent", "details", "at")


def _insert_from(table: Table, columns: tuple[str, ...], prefix: str, source: CTE) -> Insert:
    """``INSERT INTO table (columns) SELECT :<prefix><column>, ... FROM source RETURNING id``:
    one row per row of ``source``, none when it is empty."""
    values = select(*(bindparam(prefix + name, type_=table.c[name].type) for name in columns)).select_from(source)
    return insert(table).from_select(columns, values).returning(table.c.id)


def _rotate_in_one_statement() -> Insert:
    """PostgreSQL: the rotation, its successor and its audit event as ONE statement (data-
    modifying WITH, PostgreSQL manual 7.8.4): the successor is inserted from the rotated row
    and the event from the successor, so when the UPDATE matches nothing (a lost race) nothing
    is written and no row comes back. One round trip instead of three: each statement costs
    psycopg and SQLAlchemy about 0.1 ms of the worker's CPU."""
    rotated = _ROTATE.returning(_TOKENS.c.id).cte("rotated")
    successor = _insert_from(_TOKENS, _SUCCESSOR_COLUMNS, "new_", rotated).cte("successor")
    return _insert_from(_AUDIT, _EVENT_COLUMNS, "event_", successor)


_ROTATE_IN_ONE_STATEMENT = _rotate_in_one_statement()


class RefreshTokenStore:
    """Refresh tokens, stored as SHA-256, rotated on use, revoked by family on reuse."""

    def __init__(
        self, db: Database, settings: Settings, revocations: AccessTokenRevocations, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.revocations = revocations
        self.clock = clock or SystemClock()

    def add(
        self,
        raw: str,
        client: Application,
        principal: Principal,
        scope: str,
        *,
        session: Session | None = None,
        family_id: str | None = None,
    ) -> None:
        """Insert a new token (hashed) in the caller's unit of work (``session``, by default the
        thread's), in ``family_id`` (by default the principal's, or a new family)."""
        # Core INSERT on the unit of work's connection: the row is not read back in this request
        (session or self.db.session()).connection().execute(
            _INSERT_TOKEN, self._row(raw, client, principal, scope, family_id)
        )

    def _row(
        self, raw: str, client: Application, principal: Principal, scope: str, family_id: str | None
    ) -> dict[str, Any]:
        """The stored row of a new token: its hash, never the token."""
        now = self.clock.now()
        ttl = client.refresh_token_ttl or self.settings.refresh_token_ttl
        return dict(
            token_hash=hash_secret(raw),
            family_id=family_id or principal.family_id or new_token(12),
            client_id=client.client_id,
            sub=principal.user.sub,
            scope=scope,
            auth_time=principal.auth_time,
            amr=principal.amr,
            claims=principal.claims,
            sid=principal.sid,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )

    def find_live(self, raw: str, ctx: RequestContext) -> StoredRefreshToken | None:
        """The token if it can be rotated now; None if unknown, revoked, expired or rotated.

        Presenting a token that was already rotated is reuse: the whole family is revoked
        (OAuth 2.0 Security BCP 4.14.2). Nothing is written for a live token: ``rotate`` marks
        it in the same short transaction that stores its successor, so no database lock is
        held while the new tokens are signed.
        """
        token = self.find(raw)
        if token is None or token.revoked_at is not None or _aware(token.expires_at) <= self.clock.now():
            return None
        if token.rotated_at is not None:
            self.reject_reuse(token, ctx)
            return None
        return token

    def find_active(self, raw: str) -> StoredRefreshToken | None:
        """The token if it is live (not rotated, revoked or expired). Looking is not using it:
        no reuse detection here (introspection, RFC 7662)."""
        token = self.find(raw)
        if token is None or token.revoked_at is not None or token.rotated_at is not None:
            return None
        return token if _aware(token.expires_at) > self.clock.now() else None

    def rotate(self, session: Session, token: StoredRefreshToken) -> bool:
        """Mark ``token`` rotated in the caller's unit of work. False when a concurrent request
        rotated (or revoked) it first: exactly one of N racing requests wins."""
        now = self.clock.now()
        return affected_rows(session.connection(), _ROTATE, {"token_id": token.id, "rotated_at_now": now}) == 1

    def replace(
        self,
        session: Session,
        token: StoredRefreshToken,
        raw: str,
        client: Application,
        principal: Principal,
        event: dict[str, Any],
    ) -> bool:
        """Rotate ``token`` and, only when this request won the rotation, store its successor
        ``raw`` (same scope and family, RFC 6749 6) and the audit ``event`` (``audit.row``),
        in the caller's unit of work. False, with nothing written, when a concurrent request
        rotated (or revoked) it first. On PostgreSQL this is one statement; elsewhere (SQLite
        has no data-modifying WITH) the same three in turn."""
        successor = self._row(raw, client, principal, token.scope, token.family_id)
        if self.db.engine.dialect.name != "postgresql":
            if not self.rotate(session, token):
                return False
            session.connection().execute(_INSERT_TOKEN, successor)
            audit.record_row(session, event)
            return True
        parameters = {"token_id": token.id, "rotated_at_now": successor["created_at"]}
        parameters.update({"new_" + name: value for name, value in successor.items()})
        parameters.update({"event_" + name: value for name, value in event.items()})
        if session.connection().execute(_ROTATE_IN_ONE_STATEMENT, parameters).first() is None:
            return False
        audit.observed(event)
        return True

    def reject_reuse(self, token: StoredRefreshToken, ctx: RequestContext) -> None:
        self.revoke_family(token.family_id, ctx, reason="reuse", sub=token.sub, client_id=token.client_id)

    def revoke_family(
        self, family_id: str, ctx: RequestContext, *, reason: str, sub: str | None = None, client_id: str | None = None
    ) -> None:
        """Revoke every refresh token of the family and deny the access tokens it issued.

        Redis first: when it is down nothing changes (store.unavailable); a database failure
        after it leaves the access tokens denied and the request can simply be repeated.
        """
        self.revocations.deny_family(family_id)
        with self.db.transaction() as session:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            )
            audit.record(
                session,
                "token.revoke_family",
                ctx,
                sub=sub,
                client_id=client_id,
                reason=reason,
                result="success" if reason != "reuse" else "failure",
            )

    def revoke_all(self, sub: str, ctx: RequestContext, *, reason: str) -> int:
        """Every live refresh token of ``sub`` (password reset, sign out everywhere)."""
        with self.db.transaction() as session:
            count = self.revoke_all_in(session, sub)
            audit.record(session, "token.revoke_all", ctx, sub=sub, reason=reason, count=count)
        return count

    def revoke_all_in(self, session: Session, sub: str) -> int:
        """``revoke_all`` inside the caller's unit of work (no commit, no audit of its own): the
        access tokens of those grants are denied too, so whoever held them (a password reset
        is often about a thief) is out at once, not when they expire."""
        table = table_of(RefreshToken)
        return self._revoke_in(session, (table.c.sub == sub, table.c.revoked_at.is_(None)))

    def revoke_grant_in(self, session: Session, sub: str, client_id: str) -> int:
        """Every live refresh token ``client_id`` holds for ``sub``, and their access tokens
        (the person withdrew the application's access), inside the caller's unit of work."""
        table = table_of(RefreshToken)
        live = (table.c.sub == sub, table.c.client_id == client_id, table.c.revoked_at.is_(None))
        return self._revoke_in(session, live)

    def revoke_client_in(self, session: Session, client_id: str) -> int:
        """Every live refresh token an application holds, and their access tokens (the
        application is being deleted), inside the caller's unit of work."""
        table = table_of(RefreshToken)
        return self._revoke_in(session, (table.c.client_id == client_id, table.c.revoked_at.is_(None)))

    def _revoke_in(self, session: Session, live: tuple[ColumnElement[bool], ...]) -> int:
        """Revoke the refresh tokens matching ``live`` and deny their grants' access tokens."""
        table = table_of(RefreshToken)
        families = list(session.scalars(select(table.c.family_id).where(*live).distinct()))
        count = affected_rows(session, update(table).where(*live).values(revoked_at=self.clock.now()))
        for family_id in families:
            self.revocations.deny_family(family_id)
        return count

    def find(self, raw: str) -> StoredRefreshToken | None:
        """The token by its hash, with its ``holder`` (None if the person is gone) from the same
        query, on the request's unit of work's connection."""
        connection = self.db.session().connection()
        row = connection.execute(_FIND_WITH_HOLDER, {"token_hash": hash_secret(raw)}).one_or_none()
        if row is None:
            return None
        values: tuple[Any, ...] = tuple(row)
        split = len(_TOKEN_COLUMNS)
        holder = PersonRecord(*values[split:]) if values[split] is not None else None
        return StoredRefreshToken(holder, *values[:split])


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
