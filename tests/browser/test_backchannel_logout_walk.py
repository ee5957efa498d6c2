"""One walk in a real browser: sign in to two applications through the hosted pages (one of
them third party, allowed on the consent page), then on the account page sign this browser
out (the first application's receiver gets a valid logout token naming the ID token's ``sid``)
and, signed in again, revoke the third-party application's access."""

from __future__ import annotations

import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.models import Consent
from tests.browser.test_oidc_walks import RelyingParty, sign_in_with_password, wait_for_callback
from tests.factories import users
from tests.receivers import LogoutReceiver


def test_sign_out_on_the_account_page_tells_the_application(live_server, services, page, shot):
    user = users.create(services, "ada", name="Ada Lovelace")
    with LogoutReceiver() as receiver:
        shop = RelyingParty(services, live_server, name="shop", backchannel_logout_uri=receiver.url)
        printer = RelyingParty(services, live_server, name="printer", first_party=False)

        page.goto(shop.authorize_url())
        sign_in_with_password(page, shot)
        sid = shop.finish(wait_for_callback(page, shop))["claims"]["sid"]
        page.goto(printer.authorize_url())
        page.wait_for_url(f"{live_server}/consent?**")
        page.get_by_role("button", name="Allow").click()
        printer.finish(wait_for_callback(page, printer))

        page.goto(f"{live_server}/account")
        page.wait_for_selector("#sessions")
        assert page.locator("#sessions .badge").inner_text() == "This browser"
        assert page.locator("#applications").get_by_text("printer").count() == 1
        shot("account")
        page.locator("#sessions li.session").get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{live_server}/logout**")
        shot("signed-out")

        assert services.backchannel.run_due().delivered == 1
        [token] = receiver.tokens
    keys = KeySet.import_key_set(requests.get(f"{live_server}/oauth2/jwks", timeout=5).json())
    logout = jwt.decode(token, keys)
    assert logout.header["typ"] == "logout+jwt"
    assert (logout.claims["aud"], logout.claims["sub"], logout.claims["sid"]) == (shop.client_id, user.sub, sid)
    assert "http://schemas.openid.net/event/backchannel-logout" in logout.claims["events"]

    # back in, then withdraw the third-party application's access
    page.goto(f"{live_server}/account")
    sign_in_with_password(page, shot)
    page.wait_for_selector("#applications")
    page.locator("#applications").get_by_role("button", name="Revoke access").click()
    page.wait_for_selector("text=The application's access was revoked.")
    shot("revoked")
    assert page.locator("#applications").get_by_text("printer").count() == 0
    services.db.session.expire_all()
    assert services.db.session.scalars(select(Consent).where(Consent.client_id == printer.client_id)).all() == []
