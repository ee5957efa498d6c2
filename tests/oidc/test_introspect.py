"""RFC 7662 introspection: client authentication, active and inactive tokens."""

from __future__ import annotations

import base64

import pytest

from tests.factories import users
from tests.oidc.test_authorize import get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange, refresh


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def issued(client, services):
    user = users.create(services, "ada")
    app = make_app(services)
    sign_in(client, services, user)
    body = exchange(client, get_code(client, services, app[0]), *app).get_json()
    return app, user, body


def introspect(client, app, token, **extra):
    response = client.post("/oauth2/introspect", data={"token": token, **extra}, headers=basic(*app))
    assert response.headers["Cache-Control"] == "no-store"
    return response


def test_an_access_token_is_active(client, issued):
    app, user, body = issued
    response = introspect(client, app, body["access_token"])
    assert response.status_code == 200
    data = response.get_json()
    assert data["active"] is True
    assert data["sub"] == user.sub and data["client_id"] == app[0]
    assert data["scope"] == "openid profile" and data["token_type"] == "Bearer" and data["exp"] > data["iat"]


def test_a_refresh_token_is_active_until_rotated(client, issued):
    app, user, body = issued
    data = introspect(client, app, body["refresh_token"], token_type_hint="refresh_token").get_json()
    assert data["active"] is True and data["sub"] == user.sub and data["client_id"] == app[0]
    assert introspect(client, app, body["refresh_token"]).get_json()["active"] is True  # without a hint
    refresh(client, body["refresh_token"], *app)
    assert introspect(client, app, body["refresh_token"]).get_json() == {"active": False}


def test_a_revoked_refresh_token_is_inactive(client, issued):
    app, _user, body = issued
    client.post("/oauth2/revoke", data={"token": body["refresh_token"]}, headers=basic(*app))
    assert introspect(client, app, body["refresh_token"]).get_json() == {"active": False}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_unknown_tokens_are_inactive(client, issued, token):
    assert introspect(client, issued[0], token).get_json() == {"active": False}


def test_an_id_token_is_not_an_access_token(client, issued):
    assert introspect(client, issued[0], issued[2]["id_token"]).get_json() == {"active": False}


def test_another_clients_token_is_inactive(client, services, issued):
    other = make_app(services, name="Other")
    assert introspect(client, other, issued[2]["access_token"]).get_json() == {"active": False}
    assert introspect(client, other, issued[2]["refresh_token"]).get_json() == {"active": False}


def test_an_expired_access_token_is_inactive(client, services, issued):

    app, now = issued[0], int(services.clock.time())
    claims = {
        "iss": services.settings.issuer,
        "sub": "x",
        "client_id": app[0],
        "aud": app[0],
        "exp": now - 5,
        "iat": now - 60,
        "scope": "openid",
    }
    token = services.keys.signer("RS256").sign(claims, "at+jwt")
    assert introspect(client, app, token).get_json() == {"active": False}


def test_client_authentication_is_required(client, services, issued):
    response = client.post("/oauth2/introspect", data={"token": issued[2]["access_token"]})
    assert response.status_code == 401
    response = client.post(
        "/oauth2/introspect", data={"token": issued[2]["access_token"]}, headers=basic(issued[0][0], "wrong")
    )
    assert response.status_code == 401
