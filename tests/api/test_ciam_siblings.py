"""Golden tests for the Tencent CIAM siblings of /otp/send: PATCH /userinfo, POST /signup,
POST /reset_user_password, POST /change_user_password — the vendor documents' sample requests,
success shapes and every error, in the OAuth-style ``{"error", "error_description"}``."""

from __future__ import annotations

import pytest

from idp.accounts.passwords import verify_password
from idp.context import RequestContext
from idp.oauth.tokens import Principal
from tests.conftest import basic
from tests.factories import MOCK_SMS_OTP_AUTH_SOURCE_ID, applications, users
from tests.helpers import TENANT, send_sms, sms_login

PHONE = "+8613612345678"
EMAIL = "MOCK_USERNAME@example.com"
STORED_EMAIL = EMAIL.lower()
OTHER_PHONE, OTHER_PHONE_RAW = "+8613812345678", "13812345678"


@pytest.fixture
def user(services):
    return users.create(
        services,
        "mock",
        with_password="MOCK_PASSWORD",
        with_verified_phone=PHONE,
        with_verified_email=EMAIL,
        name="Mock",
    )


def login(client, outbox, **extra) -> dict:
    """An OTP login (seed 000) as the seed user; the token set."""
    otp_token = send_sms(client).get_json()["otp_token"]
    response = sms_login(client, otp_token, outbox.last_code(PHONE), **extra)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def send(client, usage, headers=TENANT, **target) -> str:
    response = client.post("/otp/send", json={"usage": usage, **target}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["otp_token"]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def full_client(seeded):
    """An application that may ask for every scope, so userinfo answers show the profile."""
    applications.create(
        seeded,
        client_id="FULL_CLIENT_ID",
        client_secret="FULL_CLIENT_SECRET",
        redirect_uris=[],
        auth_sources=[MOCK_SMS_OTP_AUTH_SOURCE_ID],
        scopes=["openid", "profile", "email", "phone"],
    )
    return basic("FULL_CLIENT_ID", "FULL_CLIENT_SECRET")


def full_login(client, outbox, full_client) -> str:
    otp_token = send_sms(client, headers=full_client).get_json()["otp_token"]
    response = sms_login(
        client,
        otp_token,
        outbox.last_code(PHONE),
        client_id="FULL_CLIENT_ID",
        client_secret="FULL_CLIENT_SECRET",
        scope="openid profile email phone",
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


# -- PATCH /userinfo ------------------------------------------------------------------------


def test_patch_userinfo_profile(client, seeded, outbox, user, services, full_client):
    token = full_login(client, outbox, full_client)
    response = client.patch("/userinfo", json={"name": "MOCK_NAME", "locale": "zh-CN"}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["sub"] == user.sub and body["name"] == "MOCK_NAME" and body["locale"] == "zh-CN"
    assert body["phone_number"] == PHONE and body["email"] == STORED_EMAIL
    assert response.headers["Cache-Control"] == "no-store"
    # GET /userinfo (blueprints/oauth.py) still answers on the same URL
    assert client.get("/userinfo", headers=bearer(token)).get_json()["name"] == "MOCK_NAME"


def test_patch_userinfo_answers_what_the_scopes_release(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]  # scope "openid" only
    response = client.patch("/userinfo", json={"name": "MOCK_NAME"}, headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json() == {"sub": user.sub}


def test_patch_userinfo_phone_number_with_code(client, seeded, outbox, user, services, full_client):
    token = full_login(client, outbox, full_client)
    otp_token = send(client, "update_userinfo", headers=full_client, phone_number=OTHER_PHONE_RAW)
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={
            "phone_number": OTHER_PHONE_RAW,
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(OTHER_PHONE),
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["phone_number"] == OTHER_PHONE and body["phone_number_verified"] is True
    assert services.users.by_contact("sms", PHONE) is None


def test_patch_userinfo_email_with_code(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    otp_token = send(client, "update_userinfo", email="new@example.com")
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={
            "email": "new@example.com",
            "email_otp_token": otp_token,
            "email_otp": outbox.last_code("new@example.com"),
        },
    )
    assert response.status_code == 200, response.get_json()
    assert services.users.by_sub(user.sub).email == "new@example.com"


def test_patch_userinfo_phone_without_its_code(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]
    response = client.patch(
        "/userinfo", headers=bearer(token), json={"phone_number": OTHER_PHONE_RAW, "phone_number_otp_token": "x"}
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Missing 'phone_number_otp' in request.",
    }


def test_patch_userinfo_wrong_code_changes_nothing(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    otp_token = send(client, "update_userinfo", phone_number=OTHER_PHONE_RAW)
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={
            "name": "Changed",
            "phone_number": OTHER_PHONE_RAW,
            "phone_number_otp_token": otp_token,
            "phone_number_otp": wrong(outbox.last_code(OTHER_PHONE)),
        },
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired OTP"}
    stored = services.users.by_sub(user.sub)
    assert (stored.name, stored.phone_number) == ("Mock", PHONE)


def test_patch_userinfo_unknown_otp_token(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={"phone_number": OTHER_PHONE_RAW, "phone_number_otp_token": "nope", "phone_number_otp": "123456"},
    )
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired otp_token"}


def test_patch_userinfo_code_sent_for_login_is_a_mismatch(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]
    otp_token = send_sms(client, phone=OTHER_PHONE_RAW).get_json()["otp_token"]
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={
            "phone_number": OTHER_PHONE_RAW,
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(OTHER_PHONE),
        },
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Mismatched OTP token and OTP sending parameters",
    }


def test_patch_userinfo_phone_number_is_used(client, seeded, outbox, user, services):
    users.create(services, None, with_password=False, phone_number=OTHER_PHONE)
    token = login(client, outbox)["access_token"]
    otp_token = send(client, "update_userinfo", phone_number=OTHER_PHONE_RAW)
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={
            "phone_number": OTHER_PHONE_RAW,
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(OTHER_PHONE),
        },
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "phone_number_is_used"}


def test_patch_userinfo_malformed_phone(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={"phone_number": "12", "phone_number_otp_token": "x", "phone_number_otp": "1"},
    )
    assert response.get_json() == {"error": "malformed_phone_number"}


def test_patch_userinfo_username_is_used(client, seeded, outbox, user, services):
    users.create(services, "taken", with_password=False)
    token = login(client, outbox)["access_token"]
    response = client.patch("/userinfo", headers=bearer(token), json={"username": "taken"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "username_is_used"}


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"status": "disabled"}, "Unsupported attribute 'status'."),
        ({"email_verified": True}, "Unsupported attribute 'email_verified'."),
        ({"name": 5}, "Invalid 'name': Input should be a valid string."),
        ([], "The request body must be a JSON object."),
    ],
)
def test_patch_userinfo_bad_bodies(client, seeded, outbox, user, body, description):
    token = login(client, outbox)["access_token"]
    response = client.patch("/userinfo", headers=bearer(token), json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": description}


def test_patch_userinfo_invalid_locale(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]
    response = client.patch("/userinfo", headers=bearer(token), json={"locale": "not a locale"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic abc"])
def test_patch_userinfo_needs_a_valid_bearer_token(client, seeded, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.patch("/userinfo", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_patch_userinfo_needs_the_openid_scope(client, seeded, user, services):
    tenant = services.clients.by_client_id("TENANT_CLIENT_ID")
    token = services.tokens.issue(
        tenant, Principal(user=user, auth_time=0, amr=["pwd"]), RequestContext(), grant_type="password", scope="profile"
    )["access_token"]
    response = client.patch("/userinfo", json={"name": "x"}, headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="openid"'


def test_patch_userinfo_locked_user(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    services.users.update(user.sub, {"status": "locked"}, RequestContext())
    response = client.patch("/userinfo", headers=bearer(token), json={"name": "x"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "abnormal_user_status", "error_description": "Abnormal user status"}


def test_patch_userinfo_store_outage_is_503(own_redis, client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    otp_token = send(client, "update_userinfo", phone_number=OTHER_PHONE_RAW)
    own_redis.stop()  # a real outage
    response = client.patch(
        "/userinfo",
        headers=bearer(token),
        json={
            "phone_number": OTHER_PHONE_RAW,
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(),
        },
    )
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"
    services.db.session.expire_all()
    assert services.users.by_sub(user.sub).phone_number == PHONE  # nothing changed


# -- POST /signup ---------------------------------------------------------------------------


def test_signup_username_and_password(client, seeded, services):
    response = client.post("/signup", json={"username": "MOCK_USERNAME", "password": "MOCK_PASSWORD"}, headers=TENANT)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["preferred_username"] == "MOCK_USERNAME" and body["sub"]
    assert verify_password(services.users.by_sub(body["sub"]).password_hash, "MOCK_PASSWORD")


def test_signup_email_with_code_password_and_name(client, seeded, outbox, services):
    otp_token = send(client, "signup", email=EMAIL)
    response = client.post(
        "/signup",
        headers=TENANT,
        json={
            "email": EMAIL,
            "email_otp_token": otp_token,
            "email_otp": outbox.last_code(STORED_EMAIL),
            "password": "MOCK_PASSWORD",
            "name": "MOCK_NAME",
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["email"] == STORED_EMAIL and body["email_verified"] is True and body["name"] == "MOCK_NAME"


def test_signup_phone_with_code_no_password(client, seeded, outbox, services):
    otp_token = send(client, "signup", phone_number="13612345678")
    response = client.post(
        "/signup",
        headers=TENANT,
        json={
            "phone_number": "13612345678",
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(PHONE),
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["phone_number"] == PHONE and body["phone_number_verified"] is True
    assert services.users.by_sub(body["sub"]).password_hash is None


def test_signup_with_bare_otp_token_and_otp(client, seeded, outbox):
    otp_token = send(client, "signup", phone_number="13612345678")
    response = client.post(
        "/signup",
        headers=TENANT,
        json={"phone_number": "13612345678", "otp_token": otp_token, "otp": outbox.last_code(PHONE)},
    )
    assert response.status_code == 200, response.get_json()


def test_signup_public_client(client, seeded, outbox):
    spa = basic("SPA_CLIENT_ID", "")
    otp_token = send(client, "signup", headers=spa, phone_number="13612345678")
    response = client.post(
        "/signup",
        headers=spa,
        json={
            "phone_number": "13612345678",
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(PHONE),
        },
    )
    assert response.status_code == 200


def test_signup_wrong_code_creates_nobody(client, seeded, outbox, services):
    otp_token = send(client, "signup", phone_number="13612345678")
    response = client.post(
        "/signup",
        headers=TENANT,
        json={
            "phone_number": "13612345678",
            "phone_number_otp_token": otp_token,
            "phone_number_otp": wrong(outbox.last_code(PHONE)),
        },
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired OTP"}
    assert services.users.by_contact("sms", PHONE) is None


def test_signup_code_of_another_client_is_a_mismatch(client, seeded, outbox):
    from tests.helpers import CLIENT_4

    otp_token = send(client, "signup", headers=CLIENT_4, phone_number="13612345678")
    response = client.post(
        "/signup",
        headers=TENANT,
        json={
            "phone_number": "13612345678",
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(PHONE),
        },
    )
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Mismatched OTP token and OTP sending parameters",
    }


def test_signup_username_is_used(client, seeded, services):
    users.create(services, "MOCK_USERNAME", with_password=False)
    response = client.post("/signup", json={"username": "MOCK_USERNAME", "password": "MOCK_PASSWORD"}, headers=TENANT)
    assert response.status_code == 400
    assert response.get_json() == {"error": "username_is_used"}


def test_signup_email_is_used_after_the_send(client, seeded, outbox, services):
    otp_token = send(client, "signup", email=EMAIL)
    users.create(services, None, with_password=False, email=EMAIL)
    response = client.post(
        "/signup",
        headers=TENANT,
        json={"email": EMAIL, "email_otp_token": otp_token, "email_otp": outbox.last_code(STORED_EMAIL)},
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "email_is_used"}


def test_signup_password_policy(client, seeded):
    response = client.post("/signup", json={"username": "MOCK_USERNAME", "password": "short"}, headers=TENANT)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_password",
        "error_description": "password must have at least 8 characters",
    }


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, "Missing 'username' and 'password', or 'phone_number' or 'email'."),
        ({"username": "MOCK_USERNAME"}, "Missing 'username' and 'password', or 'phone_number' or 'email'."),
        ({"phone_number": "13612345678", "phone_number_otp_token": "x"}, "Missing 'phone_number_otp' in request."),
        (
            {"phone_number": "13612345678", "email": EMAIL, "otp_token": "x", "otp": "1"},
            "Missing 'phone_number_otp_token' in request.",
        ),
        (
            {"username": "a b", "password": "MOCK_PASSWORD"},
            "username must be 2-48 letters, digits or -_.:+@, starting with a letter or digit",
        ),
    ],
)
def test_signup_bad_requests(client, seeded, body, description):
    response = client.post("/signup", json=body, headers=TENANT)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": description}


def test_signup_needs_client_authentication(client, seeded):
    response = client.post(
        "/signup",
        json={"username": "MOCK_USERNAME", "password": "MOCK_PASSWORD"},
        headers=basic("TENANT_CLIENT_ID", "wrong"),
    )
    assert response.status_code == 401
    assert response.get_json() == {"error": "invalid_client", "error_description": "Client authentication failed."}


# -- POST /reset_user_password --------------------------------------------------------------


def test_reset_user_password_sample(client, seeded, outbox, user, services):
    tokens = login(client, outbox)
    otp_token = send(client, "reset_password", email=EMAIL)
    response = client.post(
        "/reset_user_password",
        headers=TENANT,
        json={
            "password": "MOCK_NEW_PASSWORD",
            "email": EMAIL,
            "email_otp": outbox.last_code(STORED_EMAIL),
            "email_otp_token": otp_token,
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {}
    assert verify_password(services.users.by_sub(user.sub).password_hash, "MOCK_NEW_PASSWORD")
    # every refresh token of the user is revoked
    refreshed = client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, headers=TENANT
    )
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"


def test_reset_user_password_by_phone(client, seeded, outbox, user, services):
    otp_token = send(client, "reset_password", phone_number="13612345678")
    response = client.post(
        "/reset_user_password",
        headers=TENANT,
        json={
            "password": "MOCK_NEW_PASSWORD",
            "phone_number": "13612345678",
            "phone_number_otp_token": otp_token,
            "phone_number_otp": outbox.last_code(PHONE),
        },
    )
    assert response.status_code == 200
    assert verify_password(services.users.by_sub(user.sub).password_hash, "MOCK_NEW_PASSWORD")


def test_reset_user_password_user_not_found(client, seeded, outbox):
    otp_token = send(client, "reset_password", email="nobody@example.com")
    response = client.post(
        "/reset_user_password",
        headers=TENANT,
        json={
            "password": "MOCK_NEW_PASSWORD",
            "email": "nobody@example.com",
            "email_otp": outbox.last_code("nobody@example.com"),
            "email_otp_token": otp_token,
        },
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "user_not_found"}


def test_reset_user_password_invalid_new_password(client, seeded, outbox, user):
    response = client.post(
        "/reset_user_password",
        headers=TENANT,
        json={"password": "short", "email": EMAIL, "email_otp": "123456", "email_otp_token": "x"},
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_new_password",
        "error_description": "password must have at least 8 characters",
    }


def test_reset_user_password_wrong_code(client, seeded, outbox, user, services):
    otp_token = send(client, "reset_password", email=EMAIL)
    response = client.post(
        "/reset_user_password",
        headers=TENANT,
        json={
            "password": "MOCK_NEW_PASSWORD",
            "email": EMAIL,
            "email_otp_token": otp_token,
            "email_otp": wrong(outbox.last_code(STORED_EMAIL)),
        },
    )
    assert response.get_json() == {"error": "invalid_grant", "error_description": "Unknown or expired OTP"}
    assert verify_password(services.users.by_sub(user.sub).password_hash, "MOCK_PASSWORD")


def test_reset_user_password_abnormal_status(client, seeded, outbox, user, services):
    services.users.update(user.sub, {"status": "disabled"}, RequestContext())
    otp_token = send(client, "reset_password", email=EMAIL)
    response = client.post(
        "/reset_user_password",
        headers=TENANT,
        json={
            "password": "MOCK_NEW_PASSWORD",
            "email": EMAIL,
            "email_otp_token": otp_token,
            "email_otp": outbox.last_code(STORED_EMAIL),
        },
    )
    assert response.get_json() == {"error": "abnormal_user_status", "error_description": "Abnormal user status"}


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"email": EMAIL, "email_otp": "1", "email_otp_token": "x"}, "Missing 'password' in request."),
        ({"password": "MOCK_NEW_PASSWORD"}, "Exactly one of 'phone_number' and 'email' is required."),
        ({"password": "MOCK_NEW_PASSWORD", "email": EMAIL, "email_otp": "1"}, "Missing 'email_otp_token' in request."),
    ],
)
def test_reset_user_password_bad_requests(client, seeded, body, description):
    response = client.post("/reset_user_password", json=body, headers=TENANT)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": description}


def test_reset_user_password_needs_client_authentication(client, seeded):
    response = client.post("/reset_user_password", json={"password": "MOCK_NEW_PASSWORD"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


# -- POST /change_user_password -------------------------------------------------------------


def change(client, token, old="MOCK_PASSWORD", new="MOCK_NEW_PASSWORD"):
    return client.post("/change_user_password", headers=bearer(token), json={"old_password": old, "new_password": new})


def test_change_user_password_sample(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    response = change(client, token)
    assert response.status_code == 200, response.get_json()
    assert verify_password(services.users.by_sub(user.sub).password_hash, "MOCK_NEW_PASSWORD")


@pytest.mark.parametrize(
    ("old", "new", "body"),
    [
        ("not it", "MOCK_NEW_PASSWORD", {"error": "wrong_old_password"}),
        ("MOCK_PASSWORD", "MOCK_PASSWORD", {"error": "duplicate_password"}),
        (
            "MOCK_PASSWORD",
            "short",
            {"error": "invalid_new_password", "error_description": "password must have at least 8 characters"},
        ),
    ],
)
def test_change_user_password_errors(client, seeded, outbox, user, services, old, new, body):
    token = login(client, outbox)["access_token"]
    response = change(client, token, old, new)
    assert response.status_code == 400
    assert response.get_json() == body
    assert verify_password(services.users.by_sub(user.sub).password_hash, "MOCK_PASSWORD")


def test_change_user_password_when_none_is_set(client, seeded, outbox, services):
    users.create(services, None, with_password=False, phone_number=PHONE)
    token = login(client, outbox)["access_token"]
    response = change(client, token)
    assert response.get_json() == {"error": "password_not_set", "error_description": "The user has no password."}


def test_change_user_password_abnormal_status(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    services.users.update(user.sub, {"status": "locked"}, RequestContext())
    assert change(client, token).get_json() == {
        "error": "abnormal_user_status",
        "error_description": "Abnormal user status",
    }


def test_change_user_password_missing_field(client, seeded, outbox, user):
    token = login(client, outbox)["access_token"]
    response = client.post("/change_user_password", headers=bearer(token), json={"old_password": "x"})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Missing 'new_password' in request.",
    }


def test_change_user_password_needs_a_bearer_token(client, seeded):
    response = client.post("/change_user_password", json={"old_password": "a", "new_password": "b"}, headers=TENANT)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
