"""One token issuer for every grant and face: RFC 9068 access tokens and OIDC ID tokens whose
``iat``/``exp`` come from the services' clock, refresh tokens stored hashed with their family,
one ``login.token`` audit event without any token in it, and the same behaviour whether the
tokens leave through ``/oauth2/token``, CloudBase's ``/auth/v1`` or OneAccess."""

from __future__ import annotations

import json
import time
from datetime import UTC

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.models import AuditEvent, RefreshToken
from tests.clock import ManualClock
from tests.conftest import basic
from tests.factories import applications, users
from tests.helpers import send_sms, sms_login
from tests.oidc.test_authorize import get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange

DAY = 86_400


@pytest.fixture
def clock():
    """Three days ahead of the wall clock: a token stamped with the system time stands out."""
    return ManualClock(time.time() + 3 * DAY)


def decoded(client, token):
    return jwt.decode(token, KeySet.import_key_set(client.get("/oauth2/jwks").get_json()), algorithms=["RS256"])


def assert_stamped_by(clock, token: dict, ttl: int) -> None:
    now = int(clock.time())
    assert now - 5 <= token["iat"] <= now
    assert token["exp"] == token["iat"] + ttl


def test_otp_grant_tokens_follow_the_clock(client, seeded, outbox, services, clock):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    body = sms_login(client, send_sms(client).get_json()["otp_token"], outbox.last_code()).get_json()
    access = decoded(client, body["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert_stamped_by(clock, access.claims, services.settings.access_token_ttl)
    assert_stamped_by(clock, decoded(client, body["id_token"]).claims, services.settings.id_token_ttl)
    assert body["expires_in"] == services.settings.access_token_ttl
    # and the token is valid at the clock's "now", three days after the wall clock's
    info = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200


def test_code_and_client_credentials_tokens_follow_the_clock(client, services, clock):
    user = users.create(services, "ada")
    web = make_app(services)
    sign_in(client, services, user)
    body = exchange(client, get_code(client, services, web[0]), *web).get_json()
    assert_stamped_by(clock, decoded(client, body["access_token"]).claims, services.settings.access_token_ttl)
    m2m = make_app(services, type="m2m", redirect_uris=[], scopes=["admin"])
    own = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": m2m[0], "client_secret": m2m[1]}
    ).get_json()
    claims = decoded(client, own["access_token"]).claims
    assert_stamped_by(clock, claims, services.settings.access_token_ttl)
    assert claims["sub"] == m2m[0] and claims["client_id"] == m2m[0] and claims["scope"] == "admin"


def test_an_application_ttl_is_the_access_tokens_life(client, services, clock):
    from sqlalchemy import update

    from idp.models import Application

    user = users.create(services, "ada")
    web = make_app(services)
    with services.db.transaction() as session:
        session.execute(update(Application).where(Application.client_id == web[0]).values(access_token_ttl=42))
    services.clients.forget(web[0])
    sign_in(client, services, user)
    body = exchange(client, get_code(client, services, web[0]), *web).get_json()
    assert body["expires_in"] == 42
    assert_stamped_by(clock, decoded(client, body["access_token"]).claims, 42)


def test_refresh_tokens_are_stored_hashed_with_their_family_and_expiry(client, seeded, outbox, services, clock):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    body = sms_login(client, send_sms(client).get_json()["otp_token"], outbox.last_code()).get_json()
    row = services.db.session.query(RefreshToken).one()
    assert row.token_hash != body["refresh_token"] and body["refresh_token"] not in json.dumps(row.amr)
    assert row.family_id and row.amr == ["otp", "sms"] and row.scope == "openid"
    expires = (row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)).timestamp()
    assert abs(expires - (clock.time() + services.settings.refresh_token_ttl)) < 10


def test_every_issue_is_audited_once_without_a_token(client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    body = sms_login(client, send_sms(client).get_json()["otp_token"], outbox.last_code()).get_json()
    client.post(
        "/oauth2/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": "TENANT_CLIENT_ID",
            "client_secret": "TENANT_CLIENT_SECRET",
        },
    )
    events = services.db.session.query(AuditEvent).filter_by(type="login.token").order_by(AuditEvent.id).all()
    assert [e.details["grant_type"] for e in events] == [
        "http://tencentciam.com/oauth2/grant-type/otp/sms",
        "refresh_token",
    ]
    assert all(e.details["amr"] == ["otp", "sms"] and e.client_id == "TENANT_CLIENT_ID" for e in events)
    dumped = json.dumps([e.details for e in events])
    for value in body.values():
        assert str(value) not in dumped or len(str(value)) < 10


# -- the faces issue through the same issuer ------------------------------------------------------
CLOUDBASE_ID, CLOUDBASE_SECRET = "cloudbase-app", "cloudbase-secret"
CLOUDBASE = basic(CLOUDBASE_ID, CLOUDBASE_SECRET)


@pytest.fixture
def cloudbase_user(services):
    applications.create(
        services,
        client_id=CLOUDBASE_ID,
        client_secret=CLOUDBASE_SECRET,
        name="CloudBase app",
        scopes=["openid", "profile"],
        redirect_uris=["https://app.example.com/cb"],
    )
    return users.create(services, "zhangsan", with_password="example password", name="Zhang San")


def cloudbase(client, path, body):
    return client.post(f"/auth/v1{path}", json=body, headers=CLOUDBASE)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/signin", {"username": "zhangsan", "password": "example password"}),
        ("/token", {"grant_type": "password", "username": "zhangsan", "password": "example password"}),
    ],
)
def test_cloudbase_sign_in_issues_like_every_grant(client, services, cloudbase_user, clock, path, body):
    response = cloudbase(client, path, body)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    access = decoded(client, tokens["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert_stamped_by(clock, access.claims, services.settings.access_token_ttl)
    assert access.claims["amr"] == ["pwd"] and access.claims["scope"] == "openid profile"
    event = services.db.session.query(AuditEvent).filter_by(type="login.token").one()
    assert event.details == {"grant_type": "password", "amr": ["pwd"]}
    assert event.sub == cloudbase_user.sub and event.client_id == CLOUDBASE_ID


def test_cloudbase_tokens_belong_to_a_family_like_every_grant(client, services, cloudbase_user, clock):
    clock.advance(-3 * DAY)  # back to the wall clock: tokens of the system time stay valid
    first = cloudbase(client, "/signin", {"username": "zhangsan", "password": "example password"}).get_json()
    second = cloudbase(client, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    cloudbase(client, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})  # reuse
    for tokens in (first, second.get_json()):
        me = client.get("/auth/v1/user/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 401


def test_oneaccess_id_token_comes_from_the_issuer(client, services, clock):
    from tests.api.test_oneaccess import NO_MFA_CLIENT_ID, headers

    applications.create(
        services, "native", client_id=NO_MFA_CLIENT_ID, redirect_uris=[], scopes=["openid"], login_methods=["password"]
    )
    sub = users.create(services, "louxi", with_password="correct-horse-battery").sub
    response = client.post(
        "/api/v2/sdk/login",
        json={"user_name": "louxi", "password": "correct-horse-battery"},
        headers=headers(X_client_id=NO_MFA_CLIENT_ID),
    )
    assert response.status_code == 200, response.get_json()
    claims = decoded(client, response.get_json()["id_token"]).claims
    assert claims["sub"] == sub and claims["aud"] == NO_MFA_CLIENT_ID and claims["amr"] == ["pwd"]
    assert_stamped_by(clock, claims, services.settings.id_token_ttl)
