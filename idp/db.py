"""The SQL database: engine, a thread-scoped session, and the declarative base.

SQLite (the embedded default) gets WAL and a busy timeout so gthread workers can share it;
PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``), with every wait bounded
(connect, statement, pool) so an outage answers 503 in seconds, and a ping of every connection
that has been idle a while (``ping_if_idle``) so the connections a restarted server dropped are
replaced on their next use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, DateTime, Engine, Executable, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from idp.errors import store_unavailable


class Base(DeclarativeBase):
    # timezone-aware timestamps on PostgreSQL (timestamptz); SQLite stores them as text
    type_annotation_map = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[Base]) -> Table:
    """The table ``model`` maps, for Core statements (``insert(table_of(AuditEvent))``).
    SQLAlchemy types ``__table__`` as any ``FromClause`` (a model may map a join or a
    subquery); every Gatehouse model maps one plain table."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def affected_rows(
    session: Session | Connection, statement: Executable, parameters: dict[str, Any] | None = None
) -> int:
    """Run an UPDATE or DELETE in ``session`` (or straight on a unit of work's connection, for a
    Core statement on a hot path) and return how many rows it matched. ``Session.execute``
    answers DML with a ``CursorResult``, which its return type cannot promise for every
    statement (SQLAlchemy 2.0.44 changelog: cast it where it is known)."""
    return cast("CursorResult[Any]", session.execute(statement, parameters)).rowcount


def normalise_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form people paste and use psycopg 3 for it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# How long a request may wait on PostgreSQL (see README, "Outages"). A stopped server refuses
# the connection at once; these bound the slower ways a database fails:
CONNECT_TIMEOUT = 3  # s: a server (or a network path) that accepts nothing or never answers; libpq's minimum is 2
STATEMENT_TIMEOUT_MS = 5000  # one statement, waits for a row lock included (PostgreSQL "statement_timeout")
POOL_TIMEOUT = 5  # s: waiting for a free connection of the pool when every one is busy
# A connection back in the pool for less than this is taken as alive without asking the server:
# under load every checkout would otherwise cost a round trip (SQLAlchemy's pool_pre_ping pings
# each one), and one that died within the second fails its request as the server's failure did.
PING_AFTER_IDLE = 1.0  # s


class Database:
    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        else:
            kwargs["pool_timeout"] = POOL_TIMEOUT
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
            if "options" not in make_url(url).query:  # a DATABASE_URL's own ?options=... wins
                kwargs["connect_args"]["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.pool, "connect", _note_idle_since)  # new: known alive
            event.listen(self.engine.pool, "checkin", _note_idle_since)
            event.listen(self.engine.pool, "checkout", _ping_if_idle)
        self.session: scoped_session[Session] = scoped_session(sessionmaker(self.engine, expire_on_commit=False))

    def remove(self) -> None:
        """End the thread's session when a request ends. When the server went away under it
        (PostgreSQL restarted, the connection reset), the rollback that closing sends fails:
        the connection is dropped for the pool to replace, and the request, already answered
        by then, is not turned into an error."""
        try:
            self.session.remove()
        except (OperationalError, InterfaceError):
            with suppress(OperationalError, InterfaceError):
                self.session().invalidate()
            self.session.registry.clear()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit at the end, roll back on any error.

        A database outage becomes ``store.unavailable`` (503 on every surface) and the
        session is rolled back, so a failed request never half-applies.
        """
        session = self.session()
        try:
            yield session
            session.commit()
        except (OperationalError, InterfaceError) as exc:
            session.rollback()
            raise store_unavailable("the database") from exc
        except BaseException:
            session.rollback()
            raise

    def check(self) -> None:
        """Raise ``store.unavailable`` unless the database answers now: for work that cannot be
        undone (a code sent to a phone) and must not start when its record cannot be written.
        Asked on the thread's own session, so the record written next goes over the connection
        just checked (on PostgreSQL a second checkout and round trip cost 0.1 ms a send)."""
        try:
            self.session.connection().execute(text("SELECT 1"))
        except (OperationalError, InterfaceError) as exc:
            with suppress(OperationalError, InterfaceError):
                self.session.rollback()
            raise store_unavailable("the database") from exc

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()


def _note_idle_since(_dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
    """SQLAlchemy's "pessimistic disconnect handling" on checkout, for connections idle longer
    than ``PING_AFTER_IDLE``: a dead one raises DisconnectionError, and the pool replaces it
    (and any other connection as old) with a fresh one before the request uses it."""
    if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # end the transaction the ping began (psycopg is not autocommit)
    except Exception as exc:
        raise DisconnectionError("the database connection is gone") from exc


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:  # pragma: no cover
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
