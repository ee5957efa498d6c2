"""``/healthz`` and ``/readyz`` on the real stores: a stopped Redis and a blackholed one (a
socket that takes the connection and never answers) both answer 503 within about a second."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis

from idp import health
from idp.db import Database
from tests.helpers import free_port


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose listener accepts connections (the kernel's backlog) and never
    reads or answers: what a frozen server or a dropped route looks like to a client."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_healthz_is_ok_without_touching_a_store(own_redis, client):
    own_redis.stop()
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ok_when_both_stores_answer(client):
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_names_redis_when_it_is_stopped_and_answers_fast(own_redis, client):
    assert client.get("/readyz").status_code == 200
    own_redis.stop()
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 1.5
    assert (response.status_code, response.get_json()) == (503, {"status": "unavailable", "failed": ["redis"]})
    own_redis.start()  # not cached: the next probe asks again
    assert client.get("/readyz").status_code == 200


def test_readyz_bounds_a_blackholed_redis_to_about_a_second(services, blackhole):
    # the client's own socket timeout is longer (5 s): the check's deadline is what bounds it
    frozen = redis.Redis(port=blackhole, socket_timeout=5, socket_connect_timeout=5)
    started = time.monotonic()
    assert health.readiness(services.db, frozen) == ["redis"]
    assert time.monotonic() - started < 1.5


def test_readyz_names_a_database_that_refuses_or_hangs(services, blackhole):
    refusing = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gatehouse")
    hanging = Database(f"postgresql+psycopg://postgres@127.0.0.1:{blackhole}/gatehouse")  # connect_timeout 5 s
    try:
        for db in (refusing, hanging):
            started = time.monotonic()
            assert health.readiness(db, services.redis) == ["database"]
            assert time.monotonic() - started < 1.5
        started = time.monotonic()
        down = redis.Redis(port=blackhole, socket_timeout=5)
        assert health.readiness(hanging, down) == ["database", "redis"]  # side by side: still one second
        assert time.monotonic() - started < 1.5
    finally:
        refusing.engine.dispose()
        hanging.engine.dispose()


def test_readyz_answers_in_json_for_other_methods(client):
    response = client.post("/readyz")
    assert response.status_code == 405
    assert response.is_json
