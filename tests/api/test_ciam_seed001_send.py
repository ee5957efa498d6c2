"""Golden tests: every sample request and error response of seed 001 (Send OTP)."""

from __future__ import annotations

import pytest

from idp.otp.limits import SendLimiter
from tests.conftest import basic
from tests.factories import users
from tests.helpers import CLIENT_4, TENANT, send_sms

SEED_SAMPLES = [
    # (Authorization header from the seed, body from the seed)
    (
        "Basic VEVOQU5UX0NMSUVOVF9JRDpURU5BTlRfQ0xJRU5UX1NFQ1JFVA==",
        {"usage": "login", "phone_number": "13612345678", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
    ),
    (
        "Basic Q0xJRU5UXzRfSUQ6Q0xJRU5UXzRfU0VDUkVU",
        {"usage": "login", "email": "MOCK_USERNAME@example.com", "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID"},
    ),
    ("Basic Q0xJRU5UXzRfSUQ6Q0xJRU5UXzRfU0VDUkVU", {"usage": "signup", "phone_number": "13612345678"}),
    ("Basic Q0xJRU5UXzRfSUQ6Q0xJRU5UXzRfU0VDUkVU", {"usage": "signup", "email": "MOCK_USERNAME@example.com"}),
    ("Basic Q0xJRU5UXzRfSUQ6Q0xJRU5UXzRfU0VDUkVU", {"usage": "update_userinfo", "phone_number": "13612345678"}),
    ("Basic Q0xJRU5UXzRfSUQ6Q0xJRU5UXzRfU0VDUkVU", {"usage": "reset_password", "email": "MOCK_USERNAME@example.com"}),
]


@pytest.mark.parametrize(("authorization", "body"), SEED_SAMPLES)
def test_seed_sample_requests_return_an_otp_token(client, seeded, outbox, authorization, body):
    response = client.post("/otp/send", json=body, headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert list(data) == ["otp_token"]
    assert len(data["otp_token"]) >= 22  # >= 128 bits of randomness
    record = outbox.records()[0]
    expected_to = "+8613612345678" if "phone_number" in body else "mock_username@example.com"
    assert record["to"] == expected_to
    assert record["usage"] == body["usage"]
    assert record["code"].isdigit() and len(record["code"]) == 6  # seed: 6 digits by default


def test_usage_defaults_to_login(client, seeded, outbox):
    response = client.post(
        "/otp/send",
        json={"phone_number": "13612345678", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
        headers=TENANT,
    )
    assert response.status_code == 200
    assert outbox.records()[0]["usage"] == "login"


def test_login_requires_auth_source(client, seeded):
    response = client.post("/otp/send", json={"phone_number": "13612345678"}, headers=TENANT)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_malformed_phone_number(client, seeded):
    response = send_sms(client, phone="1361234")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": "malformed_phone_number"}


def test_malformed_email(client, seeded):
    response = client.post("/otp/send", json={"usage": "signup", "email": "not-an-email"}, headers=CLIENT_4)
    assert response.status_code == 400
    assert response.get_json() == {"error": "malformed_email"}


def test_invalid_email_on_blocklist(client, seeded):
    response = client.post("/otp/send", json={"usage": "signup", "email": "someone@mailinator.com"}, headers=CLIENT_4)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_email"}


@pytest.mark.limits(sms_daily_quota=1, email_daily_quota=1)
def test_insufficient_sms_quota(client, seeded):
    assert send_sms(client, phone="13612345678").status_code == 200
    response = send_sms(client, phone="13712345678")
    assert response.status_code == 400
    assert response.get_json() == {"error": "insufficient_sms_quota"}


@pytest.mark.limits(sms_daily_quota=1, email_daily_quota=1)
def test_insufficient_email_quota(client, seeded):
    body = {"usage": "signup", "email": "first@example.com"}
    assert client.post("/otp/send", json=body, headers=CLIENT_4).status_code == 200
    response = client.post("/otp/send", json={"usage": "signup", "email": "second@example.com"}, headers=CLIENT_4)
    assert response.status_code == 400
    assert response.get_json() == {"error": "insufficient_email_quota"}


@pytest.fixture
def sms_provider_down(settings_overrides):
    # nothing listens on port 9 of loopback: the SMS provider is "down"
    settings_overrides.update(sms_sender="webhook", sms_webhook_url="http://127.0.0.1:9/sms")


def test_temporarily_unavailable_when_delivery_fails(sms_provider_down, client, seeded, services):
    response = send_sms(client)
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "temporarily_unavailable",
        "error_description": "Failed to send OTP. Please try again later.",
    }
    # no quota spent: no counter was left behind in Redis
    assert [k for k in services.redis.scan_iter("gh:rl:*")] == []


def test_email_is_used_for_signup(client, seeded, services):
    users.create(services, None, with_password=False, email="MOCK_USERNAME@example.com")
    response = client.post(
        "/otp/send", json={"usage": "signup", "email": "MOCK_USERNAME@example.com"}, headers=CLIENT_4
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "email_is_used"}


def test_phone_number_is_used_for_signup(client, seeded, services):
    users.create(services, None, with_password=False, phone_number="+8613612345678")
    response = client.post("/otp/send", json={"usage": "signup", "phone_number": "13612345678"}, headers=CLIENT_4)
    assert response.status_code == 400
    assert response.get_json() == {"error": "phone_number_is_used"}


def test_sms_rate_limit_exceeded(client, seeded):
    assert send_sms(client).status_code == 200
    response = send_sms(client)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "sms_rate_limit_exceeded",
        "error_description": "SMS rate limit exceeded for same phone number",
    }
    assert 1 <= int(response.headers["Retry-After"]) <= 30


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("TENANT_CLIENT_ID", "wrong-secret"),
        basic("NO_SUCH_CLIENT", "x"),
        {"Authorization": "Basic !!!not-base64"},
    ],
)
def test_client_authentication_is_required(client, seeded, headers):
    response = send_sms(client, headers=headers or {"X-None": "1"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_public_client_sends_an_empty_secret(client, seeded):
    response = send_sms(client, headers=basic("SPA_CLIENT_ID", ""))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"usage": "login", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
        {"phone_number": "13612345678", "email": "a@example.com", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
        {"usage": "shopping", "phone_number": "13612345678"},
        {"phone_number": 13612345678, "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
        ["not", "an", "object"],
    ],
)
def test_bad_bodies_are_invalid_requests_and_send_nothing(client, seeded, outbox, body):
    response = client.post("/otp/send", json=body, headers=TENANT)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert outbox.records() == []


def test_auth_source_of_another_kind_is_not_associated(client, seeded):
    response = send_sms(client, auth_source_id="MOCK_EMAIL_OTP_AUTH_SOURCE_ID")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_auth_source",
        "error_description": "Auth source and application not associated",
    }


def test_limiter_is_the_one_used(services):
    assert isinstance(services.otp.limiter, SendLimiter)
