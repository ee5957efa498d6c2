"""The admin console's application form sets, shows and removes the back-channel logout URI
(OpenID Connect Back-Channel Logout 1.0, 2.2); a bad one is shown on its field and changes nothing."""

from __future__ import annotations

from tests.factories import applications
from tests.web.conftest import csrf_token, text
from tests.web.test_console_applications import admin, form_post, stored  # noqa: F401 (fixture)


def edit_form(client, app, **changes) -> dict:
    form = text(client.get(f"/admin/applications/{app.client_id}/edit"))
    return {
        "csrf_token": csrf_token(form),
        "name": app.name,
        "redirect_uris": "\n".join(app.redirect_uris),
        "post_logout_redirect_uris": "",
        "grant_types": app.grant_types,
        "scopes": " ".join(app.scopes),
        "login_methods": app.login_methods,
        "mfa": app.mfa,
        "first_party": "y",
        "access_token_alg": "",
        "id_token_signed_response_alg": "RS256",
        **changes,
    }


def test_the_form_sets_shows_and_removes_the_uri(client, services, admin):  # noqa: F811
    app = applications.create(services, client_id="shop", name="Shop")
    assert "Back-channel logout URI" in text(client.get("/admin/applications/shop/edit"))
    data = edit_form(client, app, backchannel_logout_uri="https://shop.example/bcl")
    response = client.post("/admin/applications/shop/edit", data=data)
    assert response.status_code == 303
    assert stored(services, "shop").backchannel_logout_uri == "https://shop.example/bcl"
    assert "<code>https://shop.example/bcl</code>" in text(client.get("/admin/applications/shop"))
    assert 'value="https://shop.example/bcl"' in text(client.get("/admin/applications/shop/edit"))

    response = client.post("/admin/applications/shop/edit", data=edit_form(client, app, backchannel_logout_uri=""))
    assert response.status_code == 303
    assert stored(services, "shop").backchannel_logout_uri is None


def test_a_bad_uri_is_shown_on_its_field(client, services, admin):  # noqa: F811
    app = applications.create(services, client_id="shop", name="Shop")
    data = edit_form(client, app, backchannel_logout_uri="https://shop.example/bcl#top")
    response = client.post("/admin/applications/shop/edit", data=data)
    assert response.status_code == 400
    assert "backchannel_logout_uri must be" in text(response)
    assert stored(services, "shop").backchannel_logout_uri is None


def test_a_new_application_with_the_uri(client, services, admin):  # noqa: F811
    response = form_post(
        client,
        "/admin/applications/new",
        {
            "name": "Shop",
            "type": "web",
            "mfa": "off",
            "id_token_signed_response_alg": "RS256",
            "backchannel_logout_uri": "https://shop.example/bcl",
        },
    )
    assert response.status_code == 200, text(response)[:500]
    [created] = [a for a in services.clients.list_applications() if a.name == "Shop"]
    assert created.backchannel_logout_uri == "https://shop.example/bcl"
