"""Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0): the worker that
sends the logout tokens a sign-out queued (``idp.sessions.logout``).

Each pending row is claimed before it is sent by moving its ``next_attempt_at`` past the
POST's timeout, with an UPDATE that matches only the value the worker read: of several
processes (gunicorn workers, the CLI) that saw the same row due, exactly one claims it, and a
worker that dies mid-send leaves a row that falls due again when the claim runs out.

A receiver answering 200 or 204 has the token (2.8). Anything else (another status, a refused
connection, a timeout) is a failure: audited ``logout.delivery_failed`` with the application
and the reason (never the token), and retried after ``BACKOFF``; after the last retry the row
is given up (state ``failed``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import new_token
from idp.db import Database, affected_rows, table_of
from idp.models import Application, LogoutDelivery
from idp.models.logout import DELIVERED, FAILED, PENDING
from idp.oauth.clients import ClientService
from idp.oauth.issuer import TokenIssuer
from idp.oauth.keys import LOGOUT_TOKEN_TYPE, KeyService
from idp.otp.senders.base import DeliveryError
from idp.otp.senders.http import ProviderHttp
from idp.settings import Settings

log = logging.getLogger(__name__)

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds: a logout token is used at once (2.4 recommends a short life)
# seconds to wait after the 1st, 2nd, ... failure; a row failing once more is given up
BACKOFF = (10, 60, 300, 1800, 7200)
CLAIM_MARGIN = 60  # seconds a claim outlives the POST's timeout
DELIVERED_STATUSES = (200, 204)  # Back-Channel Logout 1.0, 2.8
WORKER_CONTEXT = RequestContext(ip="127.0.0.1", user_agent="gatehouse-logout-worker")

_TABLE = table_of(LogoutDelivery)


@dataclass(frozen=True)
class Outcome:
    """What one run did: rows delivered, rows that failed (retried later or given up)."""

    delivered: int = 0
    failed: int = 0


class BackchannelLogout:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        keys: KeyService,
        clients: ClientService,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.keys = keys
        self.clients = clients
        self.clock = clock or SystemClock()
        self.http = ProviderHttp("logout receiver", settings.delivery_timeout)

    def logout_token(self, client: Application, sub: str, sid: str) -> str:
        """Back-Channel Logout 1.0, 2.4: iss, aud, iat, exp, jti, sub, sid and the logout
        event; never a nonce. Signed like the application's ID tokens, typ ``logout+jwt``."""
        now = int(self.clock.time())
        claims = {
            "iss": self.settings.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": new_token(16),
            "sub": sub,
            "sid": sid,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        return self.keys.signer(TokenIssuer.id_token_alg(client)).sign(claims, LOGOUT_TOKEN_TYPE)

    def run_due(self, limit: int = 100) -> Outcome:
        """Send up to ``limit`` deliveries that are due now, one after the other."""
        now = self.clock.now()
        try:
            due = self.db.session.execute(
                select(_TABLE.c.id, _TABLE.c.next_attempt_at)
                .where(_TABLE.c.state == PENDING, _TABLE.c.next_attempt_at <= now)
                .order_by(_TABLE.c.next_attempt_at)
                .limit(limit)
            ).all()
        finally:
            self.db.session.rollback()  # end the read: no transaction stays open during the POSTs
        delivered = failed = 0
        for row_id, seen in due:
            row = self._claim(row_id, seen)
            if row is None:
                continue  # another process took it
            if self._send(row):
                delivered += 1
            else:
                failed += 1
        return Outcome(delivered, failed)

    def _claim(self, row_id: int, seen: datetime) -> LogoutDelivery | None:
        lease = self.clock.now() + timedelta(seconds=self.settings.delivery_timeout + CLAIM_MARGIN)
        with self.db.transaction() as session:
            claim = (
                update(_TABLE)
                .where(_TABLE.c.id == row_id, _TABLE.c.state == PENDING, _TABLE.c.next_attempt_at == seen)
                .values(next_attempt_at=lease)
            )
            if affected_rows(session, claim) != 1:
                return None
            row = session.get(LogoutDelivery, row_id)
            if row is not None:
                session.expunge(row)
            return row

    def _send(self, row: LogoutDelivery) -> bool:
        client = self.clients.by_client_id(row.client_id)
        uri = client.backchannel_logout_uri if client is not None else None
        if client is None or not uri:
            self._failed(row, "the application no longer has a backchannel_logout_uri", give_up=True)
            return False
        try:
            reply = self.http.post(uri, data={"logout_token": self.logout_token(client, row.sub, row.sid)})
        except DeliveryError as exc:
            self._failed(row, str(exc))
            return False
        if reply.status not in DELIVERED_STATUSES:
            self._failed(row, f"the receiver answered HTTP {reply.status}")
            return False
        with self.db.transaction() as session:
            session.execute(
                update(_TABLE)
                .where(_TABLE.c.id == row.id)
                .values(state=DELIVERED, attempts=row.attempts + 1, last_error=None)
            )
            audit.record(session, "logout.delivered", WORKER_CONTEXT, sub=row.sub, client_id=row.client_id)
        return True

    def _failed(self, row: LogoutDelivery, reason: str, *, give_up: bool = False) -> None:
        attempts = row.attempts + 1
        give_up = give_up or attempts > len(BACKOFF)
        values: dict[str, object] = {"attempts": attempts, "last_error": reason[:200]}
        if give_up:
            values["state"] = FAILED
        else:
            values["next_attempt_at"] = self.clock.now() + timedelta(seconds=BACKOFF[attempts - 1])
        with self.db.transaction() as session:
            session.execute(update(_TABLE).where(_TABLE.c.id == row.id).values(**values))
            audit.record(
                session,
                "logout.delivery_failed",
                WORKER_CONTEXT,
                result="failure",
                sub=row.sub,
                client_id=row.client_id,
                reason=reason,
                attempt=attempts,
                gave_up=give_up,
            )


class DeliveryWorker:
    """A daemon thread running ``run_due`` every ``interval`` seconds, one per process (each
    gunicorn worker): the rows' claims keep them from sending a row twice. A failing run (the
    database is down) is logged and the next one tries again."""

    def __init__(self, deliveries: BackchannelLogout, interval: float = 5.0) -> None:
        self.deliveries = deliveries
        self.interval = interval
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs (called on every request: one check, no lock after)."""
        if self._thread is not None:
            return
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="gatehouse-logout-worker", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + self.deliveries.settings.delivery_timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.deliveries.run_due()
            except Exception:  # the worker outlives an outage: the rows stay queued
                log.warning("back-channel logout run failed", exc_info=True)
            finally:
                self.deliveries.db.remove()
