"""Signing in with another identity provider in a real browser: "Continue with Acme SSO" on
Gatehouse's login page, the upstream's own login page (a second Gatehouse on loopback), back
signed in at the client application; then the account page lists the link."""

from __future__ import annotations

from tests.browser.test_oidc_walks import RelyingParty, wait_for_callback
from tests.federation.conftest import (  # noqa: F401 (fixtures)
    UPSTREAM_EMAIL,
    UPSTREAM_PASSWORD,
    UPSTREAM_USERNAME,
    provider,
    upstream,
    upstream_gatehouse,
)


def test_continue_with_a_provider_then_the_account_page_lists_the_link(
    live_server,
    services,
    upstream,  # noqa: F811 (the fixture imported above)
    provider,  # noqa: F811 (the fixture imported above)
    page,
    shot,
):
    rp = RelyingParty(services, live_server, name="shop", identity_provider_ids=[provider["id"]])
    page.goto(rp.authorize_url())
    page.get_by_role("button", name="Continue with Acme SSO", exact=True).wait_for()
    shot("login-with-provider")
    page.get_by_role("button", name="Continue with Acme SSO", exact=True).click()

    page.wait_for_url(f"{upstream.issuer}/login?**")  # the upstream's own login page
    shot("upstream-login")
    page.fill("input[name=username]", UPSTREAM_USERNAME)
    page.fill("input[name=password]", UPSTREAM_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    token = rp.finish(wait_for_callback(page, rp))
    shot("back-at-app")
    claims = token["claims"]
    assert claims["amr"] == ["fed"]
    person = services.users.by_sub(claims["sub"])
    assert person.email == UPSTREAM_EMAIL and person.email_verified

    page.goto(f"{live_server}/account")
    page.get_by_role("heading", name="Linked accounts").wait_for()
    linked = page.locator("#linked")
    assert "Acme SSO" in linked.inner_text() and linked.get_by_role("button", name="Unlink").count() == 1
    shot("account-linked")
