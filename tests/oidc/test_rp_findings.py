"""What a certified relying party (panva's openid-client, walking the OpenID Foundation's Basic OP
and Config OP plans) found, each through the real authorization and token endpoints:

a. ``request`` / ``request_uri`` are answered ``request_not_supported`` /
   ``request_uri_not_supported`` (OIDC Core 3.1.2.6);
b. userinfo takes the access token in a form body (RFC 6750 2.2), never two ways at once (RFC 6750 2);
c. the ``claims`` request parameter (OIDC Core 5.5): ``userinfo`` and ``id_token`` members, kept
   for the life of the grant (code → tokens → every refresh rotation);
d. only supported scopes are granted (no ``address``), at the authorization and token endpoints;
e. a code issued with a PKCE challenge and redeemed without the verifier is ``invalid_grant``;
f. the ``profile`` scope releases every standard profile claim stored (OIDC Core 5.1, 5.4).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from idp.models import RefreshToken, User
from tests.conftest import basic
from tests.factories import MOCK_SMS_OTP_AUTH_SOURCE_ID, applications, users
from tests.helpers import SMS_GRANT, send_sms
from tests.oidc.test_authorize import (
    at_client,
    authorize,
    consent_redirect,
    continue_,
    get_code,
    make_app,
    new_verifier,
    sign_in,
)
from tests.oidc.test_code_grant import exchange, refresh, verified_claims

PROFILE = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "middle_name": "King",
    "nickname": "ada",
    "profile": "https://ada.example/profile",
    "picture": "https://ada.example/ada.png",
    "website": "https://ada.example",
    "gender": "female",
    "birthdate": "1815-12-10",
    "zoneinfo": "Europe/London",
}


@pytest.fixture
def user(services):
    user = users.create(
        services,
        "ada",
        with_verified_phone="+8613612345678",
        with_verified_email="ada@example.com",
        name="Ada Lovelace",
        locale="en",
    )
    with services.db.transaction() as session:
        session.execute(update(User).where(User.sub == user.sub).values(**PROFILE))
    return user


@pytest.fixture
def web_app(services):
    return make_app(services, scopes=["openid", "profile", "email", "phone", "offline_access"])


def userinfo(client, token, method="GET"):
    return client.open("/oauth2/userinfo", method=method, headers={"Authorization": f"Bearer {token}"})


def tokens_for(client, services, app, user, **params) -> dict:
    sign_in(client, services, user)
    response = exchange(client, get_code(client, services, app[0], **params), *app)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- a. request objects are not supported ---------------------------------------------------------
@pytest.mark.parametrize(
    ("param", "error"),
    [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ],
)
def test_request_objects_are_answered_with_their_own_error(client, web_app, param, error):
    value = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9." if param == "request" else "https://rp.example/r/1"
    params = at_client(authorize(client, web_app[0], **{param: value}))
    assert params["error"] == error
    assert params["state"] == "st-1" and params["iss"] == "http://127.0.0.1:5000"


def test_request_object_of_an_unknown_client_gets_the_error_page(client, seeded):
    response = authorize(client, "nope", request="eyJ.x.y")
    assert response.status_code == 400 and "Location" not in response.headers


def test_discovery_still_says_request_objects_are_not_supported(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["request_parameter_supported"] is False and doc["request_uri_parameter_supported"] is False


# -- b. userinfo with the token in a form body --------------------------------------------------------
def test_userinfo_accepts_the_token_in_a_form_body(client, services, web_app, user):
    tokens = tokens_for(client, services, web_app, user)
    response = client.post("/oauth2/userinfo", data={"access_token": tokens["access_token"]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["sub"] == user.sub


def test_userinfo_refuses_a_token_given_two_ways(client, services, web_app, user):
    tokens = tokens_for(client, services, web_app, user)
    response = client.post(
        "/oauth2/userinfo",
        data={"access_token": tokens["access_token"]},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')


def test_userinfo_form_body_with_a_bad_token_is_invalid_token(client, seeded):
    response = client.post("/oauth2/userinfo", data={"access_token": "not.a.jwt"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


# -- c. the claims request parameter ---------------------------------------------------------------
def test_discovery_announces_the_claims_parameter_and_every_releasable_claim(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["claims_parameter_supported"] is True
    assert set(PROFILE) | {
        "name",
        "preferred_username",
        "locale",
        "updated_at",
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
        "sub",
        "auth_time",
        "amr",
        "acr",
        "nonce",
        "at_hash",
    } <= set(doc["claims_supported"])


def test_claims_requested_for_userinfo_come_back_without_their_scope(client, services, web_app, user):
    claims = {"userinfo": {"email": {"essential": True}, "given_name": None}}
    tokens = tokens_for(client, services, web_app, user, scope="openid", claims=json.dumps(claims))
    assert tokens["scope"] == "openid"
    info = userinfo(client, tokens["access_token"]).get_json()
    assert info == {"sub": user.sub, "email": "ada@example.com", "given_name": "Ada"}
    id_claims = verified_claims(client, tokens["id_token"])
    assert "email" not in id_claims and "given_name" not in id_claims


def test_claims_requested_for_the_id_token_come_back_in_it(client, services, web_app, user):
    claims = {"id_token": {"email": None, "phone_number": {"essential": False}, "birthdate": None}}
    tokens = tokens_for(client, services, web_app, user, scope="openid", claims=json.dumps(claims))
    id_claims = verified_claims(client, tokens["id_token"])
    assert id_claims["email"] == "ada@example.com"
    assert id_claims["phone_number"] == "+8613612345678"
    assert id_claims["birthdate"] == "1815-12-10"
    assert userinfo(client, tokens["access_token"]).get_json() == {"sub": user.sub}


def test_requested_claims_last_for_the_life_of_the_grant(client, services, web_app, user):
    claims = {"userinfo": {"nickname": None}, "id_token": {"email": None}}
    tokens = tokens_for(client, services, web_app, user, scope="openid", claims=json.dumps(claims))
    stored = services.db.session.query(RefreshToken).one()
    assert stored.claims == {"userinfo": ["nickname"], "id_token": ["email"]}
    for _rotation in range(2):
        tokens = refresh(client, tokens["refresh_token"], *web_app).get_json()
        assert verified_claims(client, tokens["id_token"])["email"] == "ada@example.com"
        assert userinfo(client, tokens["access_token"]).get_json()["nickname"] == "ada"


def test_claims_beyond_what_the_application_may_have_are_not_released(client, services, user):
    narrow = make_app(services, scopes=["openid", "profile"])
    claims = {"userinfo": {"email": None, "phone_number": None, "nickname": None}}
    tokens = tokens_for(client, services, narrow, user, scope="openid", claims=json.dumps(claims))
    assert userinfo(client, tokens["access_token"]).get_json() == {"sub": user.sub, "nickname": "ada"}


def test_claims_of_a_third_party_application_need_consent(client, services, user):
    third = make_app(services, first_party=False)
    sign_in(client, services, user)
    at_client(continue_(client, _consent(client, services, user, authorize(client, third[0], scope="openid"))))
    # consent to "openid" does not cover the email claim asked for by name
    claims = json.dumps({"userinfo": {"email": None}})
    authz_id = consent_redirect(authorize(client, third[0], scope="openid", claims=claims))
    assert services.authz.peek(authz_id).consent_scopes == ["openid", "email"]
    page = client.get("/consent", query_string={"authz": authz_id}).get_data(as_text=True)
    assert "See your email address" in page  # the person sees what the claim releases
    _consent(client, services, user, None, authz_id)
    tokens = exchange(client, at_client(continue_(client, authz_id))["code"], *third).get_json()
    assert userinfo(client, tokens["access_token"]).get_json()["email"] == "ada@example.com"


def _consent(client, services, user, response, authz_id: str | None = None) -> str:
    from idp.context import RequestContext

    authz_id = authz_id or consent_redirect(response)
    services.authz.decide_consent(authz_id, user.sub, True, RequestContext(ip="127.0.0.1"))
    return authz_id


@pytest.mark.parametrize(
    "claims",
    [
        "not json",
        "[]",
        '"userinfo"',
        '{"userinfo": []}',
        '{"id_token": {"email": 5}}',
        '{"userinfo": {"email": {"essential": "yes"}}}',
        '{"id_token": {"email": {"values": "x"}}}',
        '{"userinfo": {"\u00e9\\"": 5}}',  # a name the error description must not repeat
    ],
)
def test_a_malformed_claims_parameter_is_invalid_request(client, web_app, claims):
    params = at_client(authorize(client, web_app[0], claims=claims))
    assert params["error"] == "invalid_request"
    assert params["state"] == "st-1"


# -- d. only supported scopes ------------------------------------------------------------------------
def test_discovery_lists_the_supported_scopes(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["scopes_supported"] == ["openid", "profile", "email", "phone", "offline_access", "admin"]


def test_an_unsupported_scope_is_not_granted_at_the_authorization_endpoint(client, services, user):
    app = make_app(services, scopes=["openid", "profile", "address"])
    tokens = tokens_for(client, services, app, user, scope="openid address")
    assert tokens["scope"] == "openid"
    assert "address" not in userinfo(client, tokens["access_token"]).get_json()


def test_only_unsupported_scopes_is_invalid_scope(client, services):
    app = make_app(services, scopes=["openid", "address"])
    params = at_client(authorize(client, app[0], scope="address"))
    assert params["error"] == "invalid_scope"


def test_an_unsupported_scope_is_not_granted_at_the_token_endpoint(client, services, seeded, outbox):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    applications.create(
        services,
        client_id="WIDE",
        client_secret="WIDE_SECRET",
        redirect_uris=[],
        auth_sources=[MOCK_SMS_OTP_AUTH_SOURCE_ID],
        scopes=["openid", "address"],
    )
    otp_token = send_sms(client, headers=basic("WIDE", "WIDE_SECRET")).get_json()["otp_token"]
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": SMS_GRANT,
            "client_id": "WIDE",
            "client_secret": "WIDE_SECRET",
            "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
            "phone_number": "13612345678",
            "otp_token": otp_token,
            "otp": outbox.last_code(),
            "scope": "openid address",
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "openid"


def test_client_credentials_grant_only_supported_scopes(client, services):
    app = make_app(services, type="m2m", redirect_uris=[], scopes=["admin", "reports"])
    given = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": app[0], "client_secret": app[1]}
    )
    assert given.get_json()["scope"] == "admin"
    asked = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": app[0], "client_secret": app[1], "scope": "reports"},
    )
    assert asked.status_code == 400 and asked.get_json()["error"] == "invalid_scope"


def test_a_refresh_cannot_widen_the_grant(client, services, web_app, user):
    tokens = tokens_for(client, services, web_app, user, scope="openid")
    wider = client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": web_app[0],
            "client_secret": web_app[1],
            "scope": "openid email",
        },
    )
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    # RFC 6749 6: a narrower scope is fine (the refused request spent nothing)
    narrower = refresh(client, tokens["refresh_token"], *web_app)
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "openid"


def test_user_grants_never_carry_the_admin_scope(client, services, user):
    app = make_app(services, scopes=["openid", "admin"])
    tokens = tokens_for(client, services, app, user, scope="openid admin")
    assert tokens["scope"] == "openid"


# -- e. PKCE: a missing verifier is invalid_grant ----------------------------------------------------
@pytest.mark.parametrize("app_type", ["web", "spa"])
def test_a_code_with_a_challenge_redeemed_without_the_verifier_is_invalid_grant(client, services, user, app_type):
    app = make_app(services, type=app_type)
    sign_in(client, services, user)
    code = get_code(client, services, app[0], verifier=new_verifier())
    response = exchange(client, code, *app)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


# -- f. the standard profile claims ---------------------------------------------------------------------
def test_the_profile_scope_releases_every_stored_profile_claim(client, services, web_app, user):
    tokens = tokens_for(client, services, web_app, user, scope="openid profile")
    info = userinfo(client, tokens["access_token"]).get_json()
    assert {k: info[k] for k in PROFILE} == PROFILE
    assert info["name"] == "Ada Lovelace" and info["preferred_username"] == "ada" and info["locale"] == "en"
    assert isinstance(info["updated_at"], int)
    assert "email" not in info and "phone_number" not in info


def test_the_ciam_face_renders_the_same_profile_claims(services, user):
    """Tencent CIAM's ``PATCH /userinfo`` answers with ``render_userinfo``: the same claims."""
    from idp.dialects.ciam import render_userinfo

    rendered = render_userinfo(services.users.by_sub(user.sub), {"openid", "profile"})
    assert {k: rendered.get(k) for k in PROFILE} == PROFILE
