"""OneAccess dialect (seed 004, OneAccess "Mobile Number + SMS Verification Code Secondary
Authentication Interface"): golden samples, the full MFA journey, its refusals, the SSO ticket
round trip and logout. Real Redis, real database, the dev outbox."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.context import RequestContext
from tests.factories import applications, auth_sources, users

# seed 004's request headers and body
SEED_CLIENT_ID = "nTo1eRIub60vPb54WeE6aojPwYwImtl4"
SEED_HEADERS = {
    "X-operating-sys-version": "windows10.1.1",
    "X-device-fingerprint": "156aysdna213sc50",
    "X-device-ip": "192.168.1.2",
    "X-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 13_3 like Mac OS X) AppleWebKit/605.1.15(KHTML, like Gecko) "
    "Mobile/15E148/HuaWei-AnyOffice/2.6.1802.0010/com.huawei.cloudlink.workplace",
    "X-L": "zh",
    "X-client-id": SEED_CLIENT_ID,
}
REQUIRED = ("X-operating-sys-version", "X-device-fingerprint", "X-agent", "X-client-id")
SEED_MOBILE = "15201657312"
PASSWORD = "correct-horse-battery"
OTHER_CLIENT_ID = "other-oneaccess-app"
NO_MFA_CLIENT_ID = "single-factor-app"


def headers(state_token: str | None = None, **changes) -> dict:
    """The seed's headers in English (X-L en) unless changed; ``None`` drops a header."""
    out = {**SEED_HEADERS, "X-L": "en"}
    if state_token is not None:
        out["X-state-token"] = state_token
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


@pytest.fixture
def apps(services):
    source = auth_sources.create(services, "sms")
    for client_id, mfa in ((SEED_CLIENT_ID, "required"), (OTHER_CLIENT_ID, "required"), (NO_MFA_CLIENT_ID, "off")):
        applications.create(
            services,
            "native",
            client_id=client_id,
            mfa=mfa,
            redirect_uris=[],
            auth_sources=[source],
            scopes=["openid"],
            login_methods=["password", "sms_otp"],
        )
    return services


@pytest.fixture
def user(apps):
    return users.create(
        apps, "louxi", with_password=PASSWORD, with_verified_phone="+86" + SEED_MOBILE, email="11@qq.com", name="Lou Xi"
    )


def login(client, user_name="louxi", password=PASSWORD, **header_changes):
    return client.post(
        "/api/v2/sdk/login", json={"user_name": user_name, "password": password}, headers=headers(**header_changes)
    )


def state_token_for(client, **header_changes) -> str:
    response = login(client, **header_changes)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["state_token"]


def send_mfa_sms(client, state_token, mobile=SEED_MOBILE, **header_changes):
    return client.post(
        "/api/v2/sdk/sms/send",
        json={"mobile": mobile, "type": "MFA_AUTH_SMS"},
        headers=headers(state_token, **header_changes),
    )


def mfa_sms(client, state_token, code, mobile=SEED_MOBILE, **header_changes):
    return client.post(
        "/api/v2/sdk/mfa/sms",
        json={"mobile": mobile, "verify_code": code},
        headers=headers(state_token, **header_changes),
    )


def id_token_claims(client, token: str) -> dict:
    return jwt.decode(token, KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).claims


def assert_denied(response, error_code: str) -> None:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert set(body) == {"status", "error_code", "error_msg"}
    assert body["status"] == "ACCESS_DENIED"
    assert body["error_code"] == error_code
    assert body["error_msg"]


# -- golden: seed 004 ---------------------------------------------------------------------
def test_seed_request_answers_the_success_sample(client, user, outbox):
    state_token = state_token_for(client)
    assert send_mfa_sms(client, state_token).status_code == 200
    response = client.post(
        "/api/v2/sdk/mfa/sms",
        json={"mobile": SEED_MOBILE, "verify_code": outbox.last_code()},
        headers={**SEED_HEADERS, "X-state-token": state_token},
    )

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert list(body) == ["status", "expire", "session_token", "id_token"]  # the seed's order
    assert body["status"] == "SUCCESS"
    assert body["expire"] == 43200
    assert len(body["session_token"]) >= 32
    token = jwt.decode(body["id_token"], KeySet.import_key_set(client.get("/oauth2/jwks").get_json()))
    assert token.header["alg"] == "RS256"
    assert token.header["kid"]


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v2/sdk/mfa/sms"),
        ("post", "/api/v2/sdk/login"),
        ("get", "/api/v2/sdk/mobile-by-token"),
        ("post", "/api/v2/sdk/sms/send"),
        ("get", "/api/v2/sdk/logout"),
        ("post", "/api/v2/tenant/sso/session-token/sso-ticket"),
        ("post", "/api/v2/tenant/sso/sso-ticket/verify"),
    ],
)
def test_missing_required_header_answers_the_error_sample(client, apps, name, method, path):
    response = getattr(client, method)(
        path, json={"mobile": SEED_MOBILE, "verify_code": "123456"}, headers=headers("state", **{name: None})
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error_code": "SDK.COMMON.1001",
        "error_msg": f"Parameter {name} cannot be left blank.",
    }


def test_seed_error_sample_exactly(client, apps):
    """The sample: X-client-id left out of the seed's request."""
    response = client.post(
        "/api/v2/sdk/mfa/sms",
        json={"mobile": SEED_MOBILE, "verify_code": "123456"},
        headers=headers("state", X_client_id=None, X_L=None),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error_code": "SDK.COMMON.1001",
        "error_msg": "Parameter X-client-id cannot be left blank.",
    }


def test_blank_header_counts_as_missing(client, apps):
    response = mfa_sms(client, "state", "123456", X_agent="  ")
    assert response.get_json()["error_msg"] == "Parameter X-agent cannot be left blank."


def test_missing_header_in_chinese(client, apps):
    response = mfa_sms(client, "state", "123456", X_client_id=None, X_L="zh")
    assert response.get_json() == {"error_code": "SDK.COMMON.1001", "error_msg": "参数X-client-id不能为空。"}


def test_missing_state_token_and_body_fields(client, user):
    response = client.post("/api/v2/sdk/mfa/sms", json={"mobile": SEED_MOBILE, "verify_code": "1"}, headers=headers())
    assert response.get_json() == {
        "error_code": "SDK.COMMON.1001",
        "error_msg": "Parameter X-state-token cannot be left blank.",
    }
    response = mfa_sms(client, "state", "")
    assert response.get_json()["error_msg"] == "Parameter verify_code cannot be left blank."
    response = client.post("/api/v2/sdk/login", data="not json", headers=headers())
    assert response.status_code == 400
    assert response.get_json()["error_msg"] == "Parameter user_name cannot be left blank."


def test_unknown_client(client, user):
    response = login(client, X_client_id="no-such-app")
    assert response.status_code == 400
    assert response.get_json()["error_code"] == "SDK.COMMON.1003"


# -- the journey ----------------------------------------------------------------------------
def test_full_journey(client, user, outbox, clock):
    first = login(client)
    assert first.status_code == 200
    body = first.get_json()
    assert body["status"] == "MFA_REQUIRED"
    assert set(body) == {"status", "state_token", "expire", "mfa_types"}
    assert body["mfa_types"] == ["SMS"]
    assert 0 < body["expire"] <= 300
    assert len(body["state_token"]) >= 22  # >= 128 bits
    state_token = body["state_token"]

    masked = client.get("/api/v2/sdk/mobile-by-token", headers=headers(state_token))
    assert masked.status_code == 200
    assert masked.get_json() == {"mobile": "+86 152****7312"}

    sent = send_mfa_sms(client, state_token)
    assert sent.status_code == 200
    assert sent.get_json() == {"status": "SUCCESS"}
    code = outbox.last_code("+86" + SEED_MOBILE)

    wrong = str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
    assert_denied(mfa_sms(client, state_token, wrong), "SDK.MFA.1002")

    clock.advance(20)  # the sign-in completes with the second factor, later
    done = mfa_sms(client, state_token, code)
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert result["status"] == "SUCCESS" and result["expire"] == 43200
    claims = id_token_claims(client, result["id_token"])
    assert claims["sub"] == user.sub
    assert claims["aud"] == SEED_CLIENT_ID
    assert claims["iss"] == "http://127.0.0.1:5000"
    assert {"pwd", "mfa"} <= set(claims["amr"])
    assert claims["acr"].endswith("2fa")
    assert claims["auth_time"] == int(clock.time())

    # the state token is spent
    assert_denied(mfa_sms(client, state_token, code), "SDK.MFA.1001")
    assert_denied(client.get("/api/v2/sdk/mobile-by-token", headers=headers(state_token)), "SDK.MFA.1001")


def test_login_without_mfa(client, user):
    response = login(client, X_client_id=NO_MFA_CLIENT_ID)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["status", "expire", "session_token", "id_token"]
    assert body["status"] == "SUCCESS" and body["expire"] == 43200
    claims = id_token_claims(client, body["id_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"].endswith("1fa")


def test_mfa_required_without_a_usable_factor(client, apps):
    users.create(apps, "nophone", with_password=PASSWORD)
    assert_denied(login(client, user_name="nophone"), "SDK.MFA.1005")


def test_mfa_types_name_the_usable_factors(client, user, services):
    users.enrol_totp(services, user)
    services.factors.add_otp(user.sub, "sms", RequestContext(ip="127.0.0.1"))
    body = login(client).get_json()
    assert body["status"] == "MFA_REQUIRED"
    assert sorted(body["mfa_types"]) == ["OTP", "SMS"]


def test_overlong_parameter_is_invalid(client, user):
    response = mfa_sms(client, "state", "1" * 65)
    assert response.get_json() == {"error_code": "SDK.COMMON.1002", "error_msg": "Parameter verify_code is invalid."}


def test_wrong_password_is_access_denied(client, user):
    assert_denied(login(client, password="wrong-password"), "SDK.LOGIN.1001")
    assert_denied(login(client, user_name="nobody"), "SDK.LOGIN.1001")  # same answer: no enumeration


def test_wrong_password_in_chinese(client, user):
    response = login(client, password="wrong-password", X_L="zh")
    assert response.get_json()["error_msg"] == "用户名或密码错误。"


def test_locked_user_is_access_denied(client, user, services):
    services.users.update(user.sub, {"status": "locked"}, RequestContext())
    assert_denied(login(client), "SDK.LOGIN.1002")


def test_used_state_token_is_refused(client, user, outbox):
    state_token = state_token_for(client)
    send_mfa_sms(client, state_token)
    assert mfa_sms(client, state_token, outbox.last_code()).status_code == 200
    assert_denied(mfa_sms(client, state_token, outbox.last_code()), "SDK.MFA.1001")
    assert_denied(send_mfa_sms(client, state_token), "SDK.MFA.1001")


def test_expired_state_token_is_refused(client, user, outbox, services, clock):
    state_token = state_token_for(client)
    assert send_mfa_sms(client, state_token).status_code == 200
    code = outbox.last_code()
    clock.advance(services.mfa.state_ttl)  # the flow's own lifetime (300 s) is over
    assert_denied(mfa_sms(client, state_token, code), "SDK.MFA.1001")
    assert_denied(client.get("/api/v2/sdk/mobile-by-token", headers=headers(state_token)), "SDK.MFA.1001")


def test_unknown_state_token_is_refused(client, user):
    assert_denied(send_mfa_sms(client, "not-a-state-token"), "SDK.MFA.1001")
    assert_denied(mfa_sms(client, "not-a-state-token", "123456"), "SDK.MFA.1001")


def test_state_token_is_bound_to_the_device(client, user, outbox):
    state_token = state_token_for(client)
    assert send_mfa_sms(client, state_token).status_code == 200
    code = outbox.last_code()
    assert_denied(mfa_sms(client, state_token, code, X_device_fingerprint="another-device"), "SDK.MFA.1001")
    assert_denied(send_mfa_sms(client, state_token, X_device_fingerprint="another-device"), "SDK.MFA.1001")
    assert_denied(
        client.get("/api/v2/sdk/mobile-by-token", headers=headers(state_token, X_device_fingerprint="x")),
        "SDK.MFA.1001",
    )


def test_state_token_is_bound_to_the_client(client, user, outbox):
    state_token = state_token_for(client)
    assert send_mfa_sms(client, state_token).status_code == 200
    code = outbox.last_code()
    assert_denied(mfa_sms(client, state_token, code, X_client_id=OTHER_CLIENT_ID), "SDK.MFA.1001")
    assert_denied(send_mfa_sms(client, state_token, X_client_id=OTHER_CLIENT_ID), "SDK.MFA.1001")


def test_mobile_must_be_the_bound_number(client, user, outbox):
    state_token = state_token_for(client)
    assert_denied(send_mfa_sms(client, state_token, mobile="13612345678"), "SDK.MFA.1004")
    assert outbox.records() == []  # nothing was sent to the stranger
    assert send_mfa_sms(client, state_token).status_code == 200
    assert_denied(mfa_sms(client, state_token, outbox.last_code(), mobile="13612345678"), "SDK.MFA.1004")


def test_access_denied_in_chinese(client, user):
    response = mfa_sms(client, "not-a-state-token", "123456", X_L="zh")
    assert response.get_json()["error_msg"] == "state_token无效或已过期，请重新登录。"  # noqa: RUF001


# -- sms/send -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sms_type", "usage"),
    [
        ("LOGIN_SMS", "login"),
        ("FORGET_PWD_SMS", "reset_password"),
        ("BIND_MOBILE_SMS", "update_userinfo"),
        ("REGISTER_SMS", "signup"),
    ],
)
def test_sms_send_types(client, apps, outbox, sms_type, usage):
    response = client.post("/api/v2/sdk/sms/send", json={"mobile": "13712345678", "type": sms_type}, headers=headers())
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "SUCCESS"}
    record = outbox.records()[0]
    assert record["to"] == "+8613712345678"
    assert record["usage"] == usage


def test_register_sms_for_a_registered_number(client, user):
    response = client.post(
        "/api/v2/sdk/sms/send", json={"mobile": SEED_MOBILE, "type": "REGISTER_SMS"}, headers=headers()
    )
    assert response.status_code == 400
    assert response.get_json()["error_code"] == "SDK.SMS.1001"


def test_sms_send_bad_input(client, apps):
    bad_type = client.post("/api/v2/sdk/sms/send", json={"mobile": SEED_MOBILE, "type": "NOPE"}, headers=headers())
    assert bad_type.status_code == 400
    assert bad_type.get_json() == {"error_code": "SDK.COMMON.1002", "error_msg": "Parameter type is invalid."}
    bad_number = client.post("/api/v2/sdk/sms/send", json={"mobile": "12", "type": "LOGIN_SMS"}, headers=headers())
    assert bad_number.status_code == 400
    assert bad_number.get_json()["error_code"] == "SDK.COMMON.1002"


def test_mfa_auth_sms_needs_the_state_token(client, user):
    response = client.post(
        "/api/v2/sdk/sms/send", json={"mobile": SEED_MOBILE, "type": "MFA_AUTH_SMS"}, headers=headers()
    )
    assert response.get_json()["error_msg"] == "Parameter X-state-token cannot be left blank."


@pytest.mark.limits(ip_hourly=1)
def test_rate_limit_is_429(client, apps):
    first = client.post("/api/v2/sdk/sms/send", json={"mobile": "13712345678", "type": "LOGIN_SMS"}, headers=headers())
    assert first.status_code == 200
    second = client.post("/api/v2/sdk/sms/send", json={"mobile": "13812345678", "type": "LOGIN_SMS"}, headers=headers())
    assert second.status_code == 429
    assert second.get_json()["error_code"] == "SDK.COMMON.1429"
    assert int(second.headers["Retry-After"]) > 0


# -- session_token -> sso_ticket -> user; logout ------------------------------------------------
def session_token(client) -> str:
    response = login(client, X_client_id=NO_MFA_CLIENT_ID)
    return response.get_json()["session_token"]


def ticket_for(client, token, **header_changes):
    return client.post(
        "/api/v2/tenant/sso/session-token/sso-ticket", json={"session_token": token}, headers=headers(**header_changes)
    )


def verify_ticket(client, ticket, **header_changes):
    return client.post(
        "/api/v2/tenant/sso/sso-ticket/verify", json={"sso_ticket": ticket}, headers=headers(**header_changes)
    )


def test_sso_ticket_round_trip_is_single_use(client, user, services):
    sub = user.sub
    token = session_token(client)
    issued = ticket_for(client, token)
    assert issued.status_code == 200
    body = issued.get_json()
    assert set(body) == {"sso_ticket", "expire"}
    assert 0 < body["expire"] <= 300
    stored = list(services.redis.scan_iter("gh:oa:ticket:*"))
    assert len(stored) == 1 and body["sso_ticket"] not in stored[0]  # stored hashed
    assert 0 < services.redis.ttl(stored[0]) <= body["expire"]

    verified = verify_ticket(client, body["sso_ticket"])
    assert verified.status_code == 200
    assert verified.get_json() == {
        "code": "200",
        "message": "success",
        "data": {
            "user": {
                "id": sub,
                "userName": "louxi",
                "name": "Lou Xi",
                "mobile": "+86" + SEED_MOBILE,
                "email": "11@qq.com",
            }
        },
    }

    again = verify_ticket(client, body["sso_ticket"])
    assert again.status_code == 400
    assert again.get_json()["error_code"] == "SDK.SSO.1001"


def test_sso_ticket_is_for_the_application_that_asked(client, user):
    ticket = ticket_for(client, session_token(client)).get_json()["sso_ticket"]
    assert verify_ticket(client, ticket, X_client_id=OTHER_CLIENT_ID).get_json()["error_code"] == "SDK.SSO.1001"
    assert verify_ticket(client, ticket).get_json()["error_code"] == "SDK.SSO.1001"  # spent by the attempt


def test_unknown_session_token_and_ticket(client, user):
    assert ticket_for(client, "no-such-session").get_json()["error_code"] == "SDK.SESSION.1001"
    assert verify_ticket(client, "no-such-ticket").get_json()["error_code"] == "SDK.SSO.1001"


def test_logout_ends_the_session(client, user):
    token = session_token(client)
    ticket = ticket_for(client, token).get_json()["sso_ticket"]

    response = client.get("/api/v2/sdk/logout", headers={**headers(), "X-session-token": token})
    assert response.status_code == 200
    assert response.get_json() == {"status": "SUCCESS"}

    assert ticket_for(client, token).get_json()["error_code"] == "SDK.SESSION.1001"
    assert verify_ticket(client, ticket).get_json()["error_code"] == "SDK.SSO.1001"  # its session ended
    again = client.get("/api/v2/sdk/logout", headers={**headers(), "X-session-token": token})
    assert again.get_json() == {"status": "SUCCESS"}  # idempotent


def test_logout_needs_the_session_token(client, apps):
    response = client.get("/api/v2/sdk/logout", headers=headers())
    assert response.get_json() == {
        "error_code": "SDK.COMMON.1001",
        "error_msg": "Parameter X-session-token cannot be left blank.",
    }


# -- outage ---------------------------------------------------------------------------------
def test_redis_down_is_503_json(own_redis, client, user):
    token = session_token(client)
    own_redis.stop()
    for response in (
        ticket_for(client, token),
        login(client),
        client.get("/api/v2/sdk/logout", headers={**headers(), "X-session-token": token}),
    ):
        assert response.status_code == 503
        assert response.mimetype == "application/json"
        assert response.get_json()["error_code"] == "SDK.COMMON.1503"
