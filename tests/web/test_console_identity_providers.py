"""The admin console's identity provider pages through Flask's test client: the list with each
provider's redirect URI, creation through the admin API's own request model (the client secret
sealed and never shown again), refusals with the API's message, edits as PATCHes (a blank secret
keeps the stored one), deletion confirmed on a second page and refused while an application
offers the provider, the 403 for non-administrators, and the application form's checkboxes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from idp.context import RequestContext
from idp.crypto import CodeCipher
from idp.models import AuditEvent, IdentityProvider
from tests.factories import applications, users
from tests.web.conftest import csrf_token, text
from tests.web.test_console import sign_in
from tests.web.test_console_applications import form_post, stored
from tests.web.test_mfa_pages import REDIRECT, authorize

SECRET = "acme-upstream-secret-value"
OIDC = {
    "name": "Acme SSO",
    "kind": "oidc",
    "client_id": "acme-client",
    "client_secret": SECRET,
    "issuer": "https://sso.acme.example",
}
OAUTH2 = {
    "name": "Plain OAuth",
    "kind": "oauth2",
    "client_id": "plain",
    "client_secret": "plain-secret",
    "scopes": "profile",
    "authorization_endpoint": "https://oauth.example/authorize",
    "token_endpoint": "https://oauth.example/token",
    "userinfo_endpoint": "https://oauth.example/me",
    "claim_sub": "id",
    "claim_email": "mail",
}
CTX = RequestContext(ip="127.0.0.1")


@pytest.fixture
def admin(client, services):
    root = users.create(services, "root", roles=["admin"])
    sign_in(client, "root")
    return root


def providers(services) -> list[IdentityProvider]:
    services.db.session.expire_all()
    return list(services.db.session.scalars(select(IdentityProvider)))


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def sealed_secret(services, provider_id: str) -> str:
    with services.db.engine.connect() as conn:
        return conn.execute(
            sql("SELECT client_secret_sealed FROM identity_providers WHERE id = :id"), {"id": provider_id}
        ).scalar()


def register(services, **given) -> IdentityProvider:
    body = {**OIDC, **given}
    body.pop("client_secret", None)
    return services.identity_providers.create({**body, "client_secret": SECRET}, CTX)


def ticked(page: str, provider_id: str) -> bool:
    """Whether the page's identity provider checkbox for ``provider_id`` is ticked."""
    tag = re.search(rf'<input[^>]*name="identity_provider_ids"[^>]*value="{provider_id}"[^>]*>', page)
    assert tag is not None, provider_id
    return " checked" in tag.group(0)


def create(client, fields: dict):
    response = form_post(client, "/admin/identity-providers/new", fields)
    assert response.status_code == 303, text(response)
    return response


# -- list and create --------------------------------------------------------------------------
def test_the_list_shows_each_provider_with_its_redirect_uri(client, services, admin):
    page = text(client.get("/admin/identity-providers"))
    assert "No identity provider yet." in page
    assert 'href="/admin/identity-providers" aria-current="page"' in page
    acme = register(services)
    page = text(client.get("/admin/identity-providers"))
    assert "Acme SSO" in page and acme.id in page
    assert f"{services.settings.issuer}/login/federated/{acme.id}/callback" in page
    assert "OpenID Connect (discovery document)" in page
    assert SECRET not in page


def test_the_kind_select_offers_every_kind_this_build_can_register(client, services, admin):
    from idp.federation.registry import available_kinds

    page = text(client.get("/admin/identity-providers/new"))
    for kind in available_kinds():
        assert f'<option {"selected " if kind == "oidc" else ""}value="{kind}"' in page
    assert 'type="password"' in page and 'name="client_secret"' in page


def test_creating_shows_the_redirect_uri_and_the_secret_is_sealed_never_shown(client, services, admin):
    response = create(client, OIDC)
    (provider,) = providers(services)
    assert response.headers["Location"] == f"/admin/identity-providers/{provider.id}"
    page = text(client.get(response.headers["Location"]))
    assert "Register this redirect URI with the provider" in page
    assert f"{services.settings.issuer}/login/federated/{provider.id}/callback" in page
    assert "set (sealed; never shown)" in page
    assert "openid email profile" in page  # the kind's default scopes, as in effect
    assert SECRET not in page
    assert (provider.name, provider.kind, provider.client_id, provider.issuer) == (
        "Acme SSO",
        "oidc",
        "acme-client",
        "https://sso.acme.example",
    )
    sealed = sealed_secret(services, provider.id)
    assert sealed and SECRET not in sealed
    assert CodeCipher(services.settings.secret_key).unseal(sealed) == SECRET
    assert SECRET not in text(client.get(f"/admin/identity-providers/{provider.id}/edit"))
    with client.session_transaction() as session:
        assert SECRET not in repr(dict(session))
    (event,) = events(services, "admin.identity_provider.create")
    assert event.actor == admin.sub and event.details["provider_id"] == provider.id
    assert SECRET not in repr(event.details)


def test_an_oauth2_provider_with_endpoints_and_claim_mapping(client, services, admin):
    create(client, OAUTH2)
    (provider,) = providers(services)
    assert provider.kind == "oauth2" and provider.scopes == ["profile"]
    assert provider.token_endpoint == "https://oauth.example/token"
    assert provider.claim_mapping == {"sub": "id", "email": "mail"}
    page = text(client.get(f"/admin/identity-providers/{provider.id}"))
    assert "https://oauth.example/me" in page and "<code>sub</code> ← <code>id</code>" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**OIDC, "name": ""}, "name: Field required"),
        ({**OIDC, "client_id": ""}, "client_id: Field required"),
        ({**OIDC, "kind": "myspace"}, "kind: Input should be"),
        ({**OIDC, "issuer": ""}, "issuer"),
        ({**OIDC, "issuer": "not a url"}, "issuer"),
        ({**OAUTH2, "claim_sub": ""}, "claim_mapping must name the member holding sub"),
        ({**OAUTH2, "token_endpoint": ""}, "token_endpoint"),
    ],
)
def test_bad_input_is_refused_with_the_apis_message_and_nothing_is_made(client, services, admin, fields, message):
    response = form_post(client, "/admin/identity-providers/new", fields)
    assert response.status_code == 400
    page = text(response)
    assert message in page and 'role="alert"' in page
    assert fields["client_secret"] not in page  # the secret typed in is not sent back
    if fields["client_id"]:
        assert f'value="{fields["client_id"]}"' in page  # the rest of the form is filled in
    assert providers(services) == []
    assert events(services, "admin.identity_provider.create") == []


# -- edit -------------------------------------------------------------------------------------
def test_edit_changes_what_was_changed_and_a_blank_secret_keeps_the_stored_one(client, services, admin):
    acme = register(services, scopes=["openid", "email"])
    form = text(client.get(f"/admin/identity-providers/{acme.id}/edit"))
    assert 'value="Acme SSO"' in form and 'value="openid email"' in form
    assert "the kind cannot be changed" in form and "Leave it blank to keep the current secret." in form
    before = sealed_secret(services, acme.id)
    data = {
        "csrf_token": csrf_token(form),
        "name": "Acme Login",
        "client_id": "acme-client",
        "client_secret": "",
        "scopes": "openid email",
        "issuer": "https://sso.acme.example",
        "kind": "oauth2",  # ignored: the kind is not a field of a PATCH
    }
    response = client.post(f"/admin/identity-providers/{acme.id}/edit", data=data)
    assert response.status_code == 303
    assert "The identity provider is saved." in text(client.get(response.headers["Location"]))
    (changed,) = providers(services)
    assert changed.name == "Acme Login" and changed.kind == "oidc"
    assert sealed_secret(services, acme.id) == before
    (event,) = events(services, "admin.identity_provider.update")
    assert event.actor == admin.sub and event.details["fields"] == ["name"]

    form = text(client.get(f"/admin/identity-providers/{acme.id}/edit"))
    response = client.post(
        f"/admin/identity-providers/{acme.id}/edit",
        data={**data, "csrf_token": csrf_token(form), "client_secret": "the-new-secret", "scopes": ""},
    )
    assert response.status_code == 303
    assert CodeCipher(services.settings.secret_key).unseal(sealed_secret(services, acme.id)) == "the-new-secret"
    assert providers(services)[0].scopes == []  # back to the kind's defaults
    assert events(services, "admin.identity_provider.update")[-1].details["fields"] == ["client_secret", "scopes"]


def test_a_bad_edit_is_refused_and_changes_nothing(client, services, admin):
    acme = register(services)
    response = form_post(
        client,
        f"/admin/identity-providers/{acme.id}/edit",
        {"name": "Renamed", "client_id": "acme-client", "issuer": "", "client_secret": "typed-secret"},
    )
    assert response.status_code == 400
    page = text(response)
    assert "issuer" in page and "typed-secret" not in page
    (same,) = providers(services)
    assert same.name == "Acme SSO" and same.issuer == "https://sso.acme.example"
    assert CodeCipher(services.settings.secret_key).unseal(sealed_secret(services, acme.id)) == SECRET


# -- delete -----------------------------------------------------------------------------------
def test_deleting_is_confirmed_then_removes_the_provider(client, services, admin):
    acme = register(services)
    confirm = client.get(f"/admin/identity-providers/{acme.id}/delete")
    assert confirm.status_code == 200 and "Delete this identity provider?" in text(confirm)
    assert len(providers(services)) == 1
    response = client.post(
        f"/admin/identity-providers/{acme.id}/delete", data={"csrf_token": csrf_token(text(confirm))}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/identity-providers"
    assert "The identity provider is deleted." in text(client.get("/admin/identity-providers"))
    assert providers(services) == []
    (event,) = events(services, "admin.identity_provider.delete")
    assert event.actor == admin.sub
    assert client.get(f"/admin/identity-providers/{acme.id}").status_code == 404


def test_a_provider_an_application_offers_is_not_deleted(client, services, admin):
    acme = register(services)
    applications.create(services, client_id="shop", name="Shop", identity_provider_ids=[acme.id])
    detail = text(client.get(f"/admin/identity-providers/{acme.id}"))
    assert 'href="/admin/applications/shop"' in detail
    response = form_post(client, f"/admin/identity-providers/{acme.id}/delete", {})
    assert response.status_code == 409
    page = text(response)
    assert "offered by shop" in page and 'role="alert"' in page
    assert len(providers(services)) == 1
    assert events(services, "admin.identity_provider.delete") == []


def test_without_the_csrf_token_nothing_changes(client, services, admin):
    acme = register(services)
    assert client.post("/admin/identity-providers/new", data=OIDC).status_code == 400
    assert client.post(f"/admin/identity-providers/{acme.id}/edit", data={"name": "Hijacked"}).status_code == 400
    assert client.post(f"/admin/identity-providers/{acme.id}/delete").status_code == 400
    (same,) = providers(services)
    assert same.name == "Acme SSO"


def test_someone_without_the_admin_role_gets_403(client, services):
    acme = register(services)
    users.create(services, "plain")
    sign_in(client, "plain")
    for path in ("", "/new", f"/{acme.id}", f"/{acme.id}/edit", f"/{acme.id}/delete"):
        assert client.get(f"/admin/identity-providers{path}").status_code == 403, path
    assert client.post(f"/admin/identity-providers/{acme.id}/delete").status_code == 403
    assert client.post("/admin/identity-providers/new", data=OIDC).status_code == 403
    assert len(providers(services)) == 1


def test_an_unknown_provider_is_a_404_page(client, services, admin):
    response = client.get("/admin/identity-providers/nope")
    assert response.status_code == 404 and "no such identity provider" in text(response)


# -- applications offering providers ----------------------------------------------------------
def test_the_application_forms_checkboxes_save_identity_provider_ids(app, client, services, admin):
    acme, other = register(services), register(services, name="Other SSO")
    form = text(client.get("/admin/applications/new"))
    assert f'value="{acme.id}"' in form and "Acme SSO" in form and "Other SSO" in form
    response = form_post(
        client,
        "/admin/applications/new",
        {
            "name": "Shop",
            "type": "spa",
            "redirect_uris": REDIRECT,
            "identity_provider_ids": [acme.id],
        },
    )
    assert response.status_code == 303
    client_id = response.headers["Location"].rsplit("/", 1)[1]
    assert stored(services, client_id).identity_provider_ids == [acme.id]
    detail = text(client.get(response.headers["Location"]))
    assert f'href="/admin/identity-providers/{acme.id}">Acme SSO</a>' in detail
    visitor = app.test_client()  # signed in nowhere: the login page
    assert "Continue with Acme SSO" in text(visitor.get(authorize(visitor, client_id)))

    form = text(client.get(f"/admin/applications/{client_id}/edit"))
    assert ticked(form, acme.id) and not ticked(form, other.id)
    data = {
        "csrf_token": csrf_token(form),
        "name": "Shop",
        "redirect_uris": REDIRECT,
        "grant_types": stored(services, client_id).grant_types,
        "scopes": " ".join(stored(services, client_id).scopes),
        "login_methods": stored(services, client_id).login_methods,
        "mfa": "off",
        "access_token_alg": "",
        "id_token_signed_response_alg": "RS256",
        "identity_provider_ids": [other.id, acme.id],
    }
    response = client.post(f"/admin/applications/{client_id}/edit", data=data)
    assert response.status_code == 303
    assert stored(services, client_id).identity_provider_ids == [other.id, acme.id]
    update = events(services, "admin.application.update")[-1]
    assert update.details["fields"] == ["identity_provider_ids"]

    response = client.post(f"/admin/applications/{client_id}/edit", data={**data, "identity_provider_ids": []})
    assert response.status_code == 303
    assert stored(services, client_id).identity_provider_ids == []
    assert "Continue with" not in text(visitor.get(authorize(visitor, client_id)))


def test_an_unknown_provider_on_the_application_form_is_refused(client, services, admin):
    response = form_post(
        client, "/admin/applications/new", {"name": "Shop", "type": "spa", "identity_provider_ids": ["ghost"]}
    )
    assert response.status_code == 400
    assert "unknown identity provider &#39;ghost&#39;" in text(response)
    assert [a.name for a in services.clients.list_applications() if a.name == "Shop"] == []


def test_a_multi_line_private_key_is_sealed_as_typed_and_never_sent_back(client, services, admin):
    key = "-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49\nAwEHBHkwdwIBAQQg\n-----END PRIVATE KEY-----"
    refused = form_post(
        client, "/admin/identity-providers/new", {**OIDC, "client_secret": "", "issuer": "", "private_key": key}
    )
    assert refused.status_code == 400 and "MIGTAgEA" not in text(refused)
    create(client, {**OIDC, "client_secret": "", "private_key": key, "team_id": "TEAM123", "key_id": "KEY456"})
    (provider,) = providers(services)
    assert CodeCipher(services.settings.secret_key).unseal(sealed_secret(services, provider.id)) == key
    assert provider.options == {"team_id": "TEAM123", "key_id": "KEY456"}
    assert "MIGTAgEA" not in text(client.get(f"/admin/identity-providers/{provider.id}/edit"))


def test_an_edit_that_changes_nothing_writes_nothing(client, services, admin):
    acme = register(services, options={"team_id": "T1", "extra": "kept"})
    response = form_post(
        client,
        f"/admin/identity-providers/{acme.id}/edit",
        {"name": "Acme SSO", "client_id": "acme-client", "issuer": "https://sso.acme.example", "team_id": "T1"},
        get_url=f"/admin/identity-providers/{acme.id}/edit",
    )
    assert response.status_code == 303
    assert "Nothing was changed." in text(client.get(response.headers["Location"]))
    assert events(services, "admin.identity_provider.update") == []
    assert providers(services)[0].options == {"team_id": "T1", "extra": "kept"}
