"""CloudBase dialect (seed 002, CloudBase "User Login API"): the seed's three sign-in samples as
golden tests, the verification round trip, sign-up, reset, the token endpoint, user/me,
captchas, errors and X-Request-Id. Real Redis, real database, the dev outbox."""

from __future__ import annotations

import uuid

import pytest

from idp.context import RequestContext
from idp.crypto import hash_secret
from idp.dialects import cloudbase
from idp.errors import IdpError, Kind
from idp.flows.verification import VERIFICATION_TOKEN_TTL
from idp.store import Keys
from tests.conftest import basic
from tests.factories import applications, auth_sources, users

CLIENT_ID, SECRET = "cloudbase-app", "cloudbase-secret"
APP = basic(CLIENT_ID, SECRET)
PUBLIC_ID = "cloudbase-native"
PUBLIC = basic(PUBLIC_ID)
NO_PASSWORD_ID, NO_PASSWORD_SECRET = "codes-only-app", "codes-only-secret"
PASSWORD = "example password"  # seed 002's sample password
PHONE, EMAIL = "+8613612345678", "zhangsan@example.com"
TOKEN_KEYS = ["token_type", "access_token", "refresh_token", "expires_in", "sub"]
ERROR_KEYS = ["error", "error_code", "error_description"]


@pytest.fixture
def apps(services):
    base = {
        "redirect_uris": ["https://app.example.com/cb"],
        "auth_sources": auth_sources.both(services),
        "scopes": ["openid", "profile"],
    }
    applications.create(services, client_id=CLIENT_ID, client_secret=SECRET, name="CloudBase app", **base)
    applications.create(services, "native", client_id=PUBLIC_ID, name="native", auto_signup=True, **base)
    applications.create(
        services,
        client_id=NO_PASSWORD_ID,
        client_secret=NO_PASSWORD_SECRET,
        name="codes only",
        login_methods=["sms_otp", "email_otp"],
        **base,
    )
    return services


@pytest.fixture
def user(apps):
    return users.create(
        apps, "zhangsan", with_password=PASSWORD, with_verified_phone=PHONE, with_verified_email=EMAIL, name="Zhang San"
    )


def post(client, path, body, headers=None, **extra):
    return client.post(f"/auth/v1{path}", json=body, headers={**(headers or APP), **extra})


def verification_token(client, outbox, headers=None, **contact):
    sent = post(client, "/verification", {"target": "ANY", **contact}, headers)
    assert sent.status_code == 200, sent.get_json()
    code = outbox.last_code()
    verified = post(
        client,
        "/verification/verify",
        {"verification_id": sent.get_json()["verification_id"], "verification_code": code},
        headers,
    )
    assert verified.status_code == 200, verified.get_json()
    return verified.get_json()["verification_token"]


def assert_token_response(response):
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == TOKEN_KEYS  # seed 002's fields, in its order
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert uuid.UUID(response.headers["X-Request-Id"])
    return body


def assert_error(response, status, error, code):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert list(body) == ERROR_KEYS
    assert (body["error"], body["error_code"]) == (error, code)
    assert response.headers["X-Request-Id"]
    return body


# -- golden: seed 002's three sign-in samples -------------------------------------------------
def test_seed_sample_username_password(client, user):
    body = assert_token_response(post(client, "/signin", {"username": "zhangsan", "password": "example password"}))
    assert body["sub"] == user.sub


def test_seed_sample_verification_token_by_sms(client, user, outbox):
    token = verification_token(client, outbox, phone_number="+86 13612345678")
    body = assert_token_response(post(client, "/signin", {"verification_token": token}))
    assert body["sub"] == user.sub


def test_seed_sample_verification_token_by_email(client, user, outbox):
    token = verification_token(client, outbox, email=EMAIL)
    body = assert_token_response(post(client, "/signin", {"verification_token": token}))
    assert body["sub"] == user.sub


def test_access_token_works_for_user_me(client, user):
    token = assert_token_response(post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}))
    me = client.get("/auth/v1/user/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.get_json() == {
        "sub": user.sub,
        "name": "Zhang San",
        "username": "zhangsan",
        "email": EMAIL,
        "email_verified": True,
        "phone_number": "+86 13612345678",
    }
    assert me.headers["X-Request-Id"]


def test_user_me_without_bearer_is_401(client, apps):
    assert_error(client.get("/auth/v1/user/me"), 401, "unauthenticated", 16)


# -- sign-in refusals -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"username": "zhangsan", "password": PASSWORD, "verification_token": "x" * 20},
        {},
        {"username": "zhangsan"},
        {"password": PASSWORD},
    ],
)
def test_both_modes_or_neither_is_invalid_argument(client, user, body):
    assert_error(post(client, "/signin", body), 400, "invalid_argument", 3)


@pytest.mark.parametrize("username", ["z", "z" * 49, "zhang san", "zhang#san", "-zhangsan", "_zhangsan", "张三"])
def test_username_rules(client, user, username):
    assert_error(post(client, "/signin", {"username": username, "password": PASSWORD}), 400, "invalid_argument", 3)


@pytest.mark.parametrize("username", ["ab", "a" * 48, "Zhang.San-1_:+@x"])
def test_usernames_the_rules_allow_reach_the_password_check(client, user, username):
    assert_error(
        post(client, "/signin", {"username": username, "password": PASSWORD}), 400, "invalid_username_or_password", 16
    )


def test_wrong_password(client, user):
    body = assert_error(
        post(client, "/signin", {"username": "zhangsan", "password": "wrong password!"}),
        400,
        "invalid_username_or_password",
        16,
    )
    assert body["error_description"] == "Incorrect username or password."


def test_user_without_password(client, apps):
    users.create(apps, "codesonly", with_password=False, phone_number="+8613712345678")
    body = assert_error(
        post(client, "/signin", {"username": "codesonly", "password": PASSWORD}), 400, "password_not_set", 9
    )
    assert body["error_description"] == "The user has not set a password."


def test_locked_user_is_invalid_status(client, user, services):
    services.users.update(user.sub, {"status": "locked"}, RequestContext(ip="127.0.0.1"))
    assert_error(post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}), 400, "invalid_status", 9)


def test_locked_user_by_verification_token_is_invalid_status(client, user, services, outbox):
    token = verification_token(client, outbox, phone_number=PHONE)
    services.users.update(user.sub, {"status": "locked"}, RequestContext(ip="127.0.0.1"))
    assert_error(post(client, "/signin", {"verification_token": token}), 400, "invalid_status", 9)


def test_username_login_disabled_is_501(client, user):
    response = post(
        client, "/signin", {"username": "zhangsan", "password": PASSWORD}, basic(NO_PASSWORD_ID, NO_PASSWORD_SECRET)
    )
    assert_error(response, 501, "unimplemented", 12)


def test_wrong_client_secret_is_401(client, user):
    response = post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}, basic(CLIENT_ID, "nope"))
    assert_error(response, 401, "unauthenticated", 16)


def test_captcha_header_is_accepted(client, user, services):
    """The brute-force policy asks for it; today a solved captcha rides along harmlessly."""
    response = post(
        client, "/signin", {"username": "zhangsan", "password": PASSWORD}, **{"x-captcha-token": "anything"}
    )
    assert_token_response(response)


# -- verification -----------------------------------------------------------------------------
def test_verification_token_is_single_use(client, user, outbox):
    token = verification_token(client, outbox, phone_number=PHONE)
    assert_token_response(post(client, "/signin", {"verification_token": token}))
    assert_error(post(client, "/signin", {"verification_token": token}), 400, "invalid_argument", 3)


def test_unknown_verification_token(client, user):
    assert_error(post(client, "/signin", {"verification_token": "not-a-token"}), 400, "invalid_argument", 3)


def test_verification_token_lives_600_seconds_hashed(client, user, outbox, services):
    token = verification_token(client, outbox, phone_number=PHONE)
    key = Keys.verification_token(hash_secret(token))
    assert 590 <= services.redis.ttl(key) <= VERIFICATION_TOKEN_TTL == 600
    assert not any(token in k for k in list(services.redis.scan_iter("gh:*")))  # only its hash is a key


def test_verify_answers_600_and_code_is_single_use(client, user, outbox):
    sent = post(client, "/verification", {"phone_number": "+86 13612345678", "target": "ANY"}).get_json()
    code = outbox.last_code()
    first = post(
        client, "/verification/verify", {"verification_id": sent["verification_id"], "verification_code": code}
    )
    assert list(first.get_json()) == ["verification_token", "expires_in"]
    assert first.get_json()["expires_in"] == 600
    again = post(
        client, "/verification/verify", {"verification_id": sent["verification_id"], "verification_code": code}
    )
    assert_error(again, 400, "not_found", 5)


def test_wrong_code_is_invalid_verification_code(client, user, outbox):
    sent = post(client, "/verification", {"phone_number": PHONE}).get_json()
    code = outbox.last_code()
    wrong = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
    response = post(
        client, "/verification/verify", {"verification_id": sent["verification_id"], "verification_code": wrong}
    )
    assert_error(response, 400, "invalid_verification_code", 3)


def test_verification_id_of_another_app_is_unknown(client, user, outbox):
    sent = post(client, "/verification", {"phone_number": PHONE}).get_json()
    response = post(
        client,
        "/verification/verify",
        {"verification_id": sent["verification_id"], "verification_code": outbox.last_code()},
        PUBLIC,
    )
    assert_error(response, 400, "not_found", 5)


def test_verification_token_of_another_app_is_refused(client, user, outbox):
    token = verification_token(client, outbox, phone_number=PHONE)
    assert_error(post(client, "/signin", {"verification_token": token}, PUBLIC), 400, "invalid_argument", 3)
    assert_token_response(post(client, "/signin", {"verification_token": token}))  # not spent by the refusal


@pytest.mark.parametrize(
    ("target", "contact", "status", "is_user"),
    [
        ("ANY", PHONE, 200, True),
        ("ANY", "+8613712345678", 200, False),
        ("USER", PHONE, 200, True),
        ("USER", "+8613712345678", 404, None),
        ("NOT_USER", "+8613712345678", 200, False),
        ("NOT_USER", PHONE, 409, None),
    ],
)
def test_target_and_is_user(client, user, target, contact, status, is_user):
    response = post(client, "/verification", {"phone_number": contact, "target": target})
    assert response.status_code == status, response.get_json()
    if status == 200:
        body = response.get_json()
        assert list(body) == ["verification_id", "expires_in", "is_user"]
        assert body["is_user"] is is_user
    else:
        assert response.get_json()["error"] == {404: "not_found", 409: "already_exists"}[status]


@pytest.mark.parametrize("phone", ["+86 13612345678", "+8613612345678", "13612345678"])
def test_phone_forms(client, user, outbox, phone):
    response = post(client, "/verification", {"phone_number": phone})
    assert response.status_code == 200
    assert outbox.records()[0]["to"] == PHONE


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"phone_number": PHONE, "email": EMAIL},
        {"phone_number": "12"},
        {"email": "not-an-email"},
        {"phone_number": PHONE, "target": "SOME"},
        {"phone_number": PHONE, "usage": "LOGIN"},
    ],
)
def test_bad_verification_requests(client, user, body):
    assert_error(post(client, "/verification", body), 400, "invalid_argument", 3)


def test_send_interval_is_429_with_retry_after(client, user):
    assert post(client, "/verification", {"phone_number": PHONE, "usage": "PASSWORD_RESET"}).status_code == 200
    response = post(client, "/verification", {"phone_number": PHONE, "usage": "SIGN_IN"})
    assert_error(response, 429, "resource_exhausted", 8)
    assert int(response.headers["Retry-After"]) > 0


def test_unregistered_contact_without_auto_signup_is_not_found(client, apps, outbox):
    token = verification_token(client, outbox, phone_number="+8613712345678")
    assert_error(post(client, "/signin", {"verification_token": token}), 404, "not_found", 5)


def test_unregistered_contact_with_auto_signup_is_created(client, apps, outbox, services):
    token = verification_token(client, outbox, PUBLIC, phone_number="+8613712345678")
    body = assert_token_response(post(client, "/signin", {"verification_token": token}, PUBLIC))
    created = services.users.by_sub(body["sub"])
    assert created.phone_number == "+8613712345678" and created.phone_verified


# -- sign-up and reset ----------------------------------------------------------------------------
def test_signup_with_verification_token(client, apps, outbox, services):
    sent = post(client, "/verification", {"email": "new@example.com", "target": "NOT_USER", "usage": "REGISTER"})
    assert sent.get_json()["is_user"] is False
    verified = post(
        client,
        "/verification/verify",
        {"verification_id": sent.get_json()["verification_id"], "verification_code": outbox.last_code()},
    )
    token = verified.get_json()["verification_token"]
    body = assert_token_response(
        post(
            client,
            "/signup",
            {
                "email": "new@example.com",
                "verification_token": token,
                "username": "newbie",
                "password": "a fine passphrase",
                "name": "New Person",
            },
        )
    )
    created = services.users.by_sub(body["sub"])
    assert (created.email, created.email_verified, created.username, created.name) == (
        "new@example.com",
        True,
        "newbie",
        "New Person",
    )
    assert_token_response(post(client, "/signin", {"username": "newbie", "password": "a fine passphrase"}))
    assert_error(post(client, "/signup", {"verification_token": token}), 400, "invalid_argument", 3)


def test_signup_refusals_spend_nothing(client, user, outbox):
    token = verification_token(client, outbox, email="new@example.com")
    assert_error(
        post(client, "/signup", {"verification_token": token, "username": "zhangsan"}), 409, "already_exists", 6
    )
    assert_error(
        post(client, "/signup", {"verification_token": token, "password": "short"}), 400, "invalid_password", 3
    )
    assert_error(
        post(client, "/signup", {"verification_token": token, "email": "other@example.com"}), 400, "invalid_argument", 3
    )
    assert_token_response(post(client, "/signup", {"verification_token": token}))


def test_signup_for_a_registered_contact_is_already_exists(client, user, outbox):
    token = verification_token(client, outbox, phone_number=PHONE)
    assert_error(post(client, "/signup", {"verification_token": token}), 409, "already_exists", 6)


def test_reset_password(client, user, outbox):
    old = assert_token_response(post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}))
    sent = post(client, "/verification", {"phone_number": PHONE, "target": "USER", "usage": "PASSWORD_RESET"})
    verified = post(
        client,
        "/verification/verify",
        {"verification_id": sent.get_json()["verification_id"], "verification_code": outbox.last_code()},
    )
    token = verified.get_json()["verification_token"]
    response = post(
        client,
        "/reset",
        {"phone_number": "+86 13612345678", "new_password": "brand new secret", "verification_token": token},
    )
    assert response.status_code == 200 and response.get_json() == {}
    assert_error(
        post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}), 400, "invalid_username_or_password", 16
    )
    assert_token_response(post(client, "/signin", {"username": "zhangsan", "password": "brand new secret"}))
    # the old refresh token was revoked with the reset
    refreshed = post(client, "/token", {"grant_type": "refresh_token", "refresh_token": old["refresh_token"]})
    assert refreshed.get_json()["error"] == "invalid_grant"
    assert_error(
        post(client, "/reset", {"new_password": "another secret!", "verification_token": token}),
        400,
        "invalid_argument",
        3,
    )


def test_reset_with_a_signup_token_is_refused(client, apps, outbox):
    token = verification_token(client, outbox, email="new@example.com", usage="REGISTER")
    assert_error(
        post(client, "/reset", {"new_password": "brand new secret", "verification_token": token}),
        400,
        "invalid_argument",
        3,
    )


# -- /token ------------------------------------------------------------------------------------
def test_refresh_rotates_and_reuse_revokes_the_family(client, user):
    first = assert_token_response(post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}))
    second = post(client, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.get_json()
    body = second.get_json()
    assert list(body)[:5] == TOKEN_KEYS and body["sub"] == user.sub
    assert body["refresh_token"] != first["refresh_token"]
    reuse = post(client, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert_error(reuse, 400, "invalid_grant", 3)
    # the family is gone: the rotated successor no longer works either
    after = post(client, "/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert_error(after, 400, "invalid_grant", 3)


def test_refresh_for_a_public_client(client, apps, outbox):
    users.create(apps, None, with_password=False, phone_number="+8613712345678")
    token = verification_token(client, outbox, PUBLIC, phone_number="+8613712345678")
    first = assert_token_response(post(client, "/signin", {"verification_token": token}, PUBLIC))
    refreshed = post(client, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, PUBLIC)
    assert refreshed.status_code == 200, refreshed.get_json()


def test_password_grant(client, user):
    response = post(client, "/token", {"grant_type": "password", "username": "zhangsan", "password": PASSWORD})
    assert assert_token_response(response)["sub"] == user.sub
    assert_error(
        post(client, "/token", {"grant_type": "password", "username": "zhangsan", "password": "nope!"}),
        400,
        "invalid_username_or_password",
        16,
    )


def test_client_credentials_grant(client, services):
    applications.create(services, "m2m", client_id="m2m-app", client_secret="m2m-secret", scopes=["admin"])
    response = post(client, "/token", {"grant_type": "client_credentials"}, basic("m2m-app", "m2m-secret"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["sub"] == "m2m-app" and "refresh_token" not in body


def test_authorization_code_grant(client, services, user):
    from tests.oidc.test_authorize import REDIRECT, get_code, make_app

    client_id, secret = make_app(services, scopes=["openid", "profile"])
    code = get_code(client, services, client_id, user)
    response = post(
        client,
        "/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        basic(client_id, secret),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body)[:5] == TOKEN_KEYS and body["sub"] == user.sub and body["id_token"]


def test_authorization_code_grant_errors_are_oauth_errors(client, user):
    response = post(
        client,
        "/token",
        {"grant_type": "authorization_code", "code": "nope", "redirect_uri": "https://app.example.com/cb"},
    )
    assert_error(response, 400, "invalid_grant", 3)


def test_unknown_grant_type_is_invalid_argument(client, user):
    assert_error(post(client, "/token", {"grant_type": "implicit"}), 400, "invalid_argument", 3)


# -- captcha -----------------------------------------------------------------------------------
def test_captcha_round_trip(client, apps, services):
    data = post(client, "/captcha/data", {})
    assert data.status_code == 200
    body = data.get_json()
    assert list(body) == ["token", "data", "expires_in"]
    assert body["data"].startswith("data:image/png;base64,") and body["expires_in"] == 300
    answer = "C4TK9"
    solved = post(client, "/captcha/data/verify", {"token": body["token"], "key": answer.lower()})
    assert solved.status_code == 200, solved.get_json()
    captcha_token = solved.get_json()["captcha_token"]
    ctx = RequestContext(ip="127.0.0.1", client_id=CLIENT_ID)
    assert services.captcha.redeem(captcha_token, ctx) is True
    assert services.captcha.redeem(captcha_token, ctx) is False


def test_captcha_wrong_answer_burns_the_challenge(client, apps, services):
    body = post(client, "/captcha/data", {}).get_json()
    answer = "C4TK9"
    assert_error(
        post(client, "/captcha/data/verify", {"token": body["token"], "key": "WRONG"}), 400, "captcha_invalid", 3
    )
    assert_error(
        post(client, "/captcha/data/verify", {"token": body["token"], "key": answer}), 400, "captcha_invalid", 3
    )


@pytest.fixture
def captcha_answers():
    """The image holds the answer; the tests know it by fixing the draw."""
    return lambda: "C4TK9"


# -- the error table -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "kind", "expected"),
    [
        ("login.captcha_required", Kind.FAILED_PRECONDITION, (400, "captcha_required", 9)),
        ("password.not_set", Kind.FAILED_PRECONDITION, (400, "password_not_set", 9)),
        ("account.locked", Kind.USER_STATUS, (400, "invalid_status", 9)),
        ("account.abnormal_status", Kind.USER_STATUS, (400, "invalid_status", 9)),
        ("login.method_disabled", Kind.FORBIDDEN, (501, "unimplemented", 12)),
        ("otp.delivery_failed", Kind.DELIVERY_FAILED, (503, "unavailable", 14)),
        ("store.unavailable", Kind.UNAVAILABLE, (503, "unavailable", 14)),
        ("something.new", Kind.CONFLICT, (409, "already_exists", 6)),
    ],
)
def test_error_table(code, kind, expected):
    status, body, _ = cloudbase.render_error(IdpError(code, kind, "message"))
    assert (status, body["error"], body["error_code"]) == expected
    assert list(body) == ERROR_KEYS


def test_rate_limit_carries_retry_after():
    status, body, headers = cloudbase.render_error(
        IdpError("otp.rate_limited", Kind.RATE_LIMITED, "slow down", {"retry_after": 27})
    )
    assert (status, body["error"], body["error_code"], headers["Retry-After"]) == (429, "resource_exhausted", 8, "27")


def test_application_requiring_mfa_answers_two_factor_required(client, services, user):
    applications.create(services, client_id="mfa-app", client_secret="mfa-secret", mfa="required", scopes=["openid"])
    response = post(client, "/signin", {"username": "zhangsan", "password": PASSWORD}, basic("mfa-app", "mfa-secret"))
    assert_error(response, 400, "two_factor_required", 9)


def test_channel_without_auth_source_is_501(client, services, user):
    applications.create(services, client_id="bare-app", client_secret="bare-secret", scopes=["openid"])
    response = post(client, "/verification", {"email": EMAIL}, basic("bare-app", "bare-secret"))
    assert_error(response, 501, "unimplemented", 12)


def test_sms_login_disabled_is_501_for_sign_in_codes(client, services, user):
    applications.create(
        services,
        client_id="pwd-app",
        client_secret="pwd-secret",
        scopes=["openid"],
        auth_sources=[auth_sources.create(services, "sms")],
        login_methods=["password"],
    )
    headers = basic("pwd-app", "pwd-secret")
    assert_error(post(client, "/verification", {"phone_number": PHONE}, headers), 501, "unimplemented", 12)
    # a reset code is not a login: it is sent
    assert post(client, "/verification", {"phone_number": PHONE, "usage": "PASSWORD_RESET"}, headers).status_code == 200


def test_concurrent_uses_of_one_token_have_one_winner(client, user, outbox, services):
    from concurrent.futures import ThreadPoolExecutor

    token = verification_token(client, outbox, phone_number=PHONE)
    app_client = services.clients.by_client_id(CLIENT_ID)

    def redeem(_):
        try:
            return services.verifications.redeem(app_client, token).target
        except IdpError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(redeem, range(8)))
    assert results.count(PHONE) == 1
    assert results.count("verification.invalid_token") == 7


def test_signup_profile_rules(client, apps, outbox):
    token = verification_token(client, outbox, email="new@example.com")
    assert_error(
        post(client, "/signup", {"verification_token": token, "locale": "not a locale"}), 400, "invalid_argument", 3
    )
    body = assert_token_response(post(client, "/signup", {"verification_token": token, "locale": "zh-CN"}))
    me = client.get("/auth/v1/user/me", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    assert me == {"sub": body["sub"], "email": "new@example.com", "email_verified": True, "locale": "zh-CN"}


# -- X-Request-Id and outages ---------------------------------------------------------------------
def test_request_id_is_echoed(client, user):
    response = post(
        client,
        "/signin",
        {"username": "zhangsan", "password": PASSWORD},
        **{"X-Request-Id": "1e55ed89-4a2b-47f8-b7de-27b4775c2adb"},
    )
    assert response.headers["X-Request-Id"] == "1e55ed89-4a2b-47f8-b7de-27b4775c2adb"
    error = post(client, "/signin", {}, **{"X-Request-Id": "abc-123"})
    assert error.headers["X-Request-Id"] == "abc-123"


def test_request_id_that_is_not_a_plain_token_is_replaced(client, user):
    response = post(client, "/signin", {}, **{"X-Request-Id": "a b<c>"})
    assert uuid.UUID(response.headers["X-Request-Id"]).version == 4


def test_redis_down_is_503_unavailable(own_redis, client, user):
    own_redis.stop()
    responses = [
        post(client, "/verification", {"phone_number": PHONE}),
        post(client, "/signin", {"verification_token": "x" * 40}),
        post(client, "/captcha/data", {}),
    ]
    for response in responses:
        assert_error(response, 503, "unavailable", 14)
