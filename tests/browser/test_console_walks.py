"""The admin console walked in a real browser: an operator signs in through the hosted login
(the console is an OpenID Connect client of Gatehouse) and reaches the dashboard; someone
without the admin role gets the 403 page; the search finds a person; Lock (confirmed on a
second page) stops that person's password sign-in; Sign out everywhere, Disable and Unlock as
the person sees them in a browser of her own; the console in Simplified Chinese."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, users


@pytest.fixture
def operator(services):
    return users.create(services, "operator", with_password=PASSWORD, roles=["admin"])


@pytest.fixture
def ada(services):
    return users.create(services, "ada", with_password=PASSWORD, with_verified_email="ada@example.com", name="Ada")


def sign_in(page, base: str, username: str, path: str = "/admin") -> None:
    """Open a console page; the hosted login asks for a password; back to the console."""
    page.goto(base + path)
    page.wait_for_selector("input[name=username]")
    assert "/login?authz=" in page.url
    page.get_by_label("Username, email or phone number").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()


def watch_console_errors(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    return problems


def test_an_operator_signs_in_and_reaches_the_dashboard(live_server, operator, page, shot):
    problems = watch_console_errors(page)
    sign_in(page, live_server, "operator")
    assert page.url == f"{live_server}/admin"
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    assert page.get_by_text("Failed sign-ins, last 24 hours").is_visible()
    assert page.get_by_text("SMS codes sent today").is_visible()
    shot("dashboard")
    # keyboard: the skip link, then the navigation, all reachable with Tab
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # Sign out ends the console session: /admin asks for the sign-in again
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Signed out"
    page.goto(live_server + "/admin")
    page.wait_for_selector("input[name=username]")
    # no Content-Security-Policy violation (the browser's own favicon request may 404)
    assert [p for p in problems if "favicon" not in p and "404" not in p] == []


def test_someone_without_the_admin_role_gets_the_403_page(live_server, ada, page, shot):
    sign_in(page, live_server, "ada")
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    assert "may not use the admin console" in page.get_by_role("alert").inner_text()
    response = page.goto(live_server + "/admin/users")
    assert response is not None and response.status == 403
    shot("forbidden")


def test_search_finds_a_user(live_server, operator, ada, page, shot):
    sign_in(page, live_server, "operator")
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Search by username, email or phone number").fill("ada@")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=ada%40" in page.url
    rows = page.locator("table.console-table tbody tr")
    assert rows.count() == 1
    assert "ada@example.com" in rows.first.inner_text()
    shot("search")
    with page.expect_navigation():
        rows.first.get_by_role("link", name="ada").click()
    assert page.get_by_role("heading", level=1).inner_text() == "ada"


def test_lock_then_the_persons_password_sign_in_is_refused(live_server, browser, services, operator, ada, page, shot):
    sign_in(page, live_server, "operator", f"/admin/users/{ada.sub}")
    assert page.locator(".user-status").inner_text() == "Active"
    with page.expect_navigation():
        page.get_by_role("link", name="Lock", exact=True).click()
    assert "Lock this account?" in page.locator(".lead").inner_text()
    shot("confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Lock", exact=True).click()
    assert page.locator(".user-status").inner_text() == "Locked"
    assert "The account is locked." in page.locator(".flashes").inner_text()
    shot("locked")

    # Ada, in a browser of her own, is refused
    context = browser.new_context(locale="en-US")
    try:
        other = context.new_page()
        other.goto(live_server + "/login")
        other.get_by_label("Username, email or phone number").fill("ada")
        other.get_by_label("Password", exact=True).fill(PASSWORD)
        with other.expect_navigation():
            other.get_by_role("button", name="Sign in", exact=True).click()
        assert "This account is locked or disabled." in other.content()
        assert other.context.cookies() == [] or all(c["name"] != "gh_sso" for c in other.context.cookies())
    finally:
        context.close()


def test_the_console_in_chinese(live_server, browser, operator):
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    try:
        page = context.new_page()
        page.goto(live_server + "/admin")
        page.wait_for_selector("input[name=username]")
        assert page.locator("html").get_attribute("lang") == "zh-Hans"  # the hosted login too
        page.locator("input[name=username]").fill("operator")
        page.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("form button[type=submit]").first.click()
        page.wait_for_load_state()
        assert page.url == f"{live_server}/admin"
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        assert page.get_by_role("heading", level=1).inner_text() == "仪表盘"
        assert page.get_by_role("link", name="用户").is_visible()
        assert (
            page.get_by_role("button", name="退出登录").is_visible()
            or page.locator(".console-signout button").is_visible()
        )
        for name in ("应用", "认证源", "审计日志"):
            assert page.get_by_role("link", name=name, exact=True).is_visible()
        with page.expect_navigation():
            page.get_by_role("link", name="签名密钥", exact=True).click()
        assert page.get_by_role("heading", level=1).inner_text() == "签名密钥"
        with page.expect_navigation():
            page.get_by_role("link", name="轮换签名密钥", exact=True).click()
        assert page.get_by_role("button", name="轮换签名密钥", exact=True).is_visible()
    finally:
        context.close()


def _person_signs_in(context, base: str) -> bool:
    """Ada signs in with her password in a browser of her own: True when /account opens."""
    page = context.new_page()
    page.goto(base + "/login")
    page.get_by_label("Username, email or phone number").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto(base + "/account")
    signed_in = "/account" in page.url and "/login" not in page.url
    page.close()
    return signed_in


def _confirm(page, action: str) -> None:
    """Click the user page's action, then the confirmation page's button of the same name."""
    with page.expect_navigation():
        page.get_by_role("link", name=action, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("button", name=action, exact=True).click()


def test_sign_out_everywhere_disable_and_unlock(live_server, browser, operator, ada, page, shot):
    """Each action as the person sees it: signed out of her own browser, refused while disabled,
    let in again once unlocked."""
    context = browser.new_context(locale="en-US")
    try:
        assert _person_signs_in(context, live_server)
        sign_in(page, live_server, "operator", f"/admin/users/{ada.sub}")
        assert page.locator("table.sessions tbody tr").count() == 1

        _confirm(page, "Sign out everywhere")
        assert "The person is signed out everywhere." in page.locator(".flashes").inner_text()
        assert page.locator("table.sessions tbody tr").count() == 0
        mine = context.new_page()
        mine.goto(live_server + "/account")
        assert "/login" in mine.url  # her browser's session ended
        mine.close()

        _confirm(page, "Disable")
        assert page.locator(".user-status").inner_text() == "Disabled"
        shot("disabled")
        assert not _person_signs_in(context, live_server)

        _confirm(page, "Unlock")
        assert page.locator(".user-status").inner_text() == "Active"
        assert _person_signs_in(context, live_server)
    finally:
        context.close()
