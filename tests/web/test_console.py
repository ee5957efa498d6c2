"""The admin console (/admin) through Flask's test client: its own sign-in as a first-party
OpenID Connect client (code + PKCE through the hosted login, the code exchanged in-process),
the 403 page, the dashboard's figures, the user search, and actions confirmed on a second page."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from idp import console
from idp.models import AuditEvent
from tests.factories import users
from tests.web.conftest import CTX, PASSWORD, csrf_token, text


def sign_in(client, username: str) -> object:
    """Open /admin, follow to the hosted login, sign in with a password, come back."""
    response = client.get("/admin")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/admin/login")
    authorize = client.get(location).headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["client_id"] == [console.CONSOLE_CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    login = client.get(authorize).headers["Location"]
    assert login.startswith("/login?authz=")
    page = text(client.get(login))
    response = client.post(login, data={"csrf_token": csrf_token(page), "username": username, "password": PASSWORD})
    location = response.headers["Location"]
    while "/admin/callback" not in location:
        response = client.get(location)
        assert response.status_code in (302, 303), text(response)
        location = response.headers["Location"]
    callback = urlsplit(location)
    assert f"{callback.scheme}://{callback.netloc}" == client.application.extensions["gatehouse"].settings.issuer
    return client.get(f"{callback.path}?{callback.query}")  # the test client's own host


def test_an_administrator_signs_in_and_sees_the_dashboard(client, services):
    users.create(services, "root", roles=["admin"])
    response = sign_in(client, "root")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin"
    page = text(client.get("/admin"))
    assert "Dashboard" in page and "Failed sign-ins, last 24 hours" in page
    assert "Sign out" in page
    application = services.clients.by_client_id(console.CONSOLE_CLIENT_ID)
    assert application.first_party and application.mfa == "optional"
    assert application.redirect_uris == [services.settings.issuer + "/admin/callback"]


def test_someone_without_the_admin_role_gets_403(client, services):
    users.create(services, "plain")
    response = sign_in(client, "plain")
    assert response.status_code == 403
    assert "may not use the admin console" in text(response)
    again = client.get("/admin/users")
    assert again.status_code == 403


def test_without_a_session_every_page_goes_to_sign_in(client, services):
    for path in ("/admin", "/admin/users", "/admin/users/x", "/admin/users/x/lock"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login")


def test_a_forged_callback_is_refused(client, services):
    response = client.get("/admin/callback?code=x&state=y")
    assert response.status_code == 400
    assert client.get("/admin").status_code == 302


def test_mfa_policy_is_required_in_production():
    assert console.mfa_policy(production=True) == "required"
    assert console.mfa_policy(production=False) == "optional"


def test_search_by_prefix_of_username_email_or_phone(client, services):
    users.create(services, "root", roles=["admin"])
    users.create(services, "alice", with_verified_email="alice@example.com", with_verified_phone="+8613600000001")
    users.create(services, "bob", with_verified_email="bob@example.org")
    sign_in(client, "root")
    assert "alice" in text(client.get("/admin/users?q=ali"))
    assert "bob" not in text(client.get("/admin/users?q=ali"))
    assert "alice" in text(client.get("/admin/users?q=%2B86136"))
    assert "alice" in text(client.get("/admin/users?q=86136"))
    found = text(client.get("/admin/users?q=bob%40"))
    assert "bob" in found and "alice" not in found
    assert 'name="q"' in found and '<label for="q">' in found


def test_users_are_paged(client, services):
    users.create(services, "root", roles=["admin"])
    for n in range(console.PAGE_SIZE + 2):
        users.create(services, f"paged-{n:02d}")
    sign_in(client, "root")
    first = text(client.get("/admin/users?q=paged-"))
    assert "paged-00" in first and "paged-21" not in first
    assert 'rel="next"' in first
    page = console.search_users(services, "paged-")
    second = text(client.get(f"/admin/users?q=paged-&after={page.next_after}"))
    assert "paged-21" in second and "paged-00" not in second


def test_lock_is_confirmed_then_refuses_sign_in_and_names_the_administrator(client, services):
    admin = users.create(services, "root", roles=["admin"])
    victim = users.create(services, "victim")
    sign_in(client, "root")
    page = text(client.get(f"/admin/users/{victim.sub}"))
    assert "Lock" in page and "Sign out everywhere" in page
    confirm = client.get(f"/admin/users/{victim.sub}/lock")
    assert confirm.status_code == 200
    assert services.users.by_sub(victim.sub).status == "active"  # asking changes nothing
    # without the CSRF token nothing happens
    assert client.post(f"/admin/users/{victim.sub}/lock").status_code == 400
    assert services.users.by_sub(victim.sub).status == "active"
    response = client.post(f"/admin/users/{victim.sub}/lock", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 302
    services.db.session.expire_all()
    assert services.users.by_sub(victim.sub).status == "locked"
    event = services.db.session.scalars(
        select(AuditEvent).where(AuditEvent.type == "admin.user.update", AuditEvent.sub == victim.sub)
    ).one()
    assert event.actor == admin.sub
    assert "The account is locked." in text(client.get(response.headers["Location"]))
    # then unlock
    confirm = client.get(f"/admin/users/{victim.sub}/unlock")
    client.post(f"/admin/users/{victim.sub}/unlock", data={"csrf_token": csrf_token(text(confirm))})
    services.db.session.expire_all()
    assert services.users.by_sub(victim.sub).status == "active"


def test_sign_out_everywhere_ends_the_persons_sessions(client, services):
    admin = users.create(services, "root", roles=["admin"])
    victim = users.create(services, "victim")
    elsewhere = services.sessions.create(victim.sub, ["pwd"], CTX)
    sign_in(client, "root")
    confirm = client.get(f"/admin/users/{victim.sub}/sign_out_everywhere")
    client.post(f"/admin/users/{victim.sub}/sign_out_everywhere", data={"csrf_token": csrf_token(text(confirm))})
    event = services.db.session.scalars(
        select(AuditEvent).where(AuditEvent.type == "account.sign_out_everywhere", AuditEvent.sub == victim.sub)
    ).one()
    assert event.actor == admin.sub
    assert services.sessions.get(elsewhere.id) is None


def test_the_console_in_chinese(client, services):
    users.create(services, "root", roles=["admin"])
    sign_in(client, "root")
    page = text(client.get("/admin?ui_locales=zh-Hans"))
    assert '<html lang="zh-Hans">' in page
    assert "仪表盘" in page
    page = text(client.get("/admin/users", headers={"Accept-Language": "zh-CN"}))
    assert "用户" in page


def test_sign_out_ends_the_console_session(client, services):
    users.create(services, "root", roles=["admin"])
    sign_in(client, "root")
    page = text(client.get("/admin"))
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert client.get("/admin").status_code == 302


def test_the_console_application_follows_the_settings(services):
    from dataclasses import replace

    first = console.ensure_console_client(services)
    assert first.mfa == "optional" and first.type == "web" and first.first_party
    assert first.check_client_secret(console.console_secret(services.settings.secret_key))
    production = replace(
        services, settings=replace(services.settings, env="production", issuer="https://id.example", secret_key="k2")
    )
    moved = console.ensure_console_client(production)
    assert moved.mfa == "required"  # a second factor in production
    assert moved.redirect_uris == ["https://id.example/admin/callback"]
    assert moved.check_client_secret(console.console_secret("k2"))
    assert not moved.check_client_secret(console.console_secret(services.settings.secret_key))
    assert [a.client_id for a in services.clients.list_applications()] == [console.CONSOLE_CLIENT_ID]


def test_the_dashboard_counts_codes_failures_and_locks(client, services, seeded):
    from tests.helpers import send_sms

    users.create(services, "root", roles=["admin"])
    users.create(services, "target")
    assert send_sms(client).status_code == 200
    page = text(client.get("/login"))
    client.post("/login", data={"csrf_token": csrf_token(page), "username": "target", "password": "wrong password"})
    stats = console.dashboard(services)
    assert stats.sms_sent_today == 1 and stats.email_sent_today == 0
    assert stats.sms_quota == services.settings.limits.sms_daily_quota
    assert stats.failed_sign_ins_24h == 1
    assert stats.locks_24h == 0
    assert stats.users == len(services.users.search()) == 2
    apps = len(services.clients.list_applications())
    assert stats.applications == apps
    sign_in(client, "root")
    assert len(services.clients.list_applications()) == apps + 1
    assert console.dashboard(services).applications == apps  # the console's own application is not counted
    dashboard = text(client.get("/admin"))
    assert f"of a daily quota of {services.settings.limits.sms_daily_quota}" in dashboard


def test_an_administrator_cannot_lock_themselves_out(client, services):
    admin = users.create(services, "root", roles=["admin"])
    sign_in(client, "root")
    confirm = client.get(f"/admin/users/{admin.sub}/lock")
    response = client.post(f"/admin/users/{admin.sub}/lock", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 403
    assert "cannot lock or disable your own account" in text(response)
    services.db.session.expire_all()
    assert services.users.by_sub(admin.sub).status == "active"


@pytest.mark.limits(login_lock_after=3, login_lock_seconds=600, login_failure_window=600)
def test_the_user_page_shows_a_temporary_lock_and_unlock_lifts_it(client, services):
    users.create(services, "root", roles=["admin"])
    ada = users.create(services, "ada")
    for _ in range(3):
        services.bruteforce.failed("ada", CTX, sub=ada.sub)
    ends = (services.clock.now() + timedelta(seconds=600)).replace(microsecond=0)
    sign_in(client, "root")
    page = text(client.get(f"/admin/users/{ada.sub}"))
    assert f"until {ends:%Y-%m-%d %H:%M:%S} UTC" in page
    assert "login.locked" in page  # among the recent audit events
    assert "Unlock" in page  # active, but temporarily locked
    dashboard = console.dashboard(services)
    assert dashboard.locks_24h == 1 and dashboard.failed_sign_ins_24h == 0
    confirm = client.get(f"/admin/users/{ada.sub}/unlock")
    client.post(f"/admin/users/{ada.sub}/unlock", data={"csrf_token": csrf_token(text(confirm))})
    assert services.bruteforce.locked_for(ada.sub, sub=ada.sub) == 0
    assert "until " not in text(client.get(f"/admin/users/{ada.sub}"))
