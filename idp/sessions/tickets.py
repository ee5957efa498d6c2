"""One-time SSO tickets (OneAccess ``session_token`` → ``sso_ticket`` → user info).

A ticket stands for an SSO session, for one application, for ``SSO_TICKET_TTL`` seconds.
"""

from __future__ import annotations

import json
from typing import TypedDict

import redis
from sqlalchemy import select

from idp.crypto import hash_secret, new_token
from idp.db import Database
from idp.errors import IdpError, error
from idp.models import User
from idp.sessions.store import SsoSessionStore
from idp.store import Keys, guarded

SSO_TICKET_TTL = 120


class TicketRecord(TypedDict):
    """What a ticket stands for, kept in Redis as JSON (``oa:ticket:{sha256(ticket)}``)."""

    sub: str
    client_id: str  # the application it was issued to
    session_id: str  # the SSO session it stands for


class SsoTickets:
    """One-time tickets standing for an SSO session (``session_token``), for one application.

    Stored as SHA-256 of the ticket (a Redis dump reveals nothing usable); redeeming reads and
    deletes in one MULTI, so of N concurrent redemptions exactly one gets the user.
    """

    def __init__(
        self, redis_client: redis.Redis, sessions: SsoSessionStore, db: Database, ttl: int = SSO_TICKET_TTL
    ) -> None:
        self.redis = redis_client
        self.sessions = sessions
        self.db = db  # the user is read straight from the table: accounts sit above sessions
        self.ttl = ttl

    @staticmethod
    def key(ticket: str) -> str:
        return Keys.sso_ticket(hash_secret(ticket))

    @guarded
    def issue(self, session_token: str, client_id: str) -> str:
        """Raises sso.invalid_session_token for an unknown or ended session."""
        session = self.sessions.get(session_token)
        if session is None:
            raise error("sso.invalid_session_token")
        ticket = new_token(32)
        record: TicketRecord = {"sub": session.sub, "client_id": client_id, "session_id": session.id}
        self.redis.set(self.key(ticket), json.dumps(record), ex=self.ttl)
        return ticket

    @guarded
    def redeem(self, ticket: str, client_id: str) -> User:
        """The ticket's user, the ticket spent. Raises sso.invalid_ticket (unknown, used,
        expired, issued to another application (that one is spent too), its session ended, or
        the account no longer active)."""
        if len(ticket) > 100:
            raise _invalid_ticket()
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.key(ticket))
        pipe.delete(self.key(ticket))
        raw, _ = pipe.execute()
        record: TicketRecord | None = json.loads(raw) if raw else None
        if record is None or record["client_id"] != client_id:
            raise _invalid_ticket()
        session = self.sessions.get(record["session_id"])
        user = self.db.session.scalar(select(User).where(User.sub == record["sub"]))
        if session is None or user is None or not user.is_active or session.sub != user.sub:
            raise _invalid_ticket()
        return user


def _invalid_ticket() -> IdpError:
    return error("sso.invalid_ticket")
