"""The admin API also accepts an m2m application's own access token with scope ``admin``: the
whole path for real (the app is created through the admin API, gets its token at
``/oauth2/token`` with client_credentials, RFC 6749 4.4, and calls the admin API with it), every
change audited with the application as the actor, and each way a token can fall short refused
with 401 (RFC 6750 3.1 invalid_token) or 403 (insufficient_scope, or not an m2m app's own token).
"""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import delete, select, update

from idp.models import Application, AuditEvent
from tests.factories import SECRET, applications
from tests.helpers import SMS_GRANT, sms_login

API = "/admin/api/v1"
PHONE = "+8613612345678"


def new_app(client, admin_headers, **body) -> dict:
    payload = {"name": "Ops robot", "type": "m2m", "scopes": ["admin"], **body}
    response = client.post(f"{API}/applications", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def client_credentials(client, app: dict, **extra) -> dict:
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            **extra,
        },
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def claims(client, token: str) -> dict:
    return jwt.decode(token, KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).claims


@pytest.fixture
def robot(client, admin_headers) -> dict:
    """An m2m application allowed scope ``admin`` and its client_credentials token."""
    app = new_app(client, admin_headers)
    token = client_credentials(client, app)
    assert "admin" in token["scope"].split()
    return {**app, "headers": bearer(token["access_token"])}


def events(services, **where) -> list[AuditEvent]:
    services.db.session.rollback()  # see what the requests committed
    query = select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
    return list(services.db.session.scalars(query))


# -- the whole path ------------------------------------------------------------------------------


def test_an_m2m_token_with_scope_admin_runs_the_admin_api(client, services, admin_headers, robot):
    headers = robot["headers"]
    assert client.get(f"{API}/users", headers=headers).status_code == 200
    created = client.post(f"{API}/users", json={"username": "made-by-robot"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert services.users.by_sub(created.get_json()["sub"]).username == "made-by-robot"

    listed = client.get(f"{API}/audit-events", query_string={"type": "admin.*"}, headers=headers)
    assert listed.status_code == 200
    actors = {e["type"]: e["actor"] for e in listed.get_json()}
    assert actors == {"admin.user.create": robot["client_id"], "admin.application.create": "admin_token"}


def test_every_change_names_the_application_as_actor(client, services, robot):
    headers, robot_id = robot["headers"], robot["client_id"]
    before = {e.id for e in events(services)}

    def call(method: str, path: str, status: int, **kwargs) -> dict | None:
        response = getattr(client, method)(f"{API}{path}", headers=headers, **kwargs)
        assert response.status_code == status, (path, response.get_json())
        return response.get_json()

    call("post", "/auth-sources", 201, json={"kind": "sms", "id": "ROBOT_SMS"})
    call("post", "/applications", 201, json={"name": "Made by robot", "auth_source_ids": ["ROBOT_SMS"]})
    sub = call("post", "/users", 201, json={"username": "robbie", "phone_number": PHONE, "phone_verified": True})["sub"]
    call("patch", f"/users/{sub}", 200, json={"name": "Robbie"})
    call("post", f"/users/{sub}/factors", 201, json={"type": "otp_sms"})
    call("delete", f"/users/{sub}/factors/otp_sms", 204)
    call("post", f"/users/{sub}/unlock", 200)

    written = [e for e in events(services) if e.id not in before]
    assert [e.type for e in written] == [
        "admin.auth_source.create",
        "admin.application.create",
        "admin.user.create",
        "admin.user.update",
        "factor.add",
        "factor.remove",
        "admin.user.unlock",
    ]
    assert {e.actor for e in written} == {robot_id}
    assert {e.sub for e in written[2:]} == {sub}


def test_the_bootstrap_token_names_itself(client, services, admin_headers):
    response = client.post(f"{API}/users", json={"username": "by-bootstrap"}, headers=admin_headers)
    assert response.status_code == 201
    [event] = events(services, type="admin.user.create")
    assert event.actor == "admin_token"


@pytest.fixture
def without_bootstrap_token(settings_overrides):
    settings_overrides["admin_token"] = ""


def test_m2m_tokens_work_when_the_bootstrap_token_is_off(without_bootstrap_token, client, services):
    app = applications.create(services, "m2m", name="Ops robot", scopes=["admin"])
    token = client_credentials(client, {"client_id": app.client_id, "client_secret": SECRET})["access_token"]
    assert client.get(f"{API}/users", headers=bearer(token)).status_code == 200
    assert client.get(f"{API}/users", headers=bearer("test-admin-token")).status_code == 401


# -- 401: no valid token -------------------------------------------------------------------------


def refused(client, services, headers: dict, status: int, error: str) -> dict:
    """A refused call answers in the admin API's shape and changes nothing."""
    before = len(events(services))
    response = client.post(f"{API}/users", json={"username": "intruder"}, headers=headers)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error
    assert services.users.search(username="intruder") == []
    assert len(events(services)) == before
    return response


def test_an_expired_token_is_401(client, services, clock, robot):
    clock.advance(services.settings.access_token_ttl)  # the token's last second has passed
    response = refused(client, services, robot["headers"], 401, "admin.unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "expired" in response.get_json()["error_description"]


def _tampered(token: str) -> str:
    """The same signature over claims that say ``scope: admin`` for another application."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "client_id": "someone-else"}).encode())
    return f"{header}.{forged.decode().rstrip('=')}.{signature}"


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(_tampered, id="tampered claims"),
        pytest.param(lambda token: token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), id="bad signature"),
        pytest.param(lambda token: token.split(".", 1)[1], id="not a JWT"),
    ],
)
def test_a_bad_token_is_401(client, services, robot, spoil):
    token = robot["headers"]["Authorization"].split(" ", 1)[1]
    response = refused(client, services, bearer(spoil(token)), 401, "admin.unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- 403: a valid token that may not administer ----------------------------------------------------


def test_a_token_without_scope_admin_is_403(client, services, admin_headers):
    app = new_app(client, admin_headers, scopes=["profile"])  # an m2m application not allowed "admin"
    token = client_credentials(client, app)
    assert "admin" not in token["scope"].split()
    response = refused(client, services, bearer(token["access_token"]), 403, "admin.insufficient_scope")
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="gatehouse-admin", error="insufficient_scope", scope="admin"'
    )


def test_a_token_of_an_application_that_is_not_m2m_is_403(client, services, admin_headers):
    app = new_app(client, admin_headers, type="web", grant_types=["client_credentials"])
    token = client_credentials(client, app)
    assert "admin" in claims(client, token["access_token"])["scope"].split()
    refused(client, services, bearer(token["access_token"]), 403, "admin.forbidden")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda client_id: delete(Application).where(Application.client_id == client_id), id="deleted"),
        pytest.param(
            lambda client_id: update(Application).where(Application.client_id == client_id).values(scopes=["profile"]),
            id="admin scope withdrawn",
        ),
        pytest.param(
            lambda client_id: update(Application).where(Application.client_id == client_id).values(type="web"),
            id="no longer m2m",
        ),
    ],
)
def test_a_token_outlives_its_applications_right_to_administer(client, services, robot, change):
    assert client.get(f"{API}/users", headers=robot["headers"]).status_code == 200
    with services.db.transaction() as session:
        session.execute(change(robot["client_id"]))
    services.clients.forget(robot["client_id"])  # what editing the application through its service does
    refused(client, services, robot["headers"], 403, "admin.forbidden")


def test_a_token_issued_on_a_persons_behalf_is_403(client, services, admin_headers, outbox):
    """An m2m application that may also sign people in (a Tencent CIAM OTP grant): the token it
    gets for a person is the person's, never carries scope admin, and opens no admin call."""
    source = client.post(
        f"{API}/auth-sources", json={"kind": "sms", "id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"}, headers=admin_headers
    ).get_json()
    app = new_app(
        client,
        admin_headers,
        client_id="TENANT_CLIENT_ID",
        client_secret="TENANT_CLIENT_SECRET",
        grant_types=["client_credentials", SMS_GRANT],
        auth_source_ids=[source["id"]],
        scopes=["openid", "admin"],
    )
    client.post(f"{API}/users", json={"phone_number": PHONE, "phone_verified": True}, headers=admin_headers)
    sent = client.post(
        "/otp/send",
        json={"usage": "login", "phone_number": PHONE, "auth_source_id": source["id"]},
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
        },
    )
    assert sent.status_code == 200, sent.get_json()
    token = sms_login(client, sent.get_json()["otp_token"], outbox.last_code())
    assert token.status_code == 200, token.get_json()
    access = token.get_json()["access_token"]
    person = claims(client, access)
    assert person["sub"] != app["client_id"] and "admin" not in person["scope"].split()
    refused(client, services, bearer(access), 403, "admin.insufficient_scope")
