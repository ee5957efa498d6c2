"""ZITADEL dialect (seed 003, ZITADEL auth API v1): ``/auth/v1/users/me`` auth factors and phone.

Golden test of seed 003's sample (Add OTP SMS), the error codes fixed for integrators where the
seed is silent (16 no bearer, 9 unverified contact, 6 second otp_sms, 412/9 locked user), TOTP with
codes computed by ``pyotp``, phone change with verification, and the factor driving MFA.
"""

from __future__ import annotations

import re

import pyotp
import pytest

from idp.context import RequestContext
from idp.dialects import zitadel
from idp.flows.login import Completed
from idp.flows.mfa import NeedsFactor
from idp.oauth.tokens import Principal
from tests.factories import MOCK_SMS_OTP_AUTH_SOURCE_ID, applications, users
from tests.helpers import send_sms, sms_login

PHONE = "+8613612345678"
NEW_PHONE, NEW_PHONE_RAW = "+8613812345678", "13812345678"
EMAIL = "mock@example.com"
BASE = "/auth/v1/users/me"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ERROR_DETAIL = "type.googleapis.com/zitadel.v1.ErrorDetail"


@pytest.fixture
def user(services):
    return users.create(
        services, "mock", with_password="MOCK_PASSWORD", with_verified_phone=PHONE, with_verified_email=EMAIL
    )


def token_for(services, user, scope="openid", client_id="TENANT_CLIENT_ID") -> str:
    client = services.clients.by_client_id(client_id)
    principal = Principal(user=user, auth_time=0, amr=["pwd"])
    issued = services.tokens.issue(client, principal, RequestContext(), grant_type="password", scope=scope)
    return issued["access_token"]


@pytest.fixture
def auth(seeded, user) -> dict:
    return {"Authorization": f"Bearer {token_for(seeded, user)}"}


def assert_details(details: dict, sequence: int, services) -> None:
    assert set(details) == {"sequence", "creationDate", "changeDate", "resourceOwner"}
    assert details["sequence"] == str(sequence)
    assert ISO_MS.fullmatch(details["creationDate"]) and ISO_MS.fullmatch(details["changeDate"])
    assert details["resourceOwner"] == zitadel.resource_owner(services.settings.issuer)
    assert details["resourceOwner"].isdigit()


def assert_error(response, status: int, code: int, error_id: str | None = None) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["details"][0]["@type"] == ERROR_DETAIL
    if error_id:
        assert body["details"][0]["id"] == error_id
    assert response.headers["Cache-Control"] == "no-store"
    return body


def search(client, auth) -> dict:
    response = client.post(f"{BASE}/auth_factors/_search", json={}, headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- seed 003: Add OTP SMS -----------------------------------------------------------------------
def test_seed_003_add_otp_sms_golden(client, seeded, outbox, user):
    """The seed's request exactly (a real OTP-grant token); its success shape exactly."""
    otp_token = send_sms(client).get_json()["otp_token"]
    token = sms_login(client, otp_token, outbox.last_code(PHONE)).get_json()["access_token"]
    response = client.post(
        f"{BASE}/auth_factors/otp_sms",
        data="{}",
        headers={"Content-Type": "application/json", "Accept": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == ["details"]
    assert_details(body["details"], 2, seeded)  # a new user's first change: "2", as in the seed
    assert body["details"]["creationDate"] == body["details"]["changeDate"]
    assert response.headers["Cache-Control"] == "no-store"


def test_add_otp_sms_without_verified_phone_is_failed_precondition(client, seeded, services):
    user = users.create(services, "nophone", with_password=False, phone_number=NEW_PHONE, phone_verified=False)
    auth = {"Authorization": f"Bearer {token_for(services, user)}"}
    assert_error(
        client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth), 400, 9, "factor.contact_not_verified"
    )
    assert search(client, auth)["result"] == []


def test_add_otp_email_without_verified_email_is_failed_precondition(client, seeded, services):
    user = users.create(services, "noemail", with_password=False, email="x@example.com", email_verified=False)
    auth = {"Authorization": f"Bearer {token_for(services, user)}"}
    assert_error(client.post(f"{BASE}/auth_factors/otp_email", json={}, headers=auth), 400, 9)


def test_second_otp_sms_is_already_exists(client, auth):
    assert client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth).status_code == 200
    body = assert_error(client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth), 409, 6, "factor.exists")
    assert body["message"].endswith("(factor.exists)")


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic abc", "Bearer "])
def test_no_or_bad_bearer_is_unauthenticated(client, seeded, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (
        ("post", "/auth_factors/otp_sms"),
        ("post", "/auth_factors/_search"),
        ("get", "/phone"),
        ("delete", "/auth_factors/otp"),
    ):
        response = getattr(client, method)(f"{BASE}{path}", json={}, headers=headers)
        assert_error(response, 401, 16, "bearer.invalid_token")
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_token_without_openid_is_permission_denied(client, seeded, user):
    auth = {"Authorization": f"Bearer {token_for(seeded, user, scope='profile')}"}
    assert_error(
        client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth), 403, 7, "bearer.insufficient_scope"
    )


def test_locked_user_is_412_failed_precondition(client, auth, services, user):
    services.users.update(user.sub, {"status": "locked"}, RequestContext())
    assert_error(client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth), 412, 9, "account.abnormal_status")


# -- list and remove -------------------------------------------------------------------------------
def test_search_lists_then_remove_empties(client, auth, seeded):
    empty = search(client, auth)
    assert empty["result"] == [] and empty["details"]["totalResult"] == "0"
    assert ISO_MS.fullmatch(empty["details"]["viewTimestamp"])
    client.post(f"{BASE}/auth_factors/otp_sms", headers=auth)  # no body at all: read as {}
    client.post(f"{BASE}/auth_factors/otp_email", json={}, headers=auth)
    listed = search(client, auth)
    assert listed["details"]["totalResult"] == "2"
    assert listed["details"]["processedSequence"] == "3"
    assert listed["result"] == [
        {"otpSms": {}, "state": "AUTH_FACTOR_STATE_READY"},
        {"otpEmail": {}, "state": "AUTH_FACTOR_STATE_READY"},
    ]

    response = client.delete(f"{BASE}/auth_factors/otp_sms", headers=auth)
    assert response.status_code == 200
    assert_details(response.get_json()["details"], 4, seeded)
    response = client.delete(f"{BASE}/auth_factors/otp_email", headers=auth)
    assert_details(response.get_json()["details"], 5, seeded)
    listed = search(client, auth)
    assert listed["result"] == [] and listed["details"]["totalResult"] == "0"


def test_remove_missing_factor_is_not_found(client, auth):
    assert_error(client.delete(f"{BASE}/auth_factors/otp_sms", headers=auth), 404, 5, "factor.not_found")


# -- TOTP ------------------------------------------------------------------------------------------
def test_totp_add_verify_remove(client, auth, seeded):
    response = client.post(f"{BASE}/auth_factors/otp", json={}, headers=auth)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"url", "secret", "details"}
    assert body["url"].startswith("otpauth://totp/") and f"secret={body['secret']}" in body["url"]
    assert_details(body["details"], 2, seeded)
    assert search(client, auth)["result"] == [{"otp": {}, "state": "AUTH_FACTOR_STATE_NOT_READY"}]

    totp = pyotp.TOTP(body["secret"])
    wrong = "000000" if totp.now() != "000000" else "111111"
    assert_error(
        client.post(f"{BASE}/auth_factors/otp/_verify", json={"code": wrong}, headers=auth), 400, 3, "totp.wrong_code"
    )
    assert_error(client.post(f"{BASE}/auth_factors/otp/_verify", json={}, headers=auth), 400, 3, "request.invalid")
    response = client.post(f"{BASE}/auth_factors/otp/_verify", json={"code": totp.now()}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert_details(response.get_json()["details"], 3, seeded)
    assert search(client, auth)["result"] == [{"otp": {}, "state": "AUTH_FACTOR_STATE_READY"}]

    # a ready TOTP cannot be added again
    assert_error(client.post(f"{BASE}/auth_factors/otp", json={}, headers=auth), 409, 6)
    response = client.delete(f"{BASE}/auth_factors/otp", headers=auth)
    assert response.status_code == 200
    assert_details(response.get_json()["details"], 4, seeded)
    assert search(client, auth)["result"] == []


def test_totp_verify_without_setup_is_not_found(client, auth):
    assert_error(
        client.post(f"{BASE}/auth_factors/otp/_verify", json={"code": "123456"}, headers=auth),
        404,
        5,
        "factor.not_found",
    )


# -- phone -----------------------------------------------------------------------------------------
def get_phone(client, auth) -> dict:
    response = client.get(f"{BASE}/phone", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.limits(target_interval=0)
def test_phone_get_set_resend_verify(client, auth, seeded, outbox, user):
    body = get_phone(client, auth)
    assert body["phone"] == {"phone": PHONE, "isPhoneVerified": True}
    assert_details(body["details"], 1, seeded)

    response = client.put(f"{BASE}/phone", json={"phone": NEW_PHONE_RAW}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert_details(response.get_json()["details"], 2, seeded)
    sent = outbox.records()[0]
    assert (sent["to"], sent["usage"]) == (NEW_PHONE, "update_userinfo")
    # the new number shows unverified; the verified one stays in use until the code proves it
    assert get_phone(client, auth)["phone"] == {"phone": NEW_PHONE, "isPhoneVerified": False}
    assert seeded.users.by_sub(user.sub).phone_number == PHONE

    response = client.post(f"{BASE}/phone/_resend_verification", json={}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert outbox.records()[0]["to"] == NEW_PHONE
    assert outbox.records()[0]["code"] == sent["code"]  # the same live code (one code in flight per number and usage)

    wrong = "000000" if sent["code"] != "000000" else "111111"
    assert_error(client.post(f"{BASE}/phone/_verify", json={"code": wrong}, headers=auth), 400, 3, "otp.wrong_code")
    response = client.post(f"{BASE}/phone/_verify", json={"code": sent["code"]}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert_details(response.get_json()["details"], 3, seeded)
    assert get_phone(client, auth)["phone"] == {"phone": NEW_PHONE, "isPhoneVerified": True}
    # nothing pending any more
    assert_error(
        client.post(f"{BASE}/phone/_verify", json={"code": sent["code"]}, headers=auth), 400, 9, "phone.not_pending"
    )
    assert_error(client.post(f"{BASE}/phone/_resend_verification", json={}, headers=auth), 400, 9, "phone.not_pending")


def test_phone_then_otp_sms_needs_verification(client, seeded, services, outbox):
    user = users.create(services, "fresh", with_password=False)
    auth = {"Authorization": f"Bearer {token_for(services, user)}"}
    assert get_phone(client, auth)["phone"] == {}
    assert client.put(f"{BASE}/phone", json={"phone": NEW_PHONE}, headers=auth).status_code == 200
    assert_error(client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth), 400, 9)
    code = outbox.last_code(NEW_PHONE)
    assert client.post(f"{BASE}/phone/_verify", json={"code": code}, headers=auth).status_code == 200
    assert client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth).status_code == 200


def test_set_phone_errors(client, auth):
    assert_error(
        client.put(f"{BASE}/phone", json={"phone": "not a number"}, headers=auth), 400, 3, "contact.malformed_phone"
    )
    assert_error(client.put(f"{BASE}/phone", json={}, headers=auth), 400, 3, "request.invalid")
    assert_error(client.put(f"{BASE}/phone", json={"phone": PHONE}, headers=auth), 400, 9, "phone.not_changed")


def test_resend_within_interval_is_resource_exhausted(client, auth):
    assert client.put(f"{BASE}/phone", json={"phone": NEW_PHONE}, headers=auth).status_code == 200
    response = client.post(f"{BASE}/phone/_resend_verification", headers=auth)
    assert_error(response, 429, 8, "otp.rate_limited")
    assert int(response.headers["Retry-After"]) > 0


def test_verify_taken_number_is_already_exists(client, auth, services, outbox):
    users.create(services, "owner", with_password=False, with_verified_phone=NEW_PHONE)
    assert client.put(f"{BASE}/phone", json={"phone": NEW_PHONE}, headers=auth).status_code == 200
    response = client.post(f"{BASE}/phone/_verify", json={"code": outbox.last_code(NEW_PHONE)}, headers=auth)
    assert_error(response, 409, 6, "account.phone_taken")


def test_remove_phone_removes_otp_sms(client, auth, seeded, user):
    assert client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth).status_code == 200
    response = client.delete(f"{BASE}/phone", headers=auth)
    assert response.status_code == 200, response.get_json()
    assert_details(response.get_json()["details"], 3, seeded)
    assert get_phone(client, auth)["phone"] == {}
    assert search(client, auth)["result"] == []
    assert_error(client.delete(f"{BASE}/phone", headers=auth), 404, 5, "phone.not_found")


# -- the factor drives MFA at the next login ---------------------------------------------------------
def test_added_otp_sms_drives_mfa(client, auth, seeded, user):
    ctx = RequestContext(ip="127.0.0.1")
    app_ = applications.create(
        seeded,
        client_id="MFA_OPTIONAL_ID",
        client_secret="MFA_OPTIONAL_SECRET",
        auth_sources=[MOCK_SMS_OTP_AUTH_SOURCE_ID],
        scopes=["openid"],
        mfa="optional",
    )
    first = seeded.mfa.after_first_factor(app_, ctx, Completed(user, ["pwd"], 0))
    assert isinstance(first, Completed)  # nothing enrolled yet, policy optional
    assert client.post(f"{BASE}/auth_factors/otp_sms", json={}, headers=auth).status_code == 200
    result = seeded.mfa.after_first_factor(app_, ctx, Completed(seeded.users.by_sub(user.sub), ["pwd"], 0))
    assert isinstance(result, NeedsFactor)
    assert "otp_sms" in result.factors
    assert result.state_token


# -- outage --------------------------------------------------------------------------------------------
def test_outage_is_unavailable(own_redis, client, auth):
    own_redis.stop()
    assert_error(client.get(f"{BASE}/phone", headers=auth), 503, 14, "store.unavailable")
