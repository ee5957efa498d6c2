"""The admin console's operations walked in a real browser: an operator filters the audit log
and pages to older events; rotates a signing key after the confirmation page; opens a person,
sees their session, resets their second factors and deletes them after confirming."""

from __future__ import annotations

import pytest

from idp import audit, console
from idp.context import RequestContext
from tests.browser.test_console_walks import sign_in, watch_console_errors
from tests.factories import PASSWORD, users

BROWSER = RequestContext(ip="203.0.113.7", user_agent="Firefox/140")


@pytest.fixture
def operator(services):
    return users.create(services, "operator", with_password=PASSWORD, roles=["admin"])


@pytest.fixture
def ada(services):
    return users.create(
        services, "ada", with_password=PASSWORD, with_verified_email="ada@example.com", with_email_factor=True
    )


def test_an_operator_filters_the_audit_log_and_pages(live_server, services, operator, ada, page, shot):
    for _ in range(console.PAGE_SIZE + 3):
        audit.write(services.db, "login.failure", BROWSER, result="failure", sub=ada.sub)
    problems = watch_console_errors(page)
    sign_in(page, live_server, "operator")
    with page.expect_navigation():
        page.get_by_role("link", name="Audit log").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Audit log"
    page.get_by_label("Event").fill("login.*")
    page.get_by_label("Result").select_option("failure")
    page.get_by_label("User (sub)").fill(ada.sub)
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit-events tbody tr")
    assert rows.count() == console.PAGE_SIZE
    assert all("login.failure" in r and "Failure" in r for r in rows.all_inner_texts())
    assert page.get_by_label("Result").input_value() == "failure"  # the filters stay filled in
    shot("audit")
    with page.expect_navigation():
        page.get_by_role("link", name="Older events").click()
    assert "before_id=" in page.url and "result=failure" in page.url
    assert rows.count() == 3
    assert page.get_by_role("link", name="Older events").count() == 0  # the last page
    shot("audit-older")
    # a person's sub in the log opens their page
    with page.expect_navigation():
        rows.first.get_by_role("link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "ada"

    # a date that is not one: the page says why, answered 400
    response = page.goto(f"{live_server}/admin/audit?since=yesterday")
    assert response is not None and response.status == 400
    assert "since: expected ISO 8601" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("From (UTC)").input_value() == "yesterday"
    shot("audit-bad-filter")
    assert [p for p in problems if "favicon" not in p and "404" not in p and "400" not in p] == []


def test_an_operator_rotates_a_signing_key(live_server, services, operator, page, shot):
    old = services.keys.ensure_key("ES256")
    sign_in(page, live_server, "operator")
    with page.expect_navigation():
        page.get_by_role("link", name="Signing keys").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Signing keys"
    assert old in page.locator("table.signing-keys").inner_text()
    shot("keys")
    with page.expect_navigation():
        page.get_by_role("link", name="Rotate the ES256 key").click()
    assert "Make a new ES256 signing key?" in page.locator(".lead").inner_text()
    assert old in page.locator(".summary").inner_text()
    shot("rotate-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Rotate signing key").click()
    assert page.url == f"{live_server}/admin/keys"
    [new] = [k.kid for k in services.keys.all_keys() if k.alg == "ES256" and k.state == "active"]
    assert new != old and new in page.locator(".flashes").inner_text()
    table = page.locator("table.signing-keys")
    assert "Active" in table.locator("tr", has_text=new).inner_text()
    assert "Retired, still published" in table.locator("tr", has_text=old).inner_text()
    shot("rotated")
    published = {k["kid"] for k in page.request.get(f"{live_server}/oauth2/jwks").json()["keys"]}
    assert {old, new} <= published


def test_an_operator_resets_factors_and_deletes_a_user(live_server, services, operator, ada, page, shot):
    services.sessions.create(ada.sub, ["pwd"], BROWSER)
    sign_in(page, live_server, "operator", "/admin/users?q=ada")
    with page.expect_navigation():
        page.get_by_role("link", name="ada").click()
    sessions = page.locator("table.sessions tbody tr")
    assert sessions.count() == 1
    assert "203.0.113.7" in sessions.first.inner_text() and "Firefox/140" in sessions.first.inner_text()
    assert page.locator(".factor").count() == 1
    shot("user")

    with page.expect_navigation():
        page.get_by_role("link", name="Reset second factors").click()
    assert "Remove every second factor" in page.locator(".lead").inner_text()
    shot("reset-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Reset second factors").click()
    assert "Every second factor of the person is removed." in page.locator(".flashes").inner_text()
    assert page.locator(".factor").count() == 0
    assert services.factors.list(ada.sub) == []

    with page.expect_navigation():
        page.get_by_role("link", name="Delete user").click()
    assert "This cannot be undone." in page.locator(".lead").inner_text()
    # Cancel goes back to the person, nothing changed
    with page.expect_navigation():
        page.get_by_role("link", name="Cancel").click()
    assert page.get_by_role("heading", level=1).inner_text() == "ada"
    with page.expect_navigation():
        page.get_by_role("link", name="Delete user").click()
    shot("delete-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete user").click()
    assert page.url.startswith(f"{live_server}/admin/users")
    assert "The user is deleted." in page.locator(".flashes").inner_text()
    shot("deleted")
    assert services.users.by_sub(ada.sub) is None
    assert services.sessions.list_for(ada.sub) == []
    # the operator's own page offers no Delete
    page.goto(f"{live_server}/admin/users/{operator.sub}")
    assert page.get_by_role("link", name="Delete user").count() == 0
