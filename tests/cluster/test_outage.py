"""A Redis Cluster that goes away and comes back: 503 in the face's format within about twice
the timeout, then the same app (the same client) works again by itself. Every Redis client
retries a failed command once after a short backoff."""

from __future__ import annotations

import time

import pytest
from redis.backoff import ExponentialBackoff

from idp.store import RETRY_ATTEMPTS, RETRY_BACKOFF_CAP, connect
from tests.helpers import RedisClusterProcess, RedisProcess, free_port, send_sms

TIMEOUT = 0.5


@pytest.fixture
def own_cluster(settings_overrides, tmp_path):
    cluster = RedisClusterProcess(tmp_path / "cluster").start()
    settings_overrides["redis_url"] = cluster.url
    settings_overrides["redis_timeout"] = TIMEOUT
    yield cluster
    cluster.stop()


def test_cluster_down_gives_503_then_recovers_by_itself(own_cluster, client, seeded, outbox):
    assert send_sms(client).status_code == 200
    own_cluster.kill()
    started = time.monotonic()
    down = send_sms(client, phone="13712345678")
    assert time.monotonic() - started < 4 * TIMEOUT + 1  # bounded: timeouts, one retry, no hang
    assert down.status_code == 503
    assert down.get_json()["error"] == "temporarily_unavailable"
    own_cluster.revive()  # empty, on the same ports and slots
    again = send_sms(client, phone="13712345678")
    assert again.status_code == 200, again.get_json()
    assert outbox.last_code("+8613712345678")


def test_every_client_retries_once_with_a_short_backoff(tmp_path, cluster):
    server = RedisProcess(free_port(), tmp_path)
    server.start()
    try:
        for client in (connect(f"redis://127.0.0.1:{server.port}/0", tmp_path), connect(cluster.url, tmp_path)):
            retry = getattr(client, "retry", None) or client.get_retry()  # a cluster's, a server's
            assert retry is not None and retry.get_retries() == RETRY_ATTEMPTS == 1
            assert isinstance(retry._backoff, ExponentialBackoff)
            assert retry._backoff.compute(10) == RETRY_BACKOFF_CAP
            client.close()
    finally:
        server.stop()
