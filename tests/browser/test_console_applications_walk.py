"""The admin console's application and auth source pages walked in a real browser: an operator
registers an application and sees its client secret once (reloading or going back does not
show it again), edits it, rotates the secret, deletes it after a confirmation page; then
creates and deletes an auth source."""

from __future__ import annotations

import pytest

from idp.models import Application, AuthSource
from tests.browser.test_console_walks import sign_in, watch_console_errors
from tests.factories import PASSWORD, users


@pytest.fixture
def operator(services):
    return users.create(services, "operator", with_password=PASSWORD, roles=["admin"])


def fresh(services, model, key):
    services.db.session.expire_all()
    if model is Application:
        return services.db.session.query(Application).filter_by(client_id=key).one_or_none()
    return services.db.session.get(model, key)


def test_an_operator_manages_an_application(live_server, services, operator, page, shot):
    problems = watch_console_errors(page)
    sign_in(page, live_server, "operator", "/admin/applications")
    assert page.get_by_role("heading", level=1).inner_text() == "Applications"
    assert page.get_by_role("link", name="Applications").get_attribute("aria-current") == "page"
    assert page.locator("table.console-table").count() == 0  # the console's own client is not listed
    shot("applications-empty")

    with page.expect_navigation():
        page.get_by_role("link", name="New application").click()
    page.get_by_label("Name").fill("Shop")
    page.get_by_label("Type").select_option("web")
    page.get_by_label("Redirect URIs", exact=True).fill("https://shop.example/cb\nhttps://shop.example/cb2")
    page.get_by_label("Post-logout redirect URIs").fill("https://shop.example/bye")
    page.get_by_label("Second factor (MFA)").select_option("required")
    shot("application-form")
    with page.expect_navigation():
        page.get_by_role("button", name="Create application").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Application created"
    assert "Copy this client secret now: it is shown only once." in page.get_by_role("alert").inner_text()
    client_id = page.locator(".client-id").inner_text()
    secret = page.locator(".client-secret").inner_text()
    shot("secret")
    app = fresh(services, Application, client_id)
    assert app.name == "Shop" and app.mfa == "required" and app.check_client_secret(secret)
    assert app.redirect_uris == ["https://shop.example/cb", "https://shop.example/cb2"]

    # reloading sends the form again: no second application, no secret
    page.reload()
    page.wait_for_load_state()
    assert secret not in page.content()
    assert "A client secret is shown only once." in page.locator(".flashes").inner_text()
    assert page.locator("table.console-table tbody tr").count() == 1
    shot("reloaded")
    page.go_back()
    page.wait_for_load_state()
    assert secret not in page.content()
    page.goto(f"{live_server}/admin/applications")
    rows = page.locator("table.console-table tbody tr")
    assert rows.count() == 1 and client_id in rows.first.inner_text()
    shot("applications")

    # edit
    with page.expect_navigation():
        rows.first.get_by_role("link", name="Shop").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Shop"
    with page.expect_navigation():
        page.get_by_role("link", name="Edit").click()
    assert page.get_by_label("Name").input_value() == "Shop"
    page.get_by_label("Name").fill("Shop Online")
    page.get_by_label("Second factor (MFA)").select_option("optional")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Shop Online"
    assert "The application is saved." in page.locator(".flashes").inner_text()
    assert page.locator(".app-mfa").inner_text() == "Optional"
    shot("edited")

    # rotate the secret: asked first, then shown once
    with page.expect_navigation():
        page.get_by_role("link", name="Rotate secret").click()
    assert "Replace the client secret" in page.locator(".lead").inner_text()
    assert fresh(services, Application, client_id).check_client_secret(secret)
    shot("rotate-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Rotate secret").click()
    assert page.get_by_role("heading", level=1).inner_text() == "New client secret"
    rotated = page.locator(".client-secret").inner_text()
    assert rotated != secret
    app = fresh(services, Application, client_id)
    assert app.check_client_secret(rotated) and not app.check_client_secret(secret)
    shot("rotated")
    page.reload()
    page.wait_for_load_state()
    assert rotated not in page.content()
    assert fresh(services, Application, client_id).check_client_secret(rotated)  # not rotated again

    # delete after the confirmation page
    page.goto(f"{live_server}/admin/applications/{client_id}")
    with page.expect_navigation():
        page.get_by_role("link", name="Delete").click()
    assert "Delete this application?" in page.locator(".lead").inner_text()
    assert fresh(services, Application, client_id) is not None
    shot("delete-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete application").click()
    assert page.url == f"{live_server}/admin/applications"
    assert "The application is deleted." in page.locator(".flashes").inner_text()
    assert page.locator("table.console-table").count() == 0
    assert fresh(services, Application, client_id) is None
    shot("deleted")
    assert [p for p in problems if "favicon" not in p and "404" not in p] == []


def test_an_operator_creates_and_deletes_an_auth_source(live_server, services, operator, page, shot):
    sign_in(page, live_server, "operator")
    with page.expect_navigation():
        page.get_by_role("link", name="Auth sources").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Auth sources"
    with page.expect_navigation():
        page.get_by_role("link", name="New auth source").click()
    page.get_by_label("Channel").select_option("email")
    page.get_by_label("Identifier (optional)").fill("mail-main")
    page.get_by_label("Name").fill("Main email")
    page.get_by_label("Code length (digits)").fill("3")
    with page.expect_navigation():
        page.get_by_role("button", name="Create auth source").click()
    assert "code_length must be 4 to 10" in page.get_by_role("alert").inner_text()
    assert fresh(services, AuthSource, "mail-main") is None
    shot("auth-source-refused")
    page.get_by_label("Code length (digits)").fill("8")
    with page.expect_navigation():
        page.get_by_role("button", name="Create auth source").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Main email"
    assert page.locator(".code-length").inner_text() == "8"
    source = fresh(services, AuthSource, "mail-main")
    assert source.kind == "email" and source.code_length == 8
    shot("auth-source")

    with page.expect_navigation():
        page.get_by_role("link", name="Delete").click()
    assert "Delete this auth source?" in page.locator(".lead").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Delete auth source").click()
    assert page.url == f"{live_server}/admin/auth-sources"
    assert "The auth source is deleted." in page.locator(".flashes").inner_text()
    assert fresh(services, AuthSource, "mail-main") is None
    shot("auth-source-deleted")
