"""The SQL database: engine, a thread-scoped session, and the declarative base.

SQLite (the embedded default) gets WAL and a busy timeout so gthread workers can share it;
PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Engine, Executable, Table, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import InterfaceError, OperationalError
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


def affected_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE in ``session`` and return how many rows it matched.
    ``Session.execute`` answers DML with a ``CursorResult``, which its return type cannot
    promise for every statement (SQLAlchemy 2.0.44 changelog: cast it where it is known)."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def normalise_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form people paste and use psycopg 3 for it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


CONNECT_TIMEOUT = 5  # seconds libpq waits for a connection to be established (minimum 2)


class Database:
    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        else:
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.session: scoped_session[Session] = scoped_session(sessionmaker(self.engine, expire_on_commit=False))

    def remove(self) -> None:
        self.session.remove()

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
        undone (a code sent to a phone) and must not start when its record cannot be written."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except (OperationalError, InterfaceError) as exc:
            raise store_unavailable("the database") from exc

    def dispose(self) -> None:
        self.session.remove()
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:  # pragma: no cover
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
