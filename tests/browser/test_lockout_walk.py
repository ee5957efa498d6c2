"""The brute-force policy walked in a real browser: wrong passwords on the hosted login page of
an application until the captcha shows, then, with the captcha solved each time, until the
account is temporarily locked; an administrator's unlock lets the person in.

The captcha's answer is known because the live server runs in this process, on services built
with a fixed captcha answer (the ``captcha_answers`` fixture).
"""

from __future__ import annotations

import pytest

from idp.context import RequestContext
from tests.browser.test_oidc_walks import PASSWORD, RelyingParty, wait_for_callback
from tests.factories import users

CAPTCHA_AFTER, LOCK_AFTER, LOCK_SECONDS = 3, 5, 600
ANSWER = "ACDEF"


@pytest.fixture
def captcha_answers():
    return lambda: ANSWER


@pytest.fixture
def user(services):
    return users.create(services, "ada", with_password=PASSWORD, name="Ada Lovelace")


def attempt(page, password: str, answer: str | None = None) -> None:
    """One submit of the login form; waits for the answer page."""
    page.get_by_label("Username, email or phone number").fill("ada")
    page.get_by_label("Password", exact=True).fill(password)
    if answer is not None:
        page.get_by_label("Characters in the image").fill(answer)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()


def captcha_shown(page) -> bool:
    return page.locator("img.captcha-image").count() == 1


@pytest.mark.limits(
    login_captcha_after=CAPTCHA_AFTER,
    login_captcha_after_identifier=CAPTCHA_AFTER,
    login_lock_after=LOCK_AFTER,
    login_lock_seconds=LOCK_SECONDS,
)
def test_wrong_passwords_until_the_captcha_then_the_lock(live_server, services, user, page, shot):
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    rp = RelyingParty(services, live_server, name="lockout-app")
    page.goto(rp.authorize_url())
    page.wait_for_selector("input[name=username]")

    # a few wrong passwords: the captcha joins the form
    for _ in range(CAPTCHA_AFTER - 1):
        attempt(page, "wrong password")
        assert page.get_by_role("alert").first.inner_text() == "The username or password is incorrect."
        assert not captcha_shown(page)
    attempt(page, "wrong password")
    assert captcha_shown(page)
    image = page.locator("img.captcha-image")
    assert image.is_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")  # the data: URI loads under the CSP
    assert image.get_attribute("alt") and ANSWER not in image.get_attribute("alt")
    assert page.get_by_label("Username, email or phone number").input_value() == "ada"
    shot("captcha")

    # "Show a new image" is a plain link that keeps the username
    before = page.locator("input[name=captcha_challenge]").get_attribute("value")
    with page.expect_navigation():
        page.get_by_role("link", name="Show a new image").click()
    assert page.locator("input[name=captcha_challenge]").get_attribute("value") != before
    assert page.get_by_label("Username, email or phone number").input_value() == "ada"

    # the wrong characters: an error on the captcha input, a new image, no password checked
    attempt(page, PASSWORD, answer="WXY34")
    captcha = page.get_by_label("Characters in the image")
    assert captcha.get_attribute("aria-invalid") == "true"
    assert page.locator("#captcha-error").inner_text() == "That was not what the image showed. Try this new image."
    assert page.evaluate("document.activeElement.id") == "captcha"
    shot("captcha-wrong-answer")

    # solved captchas, wrong passwords: locked, with a message on the form saying when
    for _ in range(LOCK_AFTER - CAPTCHA_AFTER):  # the last one allowed starts the lock
        attempt(page, "wrong password", answer=ANSWER.lower())
    alert = page.locator(".alert-error[role=alert]")
    assert alert.inner_text() == "Too many failed attempts. Try again in 10 minutes."
    assert not captcha_shown(page)
    assert page.get_by_role("button", name="Sign in", exact=True).is_visible()  # the form stays
    shot("locked")

    # the right password during the lock is refused too
    attempt(page, PASSWORD)
    assert "Too many failed attempts." in page.locator(".alert-error[role=alert]").inner_text()

    # an administrator unlocks: the right password (and a captcha, if still due) gets in
    assert services.bruteforce.unlock("ada", RequestContext(ip="127.0.0.1"))
    page.goto(page.url)
    attempt(page, PASSWORD, answer=ANSWER if captcha_shown(page) else None)
    token = rp.finish(wait_for_callback(page, rp))
    assert token["claims"]["sub"] == user.sub
    assert not [p for p in problems if "Content Security Policy" in p]


@pytest.mark.limits(login_captcha_after=1, login_lock_after=2, login_lock_seconds=LOCK_SECONDS)
def test_captcha_and_lock_in_chinese(live_server, services, user, page, shot):
    rp = RelyingParty(services, live_server, name="zh-lockout")
    page.goto(rp.authorize_url(ui_locales="zh-CN"))
    page.get_by_label("用户名、邮箱或手机号").fill("ada")
    page.get_by_label("密码", exact=True).fill("wrong password")
    with page.expect_navigation():
        page.get_by_role("button", name="登录", exact=True).click()
    assert page.get_by_label("图中的字符").is_visible()
    assert page.get_by_role("link", name="换一张图片").is_visible()
    shot("captcha-zh")
    page.get_by_label("密码", exact=True).fill("wrong password")
    page.get_by_label("图中的字符").fill(ANSWER)
    with page.expect_navigation():
        page.get_by_role("button", name="登录", exact=True).click()
    assert "失败次数过多" in page.locator(".alert-error[role=alert]").inner_text()
    shot("locked-zh")
