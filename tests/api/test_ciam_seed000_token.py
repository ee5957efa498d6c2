"""Golden tests: every sample request and error response of seed 000 (OTP grant)."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import basic
from tests.factories import auth_sources, users
from tests.helpers import CLIENT_4, SMS_GRANT, email_login, send_sms, sms_login

TOKEN_FIELDS = {"access_token", "refresh_token", "scope", "id_token", "token_type", "expires_in"}


def jwks(client) -> KeySet:
    return KeySet.import_key_set(client.get("/oauth2/jwks").get_json())


@pytest.fixture
def user(services):
    return users.create(
        services,
        None,
        with_password=False,
        with_verified_phone="+8613612345678",
        with_verified_email="MOCK_USERNAME@example.com",
    )


def sent_sms(client, outbox, phone="13612345678"):
    token = send_sms(client, phone=phone).get_json()["otp_token"]
    return token, outbox.last_code()


def test_seed_sms_sample(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": "http://tencentciam.com/oauth2/grant-type/otp/sms",
            "client_id": "TENANT_CLIENT_ID",
            "client_secret": "TENANT_CLIENT_SECRET",
            "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
            "phone_number": "13612345678",
            "otp_token": otp_token,
            "otp": code,
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == TOKEN_FIELDS
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid"
    assert body["expires_in"] == 300
    keys = jwks(client)
    id_token = jwt.decode(body["id_token"], keys)
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"]
    claims = id_token.claims
    assert claims["sub"] == user.sub
    assert claims["aud"] == "TENANT_CLIENT_ID"
    assert claims["iss"] == "http://127.0.0.1:5000"
    assert claims["amr"] == ["otp", "sms"]
    assert abs(claims["auth_time"] - time.time()) < 10
    access = jwt.decode(body["access_token"], keys)
    assert access.header["typ"] == "at+jwt"  # RFC 9068
    assert access.claims["sub"] == user.sub and access.claims["client_id"] == "TENANT_CLIENT_ID"


def test_seed_email_sample(client, seeded, outbox, user):
    send = client.post(
        "/otp/send",
        json={
            "usage": "login",
            "email": "MOCK_USERNAME@example.com",
            "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID",
        },
        headers=basic("TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET"),
    )
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": "http://tencentciam.com/oauth2/grant-type/otp/email",
            "client_id": "TENANT_CLIENT_ID",
            "client_secret": "TENANT_CLIENT_SECRET",
            "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID",
            "email": "MOCK_USERNAME@example.com",
            "otp_token": send.get_json()["otp_token"],
            "otp": outbox.last_code(),
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == TOKEN_FIELDS
    assert jwt.decode(body["id_token"], jwks(client)).claims["amr"] == ["otp", "email"]


def test_form_encoded_body_and_basic_auth(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": SMS_GRANT,
            "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
            "phone_number": "13612345678",
            "otp_token": otp_token,
            "otp": code,
        },
        headers=basic("TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET"),
    )
    assert response.status_code == 200
    assert set(response.get_json()) == TOKEN_FIELDS


def test_public_client_without_secret(client, seeded, outbox, user):
    send = send_sms(client, headers=basic("SPA_CLIENT_ID", ""))
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": SMS_GRANT,
            "client_id": "SPA_CLIENT_ID",
            "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
            "phone_number": "13612345678",
            "otp_token": send.get_json()["otp_token"],
            "otp": outbox.last_code(),
        },
    )
    assert response.status_code == 200
    assert "access_token" in response.get_json()


def test_auto_signup_creates_the_user(client, seeded, outbox, services):
    otp_token, code = sent_sms(client, outbox, phone="13712345678")
    response = sms_login(client, otp_token, code, phone="13712345678", auto_signup=True)
    assert response.status_code == 200
    user = services.users.by_contact("sms", "+8613712345678")
    assert user is not None and user.phone_verified
    assert jwt.decode(response.get_json()["id_token"], jwks(client)).claims["sub"] == user.sub


# -- the six error bodies of seed 000 -------------------------------------------------------


def test_unknown_or_expired_otp_token(client, seeded, user):
    response = sms_login(client, "no-such-token", "123456")
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired otp_token"}


def test_unknown_or_expired_otp(client, seeded, outbox, user, services):
    otp_token, code = sent_sms(client, outbox)
    wrong = "000000" if code != "000000" else "111111"
    response = sms_login(client, otp_token, wrong)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired OTP"}
    from idp.models import AuditEvent

    failures = services.db.session.query(AuditEvent).filter_by(type="login.failure").all()
    assert [(e.result, e.details["reason"]) for e in failures] == [("failure", "otp.wrong_code")]
    assert all(wrong not in str(e.details) and code not in str(e.details) for e in failures)


def test_mismatched_otp_token_and_sending_parameters(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    response = sms_login(client, otp_token, code, phone="13712345678")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Mismatched OTP token and OTP sending parameters",
    }


def test_mismatch_when_another_client_redeems(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": SMS_GRANT,
            "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
            "phone_number": "13612345678",
            "otp_token": otp_token,
            "otp": code,
        },
        headers=CLIENT_4,
    )
    assert response.get_json()["error_description"] == "Mismatched OTP token and OTP sending parameters"


def test_user_not_found_consumes_nothing(client, seeded, outbox):
    otp_token, code = sent_sms(client, outbox)
    response = sms_login(client, otp_token, code)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "User not found"}
    # the failing request spent nothing: the same code still signs up with auto_signup
    assert sms_login(client, otp_token, code, auto_signup=True).status_code == 200


def test_abnormal_user_status(client, seeded, outbox, services, user):
    services.users.update(user.sub, {"status": "locked"}, __import__("idp.context").context.RequestContext())
    otp_token, code = sent_sms(client, outbox)
    response = sms_login(client, otp_token, code)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Abnormal user status"}


def test_auth_source_not_associated(client, seeded, outbox, services, user):
    auth_sources.create(services, "sms", id="OTHER_SMS_SOURCE")
    otp_token, code = sent_sms(client, outbox)
    response = sms_login(client, otp_token, code, auth_source_id="OTHER_SMS_SOURCE")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_auth_source",
        "error_description": "Auth source and application not associated",
    }


# -- beyond the samples ---------------------------------------------------------------------


def test_code_is_single_use(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    assert sms_login(client, otp_token, code).status_code == 200
    again = sms_login(client, otp_token, code)
    assert again.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired otp_token"}


def test_wrong_client_secret_is_invalid_client(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    response = sms_login(client, otp_token, code, client_secret="nope")
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("missing", ["otp_token", "otp", "phone_number"])
def test_missing_parameters(client, seeded, outbox, user, missing):
    otp_token, code = sent_sms(client, outbox)
    body = {
        "grant_type": SMS_GRANT,
        "client_id": "TENANT_CLIENT_ID",
        "client_secret": "TENANT_CLIENT_SECRET",
        "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
        "phone_number": "13612345678",
        "otp_token": otp_token,
        "otp": code,
    }
    del body[missing]
    response = client.post("/oauth2/token", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_email_grant_uses_email_grant_type(client, seeded, outbox, user):
    otp_token, code = sent_sms(client, outbox)
    response = email_login(
        client, otp_token, code, email="MOCK_USERNAME@example.com", auth_source_id="MOCK_SMS_OTP_AUTH_SOURCE_ID"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_auth_source"  # an sms source cannot serve email
