"""The second step walked in a real browser, end to end: SMS code from the outbox, TOTP
enrolment on the account page and login with a ``pyotp`` code, a recovery code, and a remembered
device that skips MFA until it is revoked on the account page."""

from __future__ import annotations

import pyotp
import pytest

from tests.browser.test_oidc_walks import PASSWORD, PHONE, RelyingParty, sign_in_with_password, wait_for_callback
from tests.factories import users


@pytest.fixture
def user(services):
    return users.create(services, "ada", with_verified_phone=PHONE, name="Ada Lovelace")


def mfa_app(services, base: str, name: str, *, policy: str = "required", remember_days: int = 0) -> RelyingParty:
    """A relying party whose application asks for MFA (and may remember devices)."""
    return RelyingParty(services, base, name=name, mfa=policy, remember_device_days=remember_days)


def sign_out(page, base: str) -> None:
    page.goto(f"{base}/logout")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=You are signed out")


def enter_code(page, code: str) -> None:
    field = page.get_by_label("Verification code")
    assert field.get_attribute("autocomplete") == "one-time-code"
    field.fill(code)
    page.get_by_role("button", name="Verify").click()


def test_password_then_sms_code_reaches_the_app_with_mfa(live_server, services, user, outbox, page, shot):
    rp = mfa_app(services, live_server, "bank")
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/mfa/sms?**")
    assert "136****5678" in page.content() and PHONE not in page.content()
    assert page.locator("#resend-cooldown[data-cooldown]").count() == 1  # the resend waits
    shot("mfa-sms")
    enter_code(page, outbox.last_code(PHONE))
    token = rp.finish(wait_for_callback(page, rp))
    shot("back-at-app")
    assert token["claims"]["sub"] == user.sub
    assert token["claims"]["amr"] == ["pwd", "sms", "mfa"]
    assert [r["usage"] for r in outbox.records()] == ["mfa"]  # one code, sent on arrival


def test_totp_enrolment_on_the_account_page_then_login_with_a_totp_code(live_server, services, user, page, shot):
    page.goto(f"{live_server}/login")
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/account**")
    shot("account")
    page.locator("form[action='/account/factors/totp'] button").click()
    page.wait_for_selector("img.qr")
    assert page.get_attribute("img.qr", "src").startswith("data:image/svg+xml;charset=utf-8,%3Csvg")
    secret = page.get_attribute("#totp-secret", "data-secret")
    shot("totp-setup")
    enter_code(page, pyotp.TOTP(secret).at(services.clock.time()))  # the server's clock
    page.wait_for_url(f"{live_server}/account**")
    assert page.get_by_text("Your authenticator app is set up.").is_visible()
    shot("totp-on")
    sign_out(page, live_server)

    rp = mfa_app(services, live_server, "ledger", policy="optional")  # an enrolled factor is enough
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/mfa/totp?**")
    shot("mfa-totp")
    enter_code(page, pyotp.TOTP(secret).at(services.clock.time() + 30))  # the next step: each code works once
    token = rp.finish(wait_for_callback(page, rp))
    assert token["claims"]["amr"] == ["pwd", "otp", "mfa"]


def test_recovery_code_login(live_server, services, user, page, shot):
    page.goto(f"{live_server}/login")
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/account**")
    page.get_by_role("button", name="Get codes").click()
    page.wait_for_selector(".recovery-codes")
    codes = [c.strip() for c in page.locator(".recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    shot("recovery-codes")
    page.get_by_role("link", name="I have saved these codes").click()
    page.wait_for_url(f"{live_server}/account**")
    assert "10 unused codes left." in page.content()
    sign_out(page, live_server)

    rp = mfa_app(services, live_server, "vault")
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/mfa/sms?**")
    page.get_by_role("link", name="Use a recovery code").click()
    page.wait_for_url(f"{live_server}/mfa/recovery?**")
    page.get_by_label("Recovery code").fill(codes[3])
    shot("mfa-recovery")
    page.get_by_role("button", name="Verify").click()
    token = rp.finish(wait_for_callback(page, rp))
    assert "mfa" in token["claims"]["amr"]
    assert services.factors.recovery_codes_left(user.sub) == 9


def test_remembered_device_skips_mfa_until_revoked(live_server, services, user, outbox, page, shot):
    rp = mfa_app(services, live_server, "broker", remember_days=30)
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/mfa/sms?**")
    page.get_by_label("Remember this device for 30 days").check()
    shot("mfa-remember")
    enter_code(page, outbox.last_code(PHONE))
    assert "mfa" in rp.finish(wait_for_callback(page, rp))["claims"]["amr"]
    device = next(c for c in page.context.cookies() if c["name"] == "gh_device")
    assert device["httpOnly"] and device["sameSite"] == "Lax"
    sign_out(page, live_server)

    page.goto(rp.authorize_url())  # the password still, the second step no more
    sign_in_with_password(page, shot)
    token = rp.finish(wait_for_callback(page, rp))
    assert token["claims"]["amr"] == ["pwd"]
    assert len(outbox.records()) == 1

    page.goto(f"{live_server}/account#devices")
    assert page.get_by_role("heading", name="Remembered devices").is_visible()
    shot("account-devices")
    page.locator("#devices").get_by_role("button", name="Forget").click()
    page.wait_for_selector("text=This device will be asked for a second step again.")
    shot("device-forgotten")
    sign_out(page, live_server)

    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot)
    page.wait_for_url(f"{live_server}/mfa/sms?**")
    shot("mfa-again")


def test_enrolment_during_sign_in_when_the_app_requires_mfa(live_server, services, page, shot):
    """No usable factor and no verified phone: set up an authenticator app on the spot; its
    first code is the second step."""
    person = users.create(services, "grace", with_password=PASSWORD, name="Grace Hopper")
    rp = mfa_app(services, live_server, "clinic")
    page.goto(rp.authorize_url())
    sign_in_with_password(page, shot, username="grace")
    page.wait_for_url(f"{live_server}/mfa/enrol?**")
    shot("mfa-enrol")
    page.get_by_role("button", name="Use an authenticator app").click()
    page.wait_for_selector("img.qr")
    secret = page.get_attribute("#totp-secret", "data-secret")
    shot("mfa-enrol-totp")
    enter_code(page, pyotp.TOTP(secret).at(services.clock.time()))  # the server's clock
    token = rp.finish(wait_for_callback(page, rp))
    assert token["claims"]["sub"] == person.sub
    assert token["claims"]["amr"] == ["pwd", "otp", "mfa"]
    assert services.factors.ready_types(person.sub) == ["totp"]


def test_mfa_page_in_simplified_chinese(live_server, services, user, outbox, page, shot):
    rp = mfa_app(services, live_server, "shop-zh", remember_days=7)
    page.goto(rp.authorize_url(ui_locales="zh-CN"))
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server}/mfa/sms?**")
    assert page.get_by_role("heading", name="两步验证").is_visible()
    shot("mfa-zh")
    page.get_by_label("验证码").fill(outbox.last_code(PHONE))
    page.get_by_role("button", name="验证", exact=True).click()
    assert "mfa" in rp.finish(wait_for_callback(page, rp))["claims"]["amr"]
    page.goto(f"{live_server}/account?ui_locales=zh-Hans")
    assert page.get_by_role("heading", name="两步验证").is_visible()
    assert page.get_by_role("heading", name="记住的设备").is_visible()
    shot("account-zh")
