"""Page-test helpers: a seeded application with both auth sources, pending authorize
requests, CSRF-aware form posting and a signed-in browser."""

from __future__ import annotations

import re

import pytest

from idp.context import RequestContext
from idp.oauth.authorize import AuthzRequest
from tests.factories import PASSWORD, applications, auth_sources, users

CTX = RequestContext(ip="127.0.0.1")
PHONE = "+8613612345678"
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
    """An SMS and an email auth source (their ids)."""
    return [
        auth_sources.create(services, "sms", id="SMS_SOURCE").id,
        auth_sources.create(services, "email", id="EMAIL_SOURCE").id,
    ]


@pytest.fixture
def make_app(services, sources):
    """A web application (client secret ``factories.SECRET``) linked to both sources."""

    def make(client_id="WEB_APP", name="Web App", **extra):
        return applications.create(
            services, client_id=client_id, name=name, **{"auth_sources": sources, "scopes": ["openid"], **extra}
        )

    return make


@pytest.fixture
def web_app(make_app):
    return make_app()


@pytest.fixture
def authz(services, web_app):
    """A pending authorize request for ``web_app``; returns a factory for more."""

    def make(client=web_app, **extra):
        fields = {
            "id": "",
            "client_id": client.client_id,
            "client_name": client.name,
            "redirect_uri": "https://rp.example/cb",
            "scopes": ["openid", "profile"],
            "login_methods": list(client.login_methods),
        }
        fields.update(extra)
        return services.authz.stash(AuthzRequest(**fields))

    return make


@pytest.fixture
def user(services):
    return users.create(
        services, "alice", with_verified_phone=PHONE, with_verified_email="alice@example.com", name="Alice"
    )


@pytest.fixture
def signed_in(client, user, sources):
    """Sign ``user`` in with the password on the account client; returns the response."""
    response = submit(client, "/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def text(response) -> str:
    return response.get_data(as_text=True)
