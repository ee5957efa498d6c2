"""Admin API: an application's ``backchannel_logout_uri`` (OpenID Connect Back-Channel Logout
1.0, 2.2): registered, changed, removed, shown; a bad one is 400 in the API's error shape and
changes nothing; production takes https only."""

from __future__ import annotations

import pytest

from idp.errors import IdpError
from idp.oauth.clients import ClientService
from tests.api.test_admin import API, new_app
from tests.factories import CTX

BAD_URIS = [
    "/relative/logout",
    "ftp://rp.example/logout",
    "https://rp.example/logout#fragment",
    "https:///no-host",
    "not a uri",
    "https://[::1/logout",
    "https://rp.example:99999/logout",
    "https://rp.example/log out",
    "https://rp.example/" + "x" * 500,
    42,
    ["https://rp.example/logout"],
]


def test_registered_shown_changed_and_removed(client, admin_headers):
    app = new_app(client, admin_headers, backchannel_logout_uri="https://rp.example/bcl?tenant=1")
    assert app["backchannel_logout_uri"] == "https://rp.example/bcl?tenant=1"
    url = f"{API}/applications/{app['client_id']}"
    assert client.get(url, headers=admin_headers).get_json()["backchannel_logout_uri"] == app["backchannel_logout_uri"]
    changed = client.patch(url, json={"backchannel_logout_uri": "http://127.0.0.1:8080/bcl"}, headers=admin_headers)
    assert changed.status_code == 200 and changed.get_json()["backchannel_logout_uri"] == "http://127.0.0.1:8080/bcl"
    removed = client.patch(url, json={"backchannel_logout_uri": None}, headers=admin_headers)
    assert removed.get_json()["backchannel_logout_uri"] is None


def test_an_application_without_one_has_null(client, admin_headers):
    assert new_app(client, admin_headers)["backchannel_logout_uri"] is None


@pytest.mark.parametrize("uri", BAD_URIS)
def test_a_bad_uri_is_400_at_creation(client, admin_headers, uri):
    response = client.post(
        f"{API}/applications", json={"name": "App", "backchannel_logout_uri": uri}, headers=admin_headers
    )
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] in ("client.invalid_backchannel_logout_uri", "request.invalid")
    assert client.get(f"{API}/applications", headers=admin_headers).get_json() == []


@pytest.mark.parametrize("uri", BAD_URIS)
def test_a_bad_uri_is_400_in_a_patch_and_changes_nothing(client, admin_headers, uri):
    app = new_app(client, admin_headers, backchannel_logout_uri="https://rp.example/bcl")
    url = f"{API}/applications/{app['client_id']}"
    response = client.patch(url, json={"backchannel_logout_uri": uri}, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    assert client.get(url, headers=admin_headers).get_json()["backchannel_logout_uri"] == "https://rp.example/bcl"


def test_a_string_that_is_not_a_uri_names_the_rule(client, admin_headers):
    response = client.post(
        f"{API}/applications", json={"name": "App", "backchannel_logout_uri": "rp.example/bcl"}, headers=admin_headers
    )
    assert response.get_json()["error"] == "client.invalid_backchannel_logout_uri"


def test_production_takes_https_only(services):
    production = ClientService(services.db, require_https=True)
    with pytest.raises(IdpError) as refused:
        production.create_application({"name": "App", "backchannel_logout_uri": "http://rp.example/bcl"}, CTX)
    assert refused.value.code == "client.invalid_backchannel_logout_uri" and "https" in refused.value.message
    app, _ = production.create_application({"name": "App", "backchannel_logout_uri": "https://rp.example/bcl"}, CTX)
    assert app.backchannel_logout_uri == "https://rp.example/bcl"
