"""client_credentials (RFC 6749 4.4) for m2m applications."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc.test_authorize import make_app


def token(client, client_id, secret, **extra):
    return client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **extra},
    )


def test_an_m2m_app_gets_an_access_token_only(client, services):
    app = make_app(services, type="m2m", redirect_uris=[], scopes=["admin"])
    response = token(client, *app, scope="admin")
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "admin" and body["token_type"].lower() == "bearer"
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).claims
    assert claims["sub"] == app[0] and claims["client_id"] == app[0] and claims["scope"] == "admin"


def test_without_a_scope_the_apps_scopes_are_given(client, services):
    # only the supported ones: "reports" is no scope Gatehouse knows
    app = make_app(services, type="m2m", redirect_uris=[], scopes=["admin", "reports"])
    assert token(client, *app).get_json()["scope"] == "admin"


def test_scopes_beyond_the_apps_are_refused(client, services):
    app = make_app(services, type="m2m", redirect_uris=[], scopes=["reports"])
    response = token(client, *app, scope="reports admin")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_a_web_app_without_the_grant_is_refused(client, services):
    app = make_app(services)
    response = token(client, *app)
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_wrong_secret(client, services):
    app = make_app(services, type="m2m", redirect_uris=[])
    assert token(client, app[0], "wrong").status_code == 401


def test_the_token_is_audited_without_a_user(client, services):
    app = make_app(services, type="m2m", redirect_uris=[], scopes=["reports"])
    token(client, *app)
    from idp.models import AuditEvent

    event = services.db.session.query(AuditEvent).filter_by(type="login.token").one()
    assert event.sub is None and event.client_id == app[0]
    assert event.details["grant_type"] == "client_credentials"
