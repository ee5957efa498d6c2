"""Page-test helpers: a seeded application with both auth sources, pending authorize
requests, CSRF-aware form posting and a signed-in browser."""

from __future__ import annotations

import re

import pytest

from idp.context import RequestContext
from idp.oauth.authorize import AuthzRequest
from tests.factories import users

CTX = RequestContext(ip="127.0.0.1")
PHONE = "+8613612345678"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def submit(client, url: str, data: dict, *, get_url: str | None = None, **kwargs):
    """GET the form page, then POST ``data`` with the page's CSRF token."""
    page = client.get(get_url or url, **kwargs)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data}, **kwargs)


@pytest.fixture
def sources(services):
    clients = services.clients
    clients.create_auth_source({"id": "SMS_SOURCE", "kind": "sms"}, CTX)
    clients.create_auth_source({"id": "EMAIL_SOURCE", "kind": "email"}, CTX)
    return ["SMS_SOURCE", "EMAIL_SOURCE"]


@pytest.fixture
def make_app(services, sources):
    def make(client_id="WEB_APP", name="Web App", **extra):
        data = {"client_id": client_id, "client_secret": "secret", "name": name, "type": "web",
                "redirect_uris": ["https://rp.example/cb"], "auth_source_ids": sources, "scopes": ["openid"]}
        data.update(extra)
        return services.clients.create_application(data, CTX)[0]

    return make


@pytest.fixture
def web_app(make_app):
    return make_app()


@pytest.fixture
def authz(services, web_app):
    """A pending authorize request for ``web_app``; returns a factory for more."""

    def make(client=web_app, **extra):
        fields = {"id": "", "client_id": client.client_id, "client_name": client.name,
                  "redirect_uri": "https://rp.example/cb", "scopes": ["openid", "profile"],
                  "login_methods": list(client.login_methods)}
        fields.update(extra)
        return services.authz.stash(AuthzRequest(**fields))

    return make


@pytest.fixture
def user(services):
    return users.create(services, "alice", with_password=PASSWORD, with_verified_phone=PHONE,
                        with_verified_email="alice@example.com", name="Alice")


@pytest.fixture
def signed_in(client, user, sources):
    """Sign ``user`` in with the password on the account client; returns the response."""
    response = submit(client, "/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def text(response) -> str:
    return response.get_data(as_text=True)
