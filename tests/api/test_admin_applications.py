"""Admin API: one application (read, change, delete) and its secret (replace)."""

from __future__ import annotations

import pytest

from tests.api.test_admin import API, audit_rows, new_app, new_sms_source
from tests.conftest import basic
from tests.factories import users
from tests.helpers import TENANT_CLIENT_ID, TENANT_CLIENT_SECRET, send_sms, sms_login


def test_get_one_application(client, admin_headers):
    app = new_app(client, admin_headers, redirect_uris=["https://app.example/cb"])
    response = client.get(f"{API}/applications/{app['client_id']}", headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["client_id"] == app["client_id"]
    assert body["redirect_uris"] == ["https://app.example/cb"]
    assert "client_secret" not in body


@pytest.mark.parametrize(("method", "path"), [("get", ""), ("patch", ""), ("delete", ""), ("post", "/secret")])
def test_unknown_application_is_404(client, admin_headers, method, path):
    response = getattr(client, method)(f"{API}/applications/nope{path}", json={}, headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json() == {"error": "client.not_found", "error_description": "no such application"}


def test_patch_changes_the_given_fields_only(client, services, admin_headers):
    source = new_sms_source(client, admin_headers)
    app = new_app(client, admin_headers, mfa="optional", scopes=["openid"])
    patch = {
        "redirect_uris": ["https://new.example/cb"],
        "auth_source_ids": [source["id"]],
        "login_methods": ["password"],
    }
    response = client.patch(f"{API}/applications/{app['client_id']}", json=patch, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["redirect_uris"] == ["https://new.example/cb"]
    assert body["auth_source_ids"] == [source["id"]]
    assert body["login_methods"] == ["password"]
    assert (body["mfa"], body["scopes"], body["type"]) == ("optional", ["openid"], "web")
    # this process sees the change at once
    assert services.clients.by_client_id(app["client_id"]).redirect_uris == ["https://new.example/cb"]
    [event] = [e for e in audit_rows(services) if e.type == "admin.application.update"]
    assert (event.client_id, event.actor) == (app["client_id"], "admin_token")


@pytest.mark.parametrize(
    "patch",
    [
        {"type": "spa"},
        {"client_secret": "s3cret-s3cret"},
        {"mfa": "sometimes"},
        {"grant_types": ["password"]},
        {"auth_source_ids": ["missing"]},
        {"id_token_signed_response_alg": "none"},
        {"colour": "red"},
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing(client, admin_headers, patch):
    app = new_app(client, admin_headers)
    response = client.patch(f"{API}/applications/{app['client_id']}", json=patch, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    assert set(response.get_json()) == {"error", "error_description"}
    after = client.get(f"{API}/applications/{app['client_id']}", headers=admin_headers).get_json()
    assert after == {k: v for k, v in app.items() if k != "client_secret"}


def test_a_new_secret_replaces_the_old_one_at_once(client, services, admin_headers, outbox):
    source = new_sms_source(client, admin_headers)
    app = new_app(client, admin_headers, auth_source_ids=[source["id"]])
    old = basic(app["client_id"], app["client_secret"])
    assert send_sms(client, headers=old, auth_source_id=source["id"]).status_code == 200  # now cached

    response = client.post(f"{API}/applications/{app['client_id']}/secret", headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"client_id", "client_secret"} and body["client_id"] == app["client_id"]
    assert body["client_secret"] != app["client_secret"]

    assert send_sms(client, headers=old, auth_source_id=source["id"]).status_code == 401
    new = basic(app["client_id"], body["client_secret"])
    assert send_sms(client, phone="13612345679", headers=new, auth_source_id=source["id"]).status_code == 200
    [event] = [e for e in audit_rows(services) if e.type == "admin.application.rotate_secret"]
    assert body["client_secret"] not in str(event.details)


def test_a_public_client_has_no_secret_to_replace(client, admin_headers):
    app = new_app(client, admin_headers, type="spa")
    response = client.post(f"{API}/applications/{app['client_id']}/secret", headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "client.invalid_type"


def test_deleting_an_application_revokes_its_tokens(client, seeded, services, admin_headers, outbox):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    otp_token = send_sms(client).get_json()["otp_token"]
    tokens = sms_login(client, otp_token, outbox.last_code()).get_json()
    assert tokens["refresh_token"]

    response = client.delete(f"{API}/applications/{TENANT_CLIENT_ID}", headers=admin_headers)
    assert response.status_code == 204
    assert client.get(f"{API}/applications/{TENANT_CLIENT_ID}", headers=admin_headers).status_code == 404
    refreshed = client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": TENANT_CLIENT_ID,
            "client_secret": TENANT_CLIENT_SECRET,
        },
    )
    assert refreshed.status_code in (400, 401)
    userinfo = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    [event] = [e for e in audit_rows(services) if e.type == "admin.application.delete"]
    assert (event.client_id, event.details["refresh_tokens_revoked"]) == (TENANT_CLIENT_ID, 1)


# -- one auth source ----------------------------------------------------------------------


def test_get_and_patch_an_auth_source(client, services, admin_headers):
    source = new_sms_source(client, admin_headers, name="SMS")
    response = client.get(f"{API}/auth-sources/{source['id']}", headers=admin_headers)
    assert response.status_code == 200 and response.get_json() == source

    patch = {"code_ttl": 300, "name": "Login SMS"}
    response = client.patch(f"{API}/auth-sources/{source['id']}", json=patch, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {**source, "code_ttl": 300, "name": "Login SMS"}
    [event] = [e for e in audit_rows(services) if e.type == "admin.auth_source.update"]
    assert event.details["auth_source_id"] == source["id"]


@pytest.mark.parametrize("patch", [{"kind": "email"}, {"code_length": 3}, {"code_ttl": 5000}, {"colour": "red"}])
def test_a_bad_auth_source_patch_is_400_and_changes_nothing(client, admin_headers, patch):
    source = new_sms_source(client, admin_headers)
    response = client.patch(f"{API}/auth-sources/{source['id']}", json=patch, headers=admin_headers)
    assert response.status_code == 400
    assert client.get(f"{API}/auth-sources/{source['id']}", headers=admin_headers).get_json() == source


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_auth_source_is_404(client, admin_headers, method):
    response = getattr(client, method)(f"{API}/auth-sources/nope", json={}, headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == "auth_source.not_found"


def test_an_auth_source_in_use_is_409_until_detached(client, services, admin_headers):
    source = new_sms_source(client, admin_headers)
    app = new_app(client, admin_headers, auth_source_ids=[source["id"]])
    response = client.delete(f"{API}/auth-sources/{source['id']}", headers=admin_headers)
    assert response.status_code == 409
    assert response.get_json()["error"] == "auth_source.in_use"
    assert app["client_id"] in response.get_json()["error_description"]

    detach = client.patch(f"{API}/applications/{app['client_id']}", json={"auth_source_ids": []}, headers=admin_headers)
    assert detach.status_code == 200
    assert client.delete(f"{API}/auth-sources/{source['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{API}/auth-sources/{source['id']}", headers=admin_headers).status_code == 404
    assert [e.type for e in audit_rows(services)][-1] == "admin.auth_source.delete"


def test_every_instance_refuses_the_old_secret_at_once(client, services, admin_headers, clock):
    """Two app instances on one database: the secret replaced through one is refused by the
    other at once, though the other holds the application in its cache; so is the secret of an
    application deleted through the first."""
    from app import create_app
    from idp.services import Services

    app = new_app(client, admin_headers, type="m2m", redirect_uris=[], scopes=["admin"])
    other = create_app(services=Services.build(services.settings, clock=clock))
    try:
        other_client = other.test_client()

        def token_status(secret: str) -> int:
            data = {"grant_type": "client_credentials", "scope": "admin"}
            response = other_client.post("/oauth2/token", data=data, headers=basic(app["client_id"], secret))
            return response.status_code

        assert token_status(app["client_secret"]) == 200  # the other instance caches the application now
        rotated = client.post(f"{API}/applications/{app['client_id']}/secret", headers=admin_headers).get_json()
        assert token_status(app["client_secret"]) == 401
        assert token_status(rotated["client_secret"]) == 200

        assert client.delete(f"{API}/applications/{app['client_id']}", headers=admin_headers).status_code == 204
        assert token_status(rotated["client_secret"]) == 401
    finally:
        other.extensions["gatehouse"].db.dispose()
        other.extensions["gatehouse"].redis.close()


def _walk(client, admin_headers, url: str, key: str) -> tuple[list[str], int]:
    """Follow ``Link: <...>; rel="next"`` to the last page: the keys seen, and the pages."""
    seen: list[str] = []
    pages = 0
    while url:
        response = client.get(url, headers=admin_headers)
        assert response.status_code == 200, response.get_json()
        pages += 1
        seen += [item[key] for item in response.get_json()]
        link = response.headers.get("Link")
        assert link is None or link.endswith('>; rel="next"')
        url = link[1 : link.index(">")] if link else None
    return seen, pages


def test_applications_page_with_limit_and_next_link(client, admin_headers):
    made = sorted(new_app(client, admin_headers, name=f"App {n}")["client_id"] for n in range(5))
    seen, pages = _walk(client, admin_headers, f"{API}/applications?limit=2", "client_id")
    assert (seen, pages) == (made, 3)
    # a cursor holds when the application it names is deleted between two pages
    first = client.get(f"{API}/applications?limit=2", headers=admin_headers)
    assert client.delete(f"{API}/applications/{made[1]}", headers=admin_headers).status_code == 204
    link = first.headers["Link"]
    rest = client.get(link[1 : link.index(">")], headers=admin_headers).get_json()
    assert [a["client_id"] for a in rest] == made[2:4]
    assert "client_secret" not in rest[0]


def test_auth_sources_page_with_limit_and_next_link(client, admin_headers):
    made = sorted(new_sms_source(client, admin_headers, name=f"Source {n}")["id"] for n in range(3))
    assert _walk(client, admin_headers, f"{API}/auth-sources?limit=2", "id") == (made, 2)
    assert _walk(client, admin_headers, f"{API}/auth-sources", "id") == (made, 1)


@pytest.mark.parametrize("path", ["applications", "auth-sources"])
@pytest.mark.parametrize("limit", ["0", "201", "two"])
def test_a_bad_listing_limit_is_400(client, admin_headers, path, limit):
    response = client.get(f"{API}/{path}", query_string={"limit": limit}, headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "request.invalid"


def test_passkeys_are_offered_only_when_asked_for(client, admin_headers):
    """Passkeys need the issuer on a host name, so an application gets them by name only."""
    assert new_app(client, admin_headers)["login_methods"] == ["password", "sms_otp", "email_otp"]
    with_passkeys = new_app(client, admin_headers, login_methods=["password", "passkey"])
    assert with_passkeys["login_methods"] == ["password", "passkey"]
