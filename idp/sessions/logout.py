"""Ending SSO sessions and telling the applications: the one rule every sign-out follows.

Whenever a session ends by the person's or an administrator's action (RP-initiated logout,
the account page, the admin console and API), each application that got a code from it and
registered a ``backchannel_logout_uri`` is owed a logout token (OpenID Connect Back-Channel
Logout 1.0, 2.5). The notices are queued as rows in the caller's unit of work, next to the
sign-out's audit event, and the Redis session is removed last: if Redis is down the
transaction rolls back and nothing changed; if it commits, the notices are there. They are
sent later by ``idp.oauth.backchannel`` so a slow or dead receiver never holds up a sign-out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from idp.db import table_of
from idp.models import Application, LogoutDelivery
from idp.models.logout import PENDING
from idp.sessions.store import SsoSession, SsoSessionStore


def end_session(store: SsoSessionStore, db_session: Session, session: SsoSession) -> None:
    """End one SSO session in ``db_session``'s unit of work, queueing its logout notices."""
    queue_logout_notices(db_session, [session], store.clock.now())
    store.delete(session)


def end_all_sessions(store: SsoSessionStore, db_session: Session, sub: str) -> int:
    """End every SSO session of ``sub`` (sign out everywhere) in ``db_session``'s unit of
    work, queueing their logout notices; returns how many sessions there were."""
    queue_logout_notices(db_session, store.list_for(sub), store.clock.now())
    return store.delete_all(sub)


def queue_logout_notices(db_session: Session, sessions: Iterable[SsoSession], now: datetime) -> int:
    """One pending delivery per (session, application of that session with a
    ``backchannel_logout_uri``), due now. Returns how many were queued."""
    ended = [s for s in sessions if s.clients]
    client_ids = {client_id for s in ended for client_id in s.clients}
    if not client_ids:
        return 0
    listening = set(
        db_session.scalars(
            select(Application.client_id).where(
                Application.client_id.in_(client_ids), Application.backchannel_logout_uri.is_not(None)
            )
        )
    )
    rows = [
        dict(client_id=client_id, sub=s.sub, sid=s.sid, state=PENDING, attempts=0, next_attempt_at=now, created_at=now)
        for s in ended
        for client_id in s.clients
        if client_id in listening
    ]
    if rows:
        db_session.execute(insert(table_of(LogoutDelivery)), rows)
    return len(rows)
