"""Signing in with another identity provider in a real browser: "Continue with Acme SSO" on
Gatehouse's login page, the upstream's own login page (a second Gatehouse on loopback), back
signed in at the client application; then the account page lists the link."""

from __future__ import annotations

from sqlalchemy import select

from idp.models import FederatedLink
from tests.browser.test_oidc_walks import RelyingParty, wait_for_callback
from tests.factories import PASSWORD, users
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


def test_an_existing_account_is_linked_only_after_its_owner_signs_in_then_unlinked(
    live_server,
    services,
    upstream,  # noqa: F811 (the fixture imported above)
    provider,  # noqa: F811 (the fixture imported above)
    page,
    shot,
):
    owner = users.create(services, "owner", with_password=True, with_verified_email=UPSTREAM_EMAIL)
    rp = RelyingParty(services, live_server, name="shop", identity_provider_ids=[provider["id"]])
    page.goto(rp.authorize_url())
    page.get_by_role("button", name="Continue with Acme SSO", exact=True).click()
    page.wait_for_url(f"{upstream.issuer}/login?**")
    page.fill("input[name=username]", UPSTREAM_USERNAME)
    page.fill("input[name=password]", UPSTREAM_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # back at Gatehouse: the address is taken, so nothing is linked until its owner signs in
    page.get_by_text("An account with this email already exists — sign in to link").wait_for()
    shot("sign-in-to-link")
    assert services.db.session.scalars(select(FederatedLink)).all() == []
    page.get_by_role("link", name="Sign in to link").click()
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    claims = rp.finish(wait_for_callback(page, rp))["claims"]
    assert claims["sub"] == owner.sub and claims["amr"] == ["pwd", "fed"]
    services.db.session.expire_all()
    [link] = services.db.session.scalars(select(FederatedLink))
    assert (link.sub, link.subject) == (owner.sub, upstream.user_sub)

    # the owner has a password too, so the link may go
    page.goto(f"{live_server}/account")
    page.locator("#linked").get_by_role("button", name="Unlink").click()
    page.get_by_text("The account was unlinked.").wait_for()
    shot("unlinked")
    services.db.session.expire_all()
    assert services.db.session.scalars(select(FederatedLink)).all() == []
