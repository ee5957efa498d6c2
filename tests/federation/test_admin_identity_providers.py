"""``/admin/api/v1/identity-providers`` and applications' ``identity_provider_ids``."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from idp.crypto import CodeCipher
from idp.models import AuditEvent, FederatedLink, IdentityProvider
from tests.factories import applications

API = "/admin/api/v1/identity-providers"
OIDC = {
    "name": "Acme SSO",
    "kind": "oidc",
    "issuer": "https://sso.acme.example",
    "client_id": "acme-client",
    "client_secret": "acme-secret-value",
}
OAUTH2 = {
    "name": "Plain OAuth",
    "kind": "oauth2",
    "client_id": "plain",
    "client_secret": "plain-secret",
    "authorization_endpoint": "https://oauth.example/authorize",
    "token_endpoint": "https://oauth.example/token",
    "userinfo_endpoint": "https://oauth.example/me",
    "claim_mapping": {"sub": "id", "email": "mail", "name": "display_name"},
    "scopes": ["profile"],
}


def create(client, headers, body=OIDC):
    return client.post(API, json=body, headers=headers)


def test_create_answers_the_redirect_uri_and_never_the_secret(client, services, admin_headers):
    response = create(client, admin_headers)
    assert response.status_code == 201
    body = response.get_json()
    assert body["redirect_uri"] == f"{services.settings.issuer}/login/federated/{body['id']}/callback"
    assert body["scopes"] == ["openid", "email", "profile"]  # the oidc kind's default
    assert {body["name"], body["kind"], body["client_id"], body["issuer"]} == {
        "Acme SSO",
        "oidc",
        "acme-client",
        "https://sso.acme.example",
    }
    assert "client_secret" not in body and "acme-secret-value" not in response.get_data(as_text=True)
    fetched = client.get(f"{API}/{body['id']}", headers=admin_headers)
    assert fetched.get_json() == body


def test_the_secret_is_sealed_in_the_database(client, services, admin_headers):
    provider_id = create(client, admin_headers).get_json()["id"]
    with services.db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT client_secret_sealed FROM identity_providers WHERE id = :id"), {"id": provider_id}
        ).scalar()
    assert stored and "acme-secret-value" not in stored
    assert CodeCipher(services.settings.secret_key).unseal(stored) == "acme-secret-value"


def test_patch_replaces_the_secret_and_revalidates(client, services, admin_headers):
    provider_id = create(client, admin_headers).get_json()["id"]
    response = client.patch(
        f"{API}/{provider_id}", json={"name": "Acme", "client_secret": "rotated"}, headers=admin_headers
    )
    assert response.status_code == 200 and response.get_json()["name"] == "Acme"
    provider = services.identity_providers.get(provider_id)
    assert services.identity_providers.config(provider).client_secret == "rotated"
    refused = client.patch(f"{API}/{provider_id}", json={"issuer": "not a url"}, headers=admin_headers)
    assert refused.status_code == 400 and refused.get_json()["error"] == "federation.invalid_config"
    kind = client.patch(f"{API}/{provider_id}", json={"kind": "oauth2"}, headers=admin_headers)
    assert kind.status_code == 400
    assert services.identity_providers.get(provider_id).issuer == "https://sso.acme.example"  # nothing changed


def test_oauth2_takes_endpoints_and_a_claim_mapping(client, admin_headers):
    body = create(client, admin_headers, OAUTH2).get_json()
    assert body["claim_mapping"] == OAUTH2["claim_mapping"] and body["scopes"] == ["profile"]
    missing = create(client, admin_headers, {**OAUTH2, "claim_mapping": {}})
    assert missing.status_code == 400 and missing.get_json()["error"] == "federation.invalid_config"


def test_bad_input_is_refused_and_nothing_is_stored(client, services, admin_headers):
    for body in (
        {**OIDC, "issuer": None},
        {**OIDC, "kind": "saml"},
        {**OIDC, "name": ""},
        {**OIDC, "client_id": ""},
        {**OIDC, "unknown": 1},
        {**OAUTH2, "token_endpoint": "ftp://x"},
        {**OIDC, "issuer": "https://sso.example/" + "x" * 600},
    ):
        response = create(client, admin_headers, body)
        assert response.status_code == 400, (body, response.get_json())
        assert set(response.get_json()) == {"error", "error_description"}
    assert services.db.session.scalars(select(IdentityProvider)).all() == []


def test_list_is_paged_with_a_link(client, admin_headers):
    ids = sorted(create(client, admin_headers, {**OIDC, "name": f"P{i}"}).get_json()["id"] for i in range(3))
    first = client.get(f"{API}?limit=2", headers=admin_headers)
    assert [p["id"] for p in first.get_json()] == ids[:2]
    link = first.headers["Link"]
    assert 'rel="next"' in link
    second = client.get(link[1 : link.index(">")], headers=admin_headers)
    assert [p["id"] for p in second.get_json()] == ids[2:] and "Link" not in second.headers


def test_unknown_provider_is_404(client, admin_headers):
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"{API}/nope", json={}, headers=admin_headers)
        assert response.status_code == 404 and response.get_json()["error"] == "federation.not_found"


def test_applications_offer_existing_providers_only(client, admin_headers):
    provider_id = create(client, admin_headers).get_json()["id"]
    made = client.post(
        "/admin/api/v1/applications",
        json={"name": "Shop", "redirect_uris": ["https://shop.example/cb"], "identity_provider_ids": [provider_id]},
        headers=admin_headers,
    )
    assert made.status_code == 201 and made.get_json()["identity_provider_ids"] == [provider_id]
    client_id = made.get_json()["client_id"]
    assert client.get(f"/admin/api/v1/applications/{client_id}", headers=admin_headers).get_json()[
        "identity_provider_ids"
    ] == [provider_id]
    bad = client.patch(
        f"/admin/api/v1/applications/{client_id}", json={"identity_provider_ids": ["nope"]}, headers=admin_headers
    )
    assert bad.status_code == 400 and bad.get_json()["error"] == "federation.unknown_provider"
    bad_create = client.post(
        "/admin/api/v1/applications", json={"name": "X", "identity_provider_ids": ["nope"]}, headers=admin_headers
    )
    assert bad_create.status_code == 400


def test_delete_is_refused_while_offered_and_takes_the_links(client, services, admin_headers):
    provider_id = create(client, admin_headers).get_json()["id"]
    applications.create(services, client_id="SHOP", identity_provider_ids=[provider_id])
    in_use = client.delete(f"{API}/{provider_id}", headers=admin_headers)
    assert in_use.status_code == 409 and in_use.get_json()["error"] == "federation.in_use"
    client.patch("/admin/api/v1/applications/SHOP", json={"identity_provider_ids": []}, headers=admin_headers)
    with services.db.transaction() as session:
        session.add(FederatedLink(provider_id=provider_id, subject="up-1", sub="someone"))
    assert client.delete(f"{API}/{provider_id}", headers=admin_headers).status_code == 204
    assert services.db.session.scalars(select(FederatedLink)).all() == []
    assert client.get(f"{API}/{provider_id}", headers=admin_headers).status_code == 404


def test_every_change_is_audited_without_the_secret(client, services, admin_headers):
    provider_id = create(client, admin_headers).get_json()["id"]
    client.patch(f"{API}/{provider_id}", json={"client_secret": "rotated-secret"}, headers=admin_headers)
    client.delete(f"{API}/{provider_id}", headers=admin_headers)
    events = services.db.session.scalars(select(AuditEvent).where(AuditEvent.type.like("admin.identity_provider.%")))
    found = {e.type: e for e in events}
    assert set(found) == {
        "admin.identity_provider.create",
        "admin.identity_provider.update",
        "admin.identity_provider.delete",
    }
    assert all(e.actor == "admin_token" and e.details["provider_id"] == provider_id for e in found.values())
    assert "rotated-secret" not in str([e.details for e in found.values()])
    assert found["admin.identity_provider.update"].details["fields"] == ["client_secret"]


def _apple_key() -> str:
    from joserfc.jwk import ECKey

    return ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()


PRESET_REGISTRATIONS = {
    "github": ({"client_id": "Iv1.8a61f9b3", "client_secret": "gh-secret"}, "https://github.com/login/oauth/authorize"),
    "google": ({"client_id": "1234.apps.googleusercontent.com", "client_secret": "g-secret"}, None),
    "wechat": (
        {"client_id": "wx520c15f417810387", "client_secret": "wx-secret"},
        "https://open.weixin.qq.com/connect/qrconnect",
    ),
    "apple": (
        {"client_id": "com.example.web", "client_secret": None, "options": {"team_id": "T1", "key_id": "K1"}},
        None,
    ),
}


@pytest.mark.parametrize("kind", sorted(PRESET_REGISTRATIONS))
def test_each_preset_registers_with_what_its_provider_issues_and_reads_back(client, admin_headers, kind):
    fields, authorization_endpoint = PRESET_REGISTRATIONS[kind]
    body = {"name": kind.title(), "kind": kind, **fields}
    if kind == "apple":
        body["client_secret"] = _apple_key()
    created = create(client, admin_headers, body)
    assert created.status_code == 201, created.get_json()
    read = client.get(f"{API}/{created.get_json()['id']}", headers=admin_headers)
    assert read.status_code == 200 and "client_secret" not in read.get_json()
    assert read.get_json()["scopes"]  # the preset's default scopes
    if authorization_endpoint:
        assert read.get_json()["authorization_endpoint"] == authorization_endpoint
    assert client.get(API, headers=admin_headers).status_code == 200
