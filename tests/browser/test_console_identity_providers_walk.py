"""The admin console's identity provider pages walked in a real browser: an operator registers
an OpenID Connect provider (a refused value first), reads the redirect URI to register with it,
offers it on an application, and a visitor sees "Continue with <name>" on that application's
login page."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from idp.crypto import CodeCipher
from idp.models import Application, IdentityProvider
from tests.browser.test_console_walks import sign_in, watch_console_errors
from tests.factories import PASSWORD, REDIRECT_URI, applications, users

SECRET = "acme-upstream-secret-value"
VERIFIER = "a-code-verifier-long-enough-for-rfc-7636-walks-0123456789"


@pytest.fixture
def operator(services):
    return users.create(services, "operator", with_password=PASSWORD, roles=["admin"])


def registered(services) -> list[IdentityProvider]:
    services.db.session.expire_all()
    return list(services.db.session.scalars(select(IdentityProvider)))


def authorize_url(base: str, client_id: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "walk",
        "nonce": "walk",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{base}/oauth2/authorize?{urlencode(query)}"


def test_an_operator_offers_a_new_provider_on_an_application(live_server, services, operator, browser, page, shot):
    problems = watch_console_errors(page)
    applications.create(services, client_id="shop", name="Shop")
    sign_in(page, live_server, "operator")
    with page.expect_navigation():
        page.get_by_role("link", name="Identity providers").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Identity providers"
    assert page.get_by_role("link", name="Identity providers").get_attribute("aria-current") == "page"
    with page.expect_navigation():
        page.get_by_role("link", name="New identity provider").click()

    page.get_by_label("Name", exact=True).fill("Acme SSO")
    page.get_by_label("Kind", exact=True).select_option("oidc")
    page.get_by_label("Client ID", exact=True).fill("acme-client")
    page.get_by_label("Client secret", exact=True).fill(SECRET)
    page.get_by_label("Issuer", exact=True).fill("not a url")
    shot("provider-form")
    with page.expect_navigation():
        page.get_by_role("button", name="Create identity provider").click()
    assert "issuer" in page.get_by_role("alert").first.inner_text()
    assert page.get_by_label("Client secret", exact=True).input_value() == ""  # never sent back
    assert registered(services) == []
    shot("provider-refused")

    page.get_by_label("Client secret", exact=True).fill(SECRET)
    page.get_by_label("Issuer", exact=True).fill("https://sso.acme.example")
    with page.expect_navigation():
        page.get_by_role("button", name="Create identity provider").click()
    (provider,) = registered(services)
    assert page.get_by_role("heading", level=1).inner_text() == "Acme SSO"
    assert page.get_by_role("heading", name="Register this redirect URI with the provider").is_visible()
    assert page.locator("code.redirect-uri").inner_text() == f"{live_server}/login/federated/{provider.id}/callback"
    assert SECRET not in page.content()
    assert CodeCipher(services.settings.secret_key).unseal(provider.client_secret_sealed) == SECRET
    shot("provider")

    # offer it on the application
    page.goto(f"{live_server}/admin/applications/shop/edit")
    page.get_by_label("Acme SSO", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "The application is saved." in page.locator(".flashes").inner_text()
    assert page.locator(".app-providers").inner_text() == "Acme SSO"
    services.db.session.expire_all()
    shop = services.db.session.scalar(select(Application).where(Application.client_id == "shop"))
    assert shop.identity_provider_ids == [provider.id]
    folder = shot("application-offers-provider").parent

    # a visitor (signed in nowhere) sees the button on the application's login page
    visitor = browser.new_context(locale="en-US")
    try:
        login = visitor.new_page()
        login.goto(authorize_url(live_server, "shop"))
        login.wait_for_selector("input[name=username]")
        assert login.get_by_role("button", name="Continue with Acme SSO").is_visible()
        login.screenshot(path=str(folder / "99-login-page.png"), full_page=True)
    finally:
        visitor.close()
    expected = ("favicon", "404", "status of 400")  # the refused form answers 400 on purpose
    assert [p for p in problems if not any(e in p for e in expected)] == []
