#!/usr/bin/env python3
"""What one SQL statement costs the worker's CPU, on SQLite and on PostgreSQL: the reason the
PostgreSQL rows of bench/RESULTS.md cost more than the SQLite ones for the same requests.

For each database, made as Gatehouse makes it (``idp.db.Database``: SQLite in WAL mode with
``synchronous=NORMAL``, PostgreSQL through psycopg 3), a scratch table like ``audit_events``
(a serial key, a string, a JSON column) gets, one at a time on one connection, the statements
a token request sends: an INSERT (SQLAlchemy Core, which on PostgreSQL adds ``RETURNING id``),
an UPDATE by key, a SELECT by key and a COMMIT after each write. Each is timed with ``time.thread_time`` (the
calling thread's CPU, not the wait for the server) over ``--repeat`` runs after a warm-up;
on PostgreSQL the same INSERT is also timed through psycopg alone, without SQLAlchemy.

    .venv/bin/python bench/statement_cost.py [--repeat 3000]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]

The PostgreSQL database is dropped and made again (loopback only); SQLite uses a temporary file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # bench/common.py

sys.path.insert(0, str(common.ROOT))
from idp.db import Database  # the engine as Gatehouse makes it: SQLite in WAL, PostgreSQL's timeouts


def cpu_us(run: Callable[[int], object], repeat: int) -> float:
    """CPU microseconds per call of ``run`` in this thread, after a warm-up (psycopg prepares a
    statement on its fifth use, as it does in the server)."""
    for i in range(min(500, repeat)):
        run(i)
    started = time.thread_time()
    for i in range(repeat):
        run(i)
    return (time.thread_time() - started) / repeat * 1e6


def measure(url: str, repeat: int) -> dict[str, float]:
    engine = Database(url).engine
    metadata = MetaData()
    table = Table(
        "statement_cost",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("type", String(64)),
        Column("details", JSON),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    add = insert(table)
    change = update(table).where(table.c.id == bindparam("key")).values(type=bindparam("new_type"))
    read = select(table.c.type).where(table.c.id == bindparam("key"))
    figures: dict[str, float] = {}
    try:
        with engine.connect() as connection:
            connection.execute(add, {"type": "seed", "details": {}})
            connection.commit()

            def insert_one(i: int, c: Connection = connection) -> None:
                c.execute(add, {"type": "login.token", "details": {"grant_type": "refresh_token", "n": i}})

            def update_one(i: int, c: Connection = connection) -> None:
                c.execute(change, {"key": 1, "new_type": f"t{i % 7}"})

            def select_one(i: int, c: Connection = connection) -> None:
                c.execute(read, {"key": 1}).scalar()

            def insert_and_commit(i: int, c: Connection = connection) -> None:
                insert_one(i)
                c.commit()

            figures["INSERT (Core)"] = cpu_us(insert_one, repeat)
            connection.commit()
            figures["UPDATE by key"] = cpu_us(update_one, repeat)
            connection.commit()
            figures["SELECT by key"] = cpu_us(select_one, repeat)
            connection.commit()
            figures["INSERT + COMMIT"] = cpu_us(insert_and_commit, repeat)
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                sql = "INSERT INTO statement_cost (type, details) VALUES (%s, %s::json)"
                figures["INSERT (psycopg alone)"] = cpu_us(
                    lambda i: cursor.execute(sql, ("login.token", '{"grant_type": "refresh_token"}')), repeat
                )
                raw.commit()
            finally:
                raw.close()
    finally:
        metadata.drop_all(engine)
        engine.dispose()
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3000)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatehouse-statements-") as folder:
        results = {"SQLite": measure(f"sqlite:///{folder}/cost.db", args.repeat)}
        with open(Path(folder) / "psql.log", "w") as log:
            common.reset_postgresql(args.pg_url, log)
        results["PostgreSQL"] = measure(args.pg_url, args.repeat)
    print(f"CPU µs per statement in the calling thread, {args.repeat} each, {time.strftime('%F %T')}")
    names = list(dict.fromkeys(name for figures in results.values() for name in figures))
    print(f"  {'statement':28} {'SQLite':>8} {'PostgreSQL':>11}")
    for name in names:
        cells = [f"{results[db][name]:.1f}" if name in results[db] else "-" for db in ("SQLite", "PostgreSQL")]
        print(f"  {name:28} {cells[0]:>8} {cells[1]:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
