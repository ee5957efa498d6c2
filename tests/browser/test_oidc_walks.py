"""The redirect integration (OpenID Connect authorization code flow with PKCE) walked in a real
browser, end to end.

A relying party is played by Authlib's own OAuth 2.0 client (``OAuth2Session``): it builds the
authorize URL with PKCE S256, state and nonce, and exchanges the code over HTTP at the live
server, as a real web app would. Its redirect URI points at a path Gatehouse does not serve
(the browser lands on a 404 there), which is where the test reads the code, like the app would.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import PASSWORD, SECRET, applications, auth_sources, users

PHONE = "+8613612345678"


class RelyingParty:
    """One registered application and Authlib's client for it."""

    def __init__(self, services, base: str, *, name: str, login_methods=None, first_party=True, **fields) -> None:
        """``fields``: more of the application's settings (``mfa``, ``remember_device_days``...)."""
        self.base = base
        self.redirect_uri = f"{base}/rp/{name}/callback"
        self.post_logout_uri = f"{base}/rp/{name}/signed-out"
        app = applications.create(
            services,
            name=name,
            redirect_uris=[self.redirect_uri],
            post_logout_redirect_uris=[self.post_logout_uri],
            scopes=["openid", "profile", "phone"],
            login_methods=login_methods,
            auth_sources=[auth_sources.create(services, "sms")] if login_methods else [],
            first_party=first_party,
            **fields,
        )
        self.client_id = app.client_id
        self.session = OAuth2Session(
            app.client_id, SECRET, scope="openid profile", redirect_uri=self.redirect_uri, code_challenge_method="S256"
        )
        self.verifier = None
        self.state = None

    def authorize_url(self, **extra) -> str:
        from authlib.common.security import generate_token

        self.verifier = generate_token(48)
        url, self.state = self.session.create_authorization_url(
            f"{self.base}/oauth2/authorize", code_verifier=self.verifier, nonce="n-" + generate_token(8), **extra
        )
        return url

    def finish(self, callback_url: str) -> dict:
        """The app's callback: check state, exchange the code (PKCE), verify the ID token."""
        query = parse_qs(urlsplit(callback_url).query)
        assert query["state"] == [self.state]
        token = self.session.fetch_token(
            f"{self.base}/oauth2/token", authorization_response=callback_url, code_verifier=self.verifier
        )
        keys = KeySet.import_key_set(requests.get(f"{self.base}/oauth2/jwks", timeout=5).json())
        claims = jwt.decode(token["id_token"], keys).claims
        assert claims["aud"] == self.client_id
        assert claims["iss"] == self.base
        token["claims"] = claims
        return token


def wait_for_callback(page, rp: RelyingParty) -> str:
    page.wait_for_url(f"{rp.redirect_uri}?**")
    return page.url


@pytest.fixture
def user(services):
    return users.create(services, "ada", with_verified_phone=PHONE, name="Ada Lovelace")


@pytest.fixture
def sms_source(services):
    """Gatehouse's own pages (no application asking) send codes through the auth sources."""
    return auth_sources.create(services, "sms")


def sign_in_with_password(page, shot, username="ada", password=PASSWORD, button="Sign in"):
    page.wait_for_selector("input[name=username]")
    shot("login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name=button, exact=True).click()


def test_password_login_through_code_and_pkce(live_server, services, user, page, shot):
    rp = RelyingParty(services, live_server, name="shop")
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    token = rp.finish(wait_for_callback(page, rp))
    shot("back-at-app")

    claims = token["claims"]
    assert claims["sub"] == user.sub
    assert claims["amr"] == ["pwd"]
    assert claims["nonce"].startswith("n-")
    assert token["token_type"].lower() == "bearer"
    info = requests.get(
        f"{live_server}/oauth2/userinfo", timeout=5, headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert info["sub"] == user.sub


def test_sms_code_login_reads_the_code_from_the_outbox(live_server, services, user, outbox, page, shot):
    rp = RelyingParty(services, live_server, name="sms-app", login_methods=["sms_otp"])
    page.goto(rp.authorize_url())
    page.wait_for_selector("input[name=phone_number]")
    shot("phone")
    page.fill("input[name=phone_number]", "13612345678")
    page.get_by_role("button", name="Send code").click()
    page.wait_for_selector("input[name=code]")
    assert page.get_attribute("input[name=code]", "autocomplete") == "one-time-code"
    assert "136****5678" in page.content()  # the number is masked
    shot("code")
    page.fill("input[name=code]", outbox.last_code(PHONE))
    page.get_by_role("button", name="Verify").click()
    token = rp.finish(wait_for_callback(page, rp))
    assert token["claims"]["sub"] == user.sub
    assert token["claims"]["amr"] == ["otp", "sms"]


def test_signup_with_phone_verification(live_server, services, sms_source, outbox, page, shot):
    page.goto(f"{live_server}/signup/sms")
    page.wait_for_selector("input[name=phone_number]")
    shot("signup")
    page.fill("input[name=phone_number]", "13800138000")
    page.get_by_role("button", name="Send code").click()
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", outbox.last_code("+8613800138000"))
    if page.locator("input[name=username]").count():
        page.fill("input[name=username]", "grace")
        page.fill("input[name=password]", "a long new passphrase")
    shot("signup-verify")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_server}/account**")
    shot("account")

    created = services.users.by_contact("sms", "+8613800138000")
    assert created is not None and created.phone_verified
    assert services.sessions.get(page.context.cookies()[0]["value"]).sub == created.sub


def test_password_reset_by_code(live_server, services, sms_source, user, outbox, page, shot):
    page.goto(f"{live_server}/forgot/sms")
    page.wait_for_selector("input[name=phone_number]")
    shot("forgot")
    page.fill("input[name=phone_number]", "13612345678")
    page.get_by_role("button", name="Send code").click()
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", outbox.last_code(PHONE))
    new_password = "a brand new passphrase"
    for field in page.locator("input[type=password]").all():
        field.fill(new_password)
    shot("reset")
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_load_state()
    shot("reset-done")

    page.goto(f"{live_server}/login")
    sign_in_with_password(page, shot, password=PASSWORD)  # the old password no longer works
    page.wait_for_selector("[role=alert]")
    sign_in_with_password(page, shot, password=new_password)
    page.wait_for_url(f"{live_server}/account**")


def test_consent_for_a_third_party_app(live_server, services, user, page, shot):
    rp = RelyingParty(services, live_server, name="partner", first_party=False)
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/consent?**")
    assert "partner" in page.content()
    shot("consent")
    page.get_by_role("button", name="Allow").click()
    token = rp.finish(wait_for_callback(page, rp))
    assert token["claims"]["sub"] == user.sub

    # the answer is remembered: the next authorization goes straight back to the app
    page.goto(rp.authorize_url())
    rp.finish(wait_for_callback(page, rp))


def test_sso_into_a_second_app_and_logout(live_server, services, user, page, shot):
    first = RelyingParty(services, live_server, name="first")
    second = RelyingParty(services, live_server, name="second")
    page.goto(first.authorize_url())
    sign_in_with_password(page, shot)
    first_token = first.finish(wait_for_callback(page, first))

    page.goto(second.authorize_url())  # no password prompt: the SSO session signs the person in
    second_token = second.finish(wait_for_callback(page, second))
    shot("second-app")
    assert second_token["claims"]["sub"] == user.sub
    assert second_token["claims"]["auth_time"] == first_token["claims"]["auth_time"]

    page.goto(
        f"{live_server}/oauth2/logout?id_token_hint={second_token['id_token']}"
        f"&post_logout_redirect_uri={second.post_logout_uri}&state=bye"
    )
    confirm = page.get_by_role("button", name="Sign out")
    if confirm.count():
        shot("logout-confirm")
        confirm.click()
    page.wait_for_url(f"{second.post_logout_uri}?state=bye")
    shot("signed-out")

    page.goto(first.authorize_url())  # the session is gone: the login page again
    page.wait_for_selector("input[name=password]")


def test_demo_app_signs_in_through_the_hosted_pages(live_server, app, services, page, shot):
    """What `make run` offers a newcomer: /demo → hosted login → decoded ID token and userinfo."""
    from cli import DEMO, seed_demo

    with app.app_context():
        seed_demo(services)
    page.goto(f"{live_server}/demo")
    shot("demo")
    page.get_by_role("link", name="Sign in with Gatehouse").click()
    sign_in_with_password(page, shot, username=DEMO["user"]["username"], password=DEMO["user"]["password"])
    page.wait_for_url(f"{live_server}/demo/**")
    shot("demo-signed-in")
    text = page.content()
    demo_user = next(iter(services.users.search(username="demo")))
    assert demo_user.sub in text  # in the decoded ID token and in the userinfo
    assert '"amr"' in text and "pwd" in text


def test_login_page_in_chinese(live_server, services, user, page, shot):
    rp = RelyingParty(services, live_server, name="zh-app")
    page.goto(rp.authorize_url(ui_locales="zh-CN"))
    page.wait_for_selector("input[name=username]")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert "登录" in page.content()
    shot("login-zh")
    sign_in_with_password(page, shot, password="wrong password 1", button="登录")
    page.wait_for_selector("[role=alert]")
    shot("login-zh-error")
    sign_in_with_password(page, shot, button="登录")
    rp.finish(wait_for_callback(page, rp))
