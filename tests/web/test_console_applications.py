"""The admin console's application and auth source pages through Flask's test client: the list
without the console's own client, creation through the admin API's own request model with the
client secret shown once (and working), edits as PATCHes, secret rotation, deletion confirmed
on a second page, CSRF, the 403 for non-administrators, and the auth source pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp import console
from idp.models import Application, AuditEvent, AuthSource
from idp.oauth.registration import OTP_SMS_GRANT
from tests.factories import applications, auth_sources, users
from tests.web.conftest import csrf_token, text
from tests.web.test_console import sign_in

ONCE = re.compile(r'name="once" type="hidden" value="([^"]+)"')
SECRET = re.compile(r'class="client-secret">([^<]+)<')
CLIENT_ID = re.compile(r'class="client-id">([^<]+)<')


@pytest.fixture
def admin(client, services):
    root = users.create(services, "root", roles=["admin"])
    sign_in(client, "root")
    return root


def form_post(client, url: str, data: dict, *, get_url: str | None = None):
    """GET the form page, then POST ``data`` with its CSRF (and single-use) tokens."""
    page = text(client.get(get_url or url))
    tokens = {"csrf_token": csrf_token(page)}
    once = ONCE.search(page)
    if once:
        tokens["once"] = once.group(1)
    return client.post(url, data={**tokens, **data})


def stored(services, client_id: str) -> Application | None:
    services.db.session.expire_all()
    return services.db.session.scalar(select(Application).where(Application.client_id == client_id))


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def others(services) -> list[Application]:
    services.db.session.expire_all()
    return [a for a in services.clients.list_applications() if a.client_id != console.CONSOLE_CLIENT_ID]


def client_credentials(client, client_id: str, secret: str):
    return client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )


# -- applications ---------------------------------------------------------------------------
def test_the_list_shows_applications_but_not_the_consoles_own(client, services, admin):
    applications.create(services, client_id="shop-web", name="Shop")
    page = text(client.get("/admin/applications"))
    assert "Shop" in page and "shop-web" in page and 'href="/admin/applications/shop-web"' in page
    assert "New application" in page
    assert services.clients.by_client_id(console.CONSOLE_CLIENT_ID) is not None  # it exists, unlisted
    assert console.CONSOLE_CLIENT_ID not in page
    assert 'href="/admin/applications" aria-current="page"' in page


def test_the_consoles_own_application_cannot_be_changed_from_the_console(client, services, admin):
    own = f"/admin/applications/{console.CONSOLE_CLIENT_ID}"
    before = stored(services, console.CONSOLE_CLIENT_ID).client_secret_hash
    for path in (own, f"{own}/edit", f"{own}/secret", f"{own}/delete"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "no such application" in text(response)
    token = csrf_token(text(client.get("/admin/applications")))
    for path in (f"{own}/edit", f"{own}/secret", f"{own}/delete"):
        assert client.post(path, data={"csrf_token": token, "name": "taken over"}).status_code == 404
    after = stored(services, console.CONSOLE_CLIENT_ID)
    assert after is not None and after.name == console.CONSOLE_NAME and after.client_secret_hash == before
    assert client.get("/admin").status_code == 200  # the console still signs in with it


def test_an_unknown_application_is_a_404_page(client, services, admin):
    response = client.get("/admin/applications/nope")
    assert response.status_code == 404
    assert "no such application" in text(response) and "Error 404" in text(response)


def test_creating_a_confidential_application_shows_its_secret_once_and_it_works(client, services, admin):
    page = text(client.get("/admin/applications/new"))
    once = ONCE.search(page).group(1)
    data = {
        "csrf_token": csrf_token(page),
        "once": once,
        "name": "Billing robot",
        "type": "m2m",
        "grant_types": "client_credentials",
        "scopes": "admin",
    }
    response = client.post("/admin/applications/new", data=data)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert "Copy this client secret now: it is shown only once." in page
    client_id, secret = CLIENT_ID.search(page).group(1), SECRET.search(page).group(1)
    app = stored(services, client_id)
    assert app.name == "Billing robot" and app.type == "m2m" and app.grant_types == ["client_credentials"]
    assert app.check_client_secret(secret)
    assert client_credentials(client, client_id, secret).status_code == 200
    # the secret is in no session or flash message
    with client.session_transaction() as session:
        assert secret not in repr(dict(session))
    # sending the same form again (a reload) neither shows a secret nor makes a second application
    again = client.post("/admin/applications/new", data=data)
    assert again.status_code == 303
    assert [a.client_id for a in others(services)] == [client_id]
    assert secret not in text(client.get(again.headers["Location"]))
    assert secret not in text(client.get(f"/admin/applications/{client_id}"))
    event = events(services, "admin.application.create")[-1]
    assert event.client_id == client_id and event.actor == admin.sub


def test_a_web_application_with_every_field(client, services, admin):
    sms = auth_sources.create(services, "sms", id="sms-main", name="Main SMS")
    response = form_post(
        client,
        "/admin/applications/new",
        {
            "name": "Shop",
            "type": "web",
            "redirect_uris": "https://shop.example/cb\r\n\r\n  https://shop.example/cb2  \r\n",
            "post_logout_redirect_uris": "https://shop.example/bye",
            "grant_types": ["authorization_code", "refresh_token", OTP_SMS_GRANT],
            "scopes": "openid  profile phone",
            "login_methods": ["password", "sms_otp"],
            "auth_source_ids": [sms.id],
            "mfa": "required",
            "first_party": "y",
            "access_token_alg": "ES256",
            "id_token_signed_response_alg": "RS256",
        },
    )
    assert response.status_code == 200
    app = stored(services, CLIENT_ID.search(text(response)).group(1))
    assert app.redirect_uris == ["https://shop.example/cb", "https://shop.example/cb2"]
    assert app.post_logout_redirect_uris == ["https://shop.example/bye"]
    assert app.grant_types == ["authorization_code", "refresh_token", OTP_SMS_GRANT]
    assert app.scopes == ["openid", "profile", "phone"]
    assert app.login_methods == ["password", "sms_otp"]
    assert [s.id for s in app.auth_sources] == ["sms-main"]
    assert app.mfa == "required" and app.first_party and not app.auto_signup
    assert app.access_token_alg == "ES256"
    detail = text(client.get(f"/admin/applications/{app.client_id}"))
    assert "https://shop.example/cb2" in detail and "Main SMS" in detail and "Required" in detail


def test_a_public_client_gets_no_secret(client, services, admin):
    response = form_post(client, "/admin/applications/new", {"name": "Phone app", "type": "native"})
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "The application is created." in page and "none (a public client)" in page
    assert "Rotate secret" not in page
    (app,) = others(services)
    assert app.type == "native" and app.client_secret_hash is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "type": "web"}, "name: Field required"),
        ({"name": "X", "type": "mainframe"}, "type: Input should be"),
        ({"name": "X", "type": "web", "grant_types": "password"}, "unsupported grant type"),
        ({"name": "X", "type": "web", "mfa": "sometimes"}, "mfa: Input should be"),
        ({"name": "X", "type": "web", "auth_source_ids": "ghost"}, "unknown auth sources"),
    ],
)
def test_bad_input_is_refused_with_the_apis_message_and_nothing_is_made(client, services, admin, fields, message):
    response = form_post(client, "/admin/applications/new", fields)
    assert response.status_code == 400
    page = text(response)
    assert message in page
    assert "client_secret" not in page
    assert ONCE.search(page)  # the form comes back, ready to send again
    assert others(services) == []
    assert events(services, "admin.application.create") == []


def test_edit_changes_only_the_fields_the_operator_changed(client, services, admin):
    app = applications.create(services, client_id="shop", name="Shop", redirect_uris=["https://shop.example/cb"])
    form = text(client.get("/admin/applications/shop/edit"))
    assert 'value="Shop"' in form and "https://shop.example/cb" in form
    assert "the type cannot be changed" in form
    data = {
        "csrf_token": csrf_token(form),
        "name": "Shop two",
        "type": "spa",  # ignored: the type is not a field of a PATCH
        "redirect_uris": "https://shop.example/cb\nhttps://shop.example/new",
        "post_logout_redirect_uris": "",
        "grant_types": app.grant_types,
        "scopes": " ".join(app.scopes),
        "login_methods": app.login_methods,
        "mfa": "optional",
        "first_party": "y",
        "access_token_alg": "",
        "id_token_signed_response_alg": "RS256",
    }
    response = client.post("/admin/applications/shop/edit", data=data)
    assert response.status_code == 303
    assert "The application is saved." in text(client.get(response.headers["Location"]))
    changed = stored(services, "shop")
    assert changed.name == "Shop two" and changed.mfa == "optional" and changed.type == "web"
    assert changed.redirect_uris == ["https://shop.example/cb", "https://shop.example/new"]
    assert changed.scopes == app.scopes
    (event,) = events(services, "admin.application.update")
    assert event.actor == admin.sub and event.details["fields"] == ["mfa", "name", "redirect_uris"]


def test_a_bad_edit_is_refused_and_changes_nothing(client, services, admin):
    applications.create(services, client_id="shop", name="Shop")
    response = form_post(
        client,
        "/admin/applications/shop/edit",
        {"name": "Renamed", "grant_types": "password", "mfa": "off", "id_token_signed_response_alg": "RS256"},
    )
    assert response.status_code == 400
    assert "unsupported grant type" in text(response)
    assert stored(services, "shop").name == "Shop"


def test_rotating_the_secret(client, services, admin):
    applications.create(services, "m2m", client_id="robot", client_secret="old-secret", scopes=["admin"])
    detail = text(client.get("/admin/applications/robot"))
    assert 'href="/admin/applications/robot/secret"' in detail
    confirm = client.get("/admin/applications/robot/secret")
    assert confirm.status_code == 200 and "Replace the client secret" in text(confirm)
    assert stored(services, "robot").check_client_secret("old-secret")  # asking changes nothing
    page = text(confirm)
    data = {"csrf_token": csrf_token(page), "once": ONCE.search(page).group(1)}
    response = client.post("/admin/applications/robot/secret", data=data)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(text(response)).group(1)
    assert "Copy this client secret now: it is shown only once." in text(response)
    assert client_credentials(client, "robot", secret).status_code == 200
    assert client_credentials(client, "robot", "old-secret").status_code == 401
    (event,) = events(services, "admin.application.rotate_secret")
    assert event.actor == admin.sub and event.client_id == "robot"
    # a reload of that response rotates nothing
    again = client.post("/admin/applications/robot/secret", data=data)
    assert again.status_code == 303
    assert stored(services, "robot").check_client_secret(secret)
    assert len(events(services, "admin.application.rotate_secret")) == 1


def test_a_public_client_has_no_secret_to_rotate(client, services, admin):
    applications.create(services, "spa", client_id="spa-1")
    response = form_post(client, "/admin/applications/spa-1/secret", {})
    assert response.status_code == 400
    assert "a public client has no secret" in text(response)


def test_deleting_is_confirmed_then_removes_the_application(client, services, admin):
    applications.create(services, client_id="shop", name="Shop")
    confirm = client.get("/admin/applications/shop/delete")
    assert confirm.status_code == 200 and "Delete this application?" in text(confirm)
    assert stored(services, "shop") is not None
    response = client.post("/admin/applications/shop/delete", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/applications"
    assert stored(services, "shop") is None
    assert "The application is deleted." in text(client.get("/admin/applications"))
    (event,) = events(services, "admin.application.delete")
    assert event.actor == admin.sub and event.client_id == "shop"
    assert client.get("/admin/applications/shop").status_code == 404


def test_without_the_csrf_token_nothing_changes(client, services, admin):
    applications.create(services, "m2m", client_id="robot", client_secret="old-secret", name="Robot")
    page = text(client.get("/admin/applications/new"))
    once = ONCE.search(page).group(1)
    assert client.post("/admin/applications/new", data={"once": once, "name": "X", "type": "web"}).status_code == 400
    assert client.post("/admin/applications/robot/edit", data={"name": "Hijacked"}).status_code == 400
    rotate = text(client.get("/admin/applications/robot/secret"))
    response = client.post("/admin/applications/robot/secret", data={"once": ONCE.search(rotate).group(1)})
    assert response.status_code == 400 and "client-secret" not in text(response)
    assert client.post("/admin/applications/robot/delete").status_code == 400
    app = stored(services, "robot")
    assert app.name == "Robot" and app.check_client_secret("old-secret")
    assert [a.client_id for a in others(services)] == ["robot"]
    source = auth_sources.create(services, "sms", id="sms-x")
    assert client.post("/admin/auth-sources/new", data={"kind": "sms", "name": "Y"}).status_code == 400
    assert client.post("/admin/auth-sources/sms-x/delete").status_code == 400
    assert client.post("/admin/auth-sources/sms-x/edit", data={"name": "Z"}).status_code == 400
    services.db.session.expire_all()
    assert [s.id for s in services.clients.list_auth_sources()] == [source.id]
    assert services.clients.get_auth_source("sms-x").name == "sms"


def test_someone_without_the_admin_role_gets_403(client, services):
    users.create(services, "plain")
    applications.create(services, client_id="shop")
    auth_sources.create(services, "sms", id="sms-x")
    sign_in(client, "plain")
    for path in (
        "/admin/applications",
        "/admin/applications/new",
        "/admin/applications/shop",
        "/admin/applications/shop/edit",
        "/admin/applications/shop/delete",
        "/admin/auth-sources",
        "/admin/auth-sources/sms-x",
        "/admin/auth-sources/sms-x/delete",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/applications/shop/delete").status_code == 403
    assert stored(services, "shop") is not None


def test_without_a_session_the_pages_go_to_sign_in(client, services):
    for path in ("/admin/applications", "/admin/applications/new", "/admin/auth-sources"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


# -- auth sources ---------------------------------------------------------------------------
def test_auth_sources_are_created_edited_and_deleted(client, services, admin):
    response = form_post(
        client,
        "/admin/auth-sources/new",
        {"kind": "email", "id": "mail-main", "name": "Main email", "code_length": "8", "code_ttl": "300"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/auth-sources/mail-main"
    services.db.session.expire_all()
    source = services.clients.get_auth_source("mail-main")
    assert (source.kind, source.name, source.code_length, source.code_ttl) == ("email", "Main email", 8, 300)
    assert "Main email" in text(client.get("/admin/auth-sources"))
    (created,) = events(services, "admin.auth_source.create")
    assert created.actor == admin.sub

    form = text(client.get("/admin/auth-sources/mail-main/edit"))
    assert 'value="Main email"' in form and "the channel cannot be changed" in form
    data = {"csrf_token": csrf_token(form), "name": "Main email", "code_length": "6", "code_ttl": "300"}
    response = client.post("/admin/auth-sources/mail-main/edit", data={**data, "template": ""})
    assert response.status_code == 303
    services.db.session.expire_all()
    assert services.clients.get_auth_source("mail-main").code_length == 6
    (updated,) = events(services, "admin.auth_source.update")
    assert updated.actor == admin.sub and updated.details["fields"] == ["code_length"]

    confirm = client.get("/admin/auth-sources/mail-main/delete")
    assert confirm.status_code == 200 and "Delete this auth source?" in text(confirm)
    response = client.post("/admin/auth-sources/mail-main/delete", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 303
    services.db.session.expire_all()
    assert services.db.session.get(AuthSource, "mail-main") is None
    (deleted,) = events(services, "admin.auth_source.delete")
    assert deleted.actor == admin.sub
    assert client.get("/admin/auth-sources/mail-main").status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "sms", "code_length": "3"}, "code_length must be 4 to 10"),
        ({"kind": "sms", "code_ttl": "5000"}, "code_ttl must be 30 to 900 seconds"),
        ({"kind": "sms", "code_length": "six"}, "code_length: Input should be a valid integer"),
        ({"kind": "fax"}, "kind: Input should be"),
    ],
)
def test_a_bad_auth_source_is_refused(client, services, admin, fields, message):
    response = form_post(client, "/admin/auth-sources/new", fields)
    assert response.status_code == 400
    assert message in text(response)
    assert services.clients.list_auth_sources() == []


def test_an_auth_source_in_use_is_not_deleted(client, services, admin):
    source = auth_sources.create(services, "sms", id="sms-used", name="Used SMS")
    applications.create(services, client_id="shop", name="Shop", auth_sources=[source])
    detail = text(client.get("/admin/auth-sources/sms-used"))
    assert 'href="/admin/applications/shop"' in detail
    response = form_post(client, "/admin/auth-sources/sms-used/delete", {})
    assert response.status_code == 409
    page = text(response)
    assert "used by applications shop" in page and 'role="alert"' in page
    services.db.session.expire_all()
    assert services.db.session.get(AuthSource, "sms-used") is not None
    assert events(services, "admin.auth_source.delete") == []
