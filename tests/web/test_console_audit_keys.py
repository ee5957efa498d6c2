"""The admin console's audit log (the admin API's filters and cursor), its signing keys page
with rotation confirmed on a second page, and the user page's sessions, "Reset second
factors" and "Delete user": each action names the administrator in the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from idp import audit, console
from idp.context import RequestContext
from idp.models import AuditEvent, Factor, RecoveryCode, RefreshToken, User
from tests.factories import users
from tests.helpers import send_sms, sms_login
from tests.web.conftest import csrf_token, text
from tests.web.test_console import sign_in

BROWSER = RequestContext(ip="203.0.113.7", user_agent="Firefox/140")


@pytest.fixture
def root(services):
    return users.create(services, "root", roles=["admin"])


def events(services, type_: str, sub: str | None = None) -> list[AuditEvent]:
    services.db.session.rollback()
    query = select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.id)
    if sub is not None:
        query = query.where(AuditEvent.sub == sub)
    return list(services.db.session.scalars(query))


def rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def older_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    return found.group(1).replace("&amp;", "&") if found else None


# -- audit log -------------------------------------------------------------------------------


def test_the_audit_log_lists_newest_first_and_filters_narrow_it(client, services, root):
    ada = users.create(services, "ada")
    audit.write(services.db, "login.failure", BROWSER, result="failure", sub=ada.sub, reason="auth.bad_credentials")
    sign_in(client, "root")
    page = text(client.get("/admin/audit"))
    assert client.get("/admin/audit").status_code == 200
    assert 'aria-current="page">Audit log' in page
    listed = rows(page)
    assert listed, "the log is empty"
    newest = services.db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert newest.type in listed[0]

    mine = text(client.get(f"/admin/audit?sub={ada.sub}"))
    assert rows(mine) and all(ada.sub in row for row in rows(mine))
    assert f'href="/admin/users/{ada.sub}"' in mine
    assert "root" not in "".join(rows(mine))  # the administrator's sign-in is left out

    failures = rows(text(client.get("/admin/audit?result=failure")))
    assert failures and all("Failure" in row for row in failures)
    successes = rows(text(client.get("/admin/audit?result=success&type=login.*")))
    assert successes and all("Success" in row and "<code>login." in row for row in successes)
    console_app = rows(text(client.get(f"/admin/audit?client_id={console.CONSOLE_CLIENT_ID}")))
    assert console_app and all(console.CONSOLE_CLIENT_ID in row for row in console_app)
    assert rows(text(client.get("/admin/audit?client_id=nobody"))) == []
    assert "No event matches." in text(client.get("/admin/audit?type=nothing.like.this"))
    # a window in the future holds nothing; one around now holds everything
    assert rows(text(client.get("/admin/audit?since=2999-01-01"))) == []
    assert len(rows(text(client.get("/admin/audit?since=2000-01-01&until=2999-01-01")))) == len(listed)


def test_older_events_page_with_the_cursor_and_stop(client, services, root):
    ada = users.create(services, "ada")
    for _ in range(console.PAGE_SIZE + 5):
        audit.write(services.db, "login.failure", BROWSER, result="failure", sub=ada.sub)
    total = len(events(services, "login.failure", ada.sub))
    assert total == console.PAGE_SIZE + 5
    sign_in(client, "root")
    seen: list[str] = []
    url: str | None = f"/admin/audit?type=login.failure&sub={ada.sub}"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = text(response)
        seen += rows(page)
        url = older_link(page)
        pages += 1
        if url:
            assert "before_id=" in url and "type=login.failure" in url and f"sub={ada.sub}" in url
    assert pages == 2
    assert len(seen) == total  # a cursor that did not move on would repeat the first page


def test_paging_the_console_uses_the_admin_apis_cursor(client, services, root):
    ada = users.create(services, "ada")
    for _ in range(3):
        audit.write(services.db, "login.failure", BROWSER, result="failure", sub=ada.sub)
    ids = [e.id for e in events(services, "login.failure", ada.sub)]
    sign_in(client, "root")
    page = text(client.get(f"/admin/audit?sub={ada.sub}&type=login.failure&limit=2"))
    assert len(rows(page)) == 2
    assert f"before_id={ids[1]}" in older_link(page)
    last = text(client.get(older_link(page)))
    assert len(rows(last)) == 1 and older_link(last) is None


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("since=yesterday", "since: expected ISO 8601"),
        ("until=31/12/2026", "until: expected ISO 8601"),
        ("since=2026-12-07&until=2026-12-01", "since must be before until"),
        ("type=lo*gin", "type: &#39;*&#39; may only end"),
        ("before_id=abc", "before_id"),
        ("user=ada", "user: unknown filter"),
        ("limit=0", "limit"),
    ],
)
def test_a_bad_filter_is_a_400_page_that_says_why(client, services, root, query, problem):
    sign_in(client, "root")
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 400
    page = text(response)
    assert "These filters cannot be used:" in page and problem in page
    assert 'role="alert"' in page and '<form method="get"' in page  # the filters stay, to correct


def test_the_page_language_is_not_taken_for_a_filter(client, services, root):
    sign_in(client, "root")
    response = client.get("/admin/audit?ui_locales=zh-Hans&result=success")
    assert response.status_code == 200


# -- signing keys ----------------------------------------------------------------------------


def jwks_kids(client) -> set[str]:
    return {k["kid"] for k in client.get("/oauth2/jwks").get_json()["keys"]}


@pytest.mark.parametrize("alg", console.SIGNING_ALGS)
def test_rotate_a_signing_key_after_confirming(client, services, root, alg):
    old = services.keys.rotate(alg)  # a key of each algorithm to replace
    sign_in(client, "root")
    page = text(client.get("/admin/keys"))
    assert old in page and f"/admin/keys/{alg}/rotate" in page
    confirm = client.get(f"/admin/keys/{alg}/rotate")
    assert confirm.status_code == 200
    assert old in text(confirm)  # the key that will be retired
    assert [k.kid for k in services.keys.all_keys() if k.alg == alg and k.state == "active"] == [old]
    response = client.post(f"/admin/keys/{alg}/rotate", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/keys"
    keys = {k.kid: k for k in services.keys.all_keys()}
    [new] = [kid for kid, k in keys.items() if k.alg == alg and k.state == "active"]
    assert new != old and keys[old].state == "retired"
    listed = text(client.get("/admin/keys"))
    assert f"{new}." in listed  # the flash names the new key
    assert new in listed and old in listed and "Retired, still published" in listed
    assert {old, new} <= jwks_kids(client)
    [event] = events(services, "admin.key.rotate")
    assert event.actor == root.sub


def test_rotating_one_algorithm_leaves_the_others(client, services, root):
    before = {alg: services.keys.ensure_key(alg) for alg in console.SIGNING_ALGS}
    sign_in(client, "root")
    confirm = client.get("/admin/keys/ES256/rotate")
    client.post("/admin/keys/ES256/rotate", data={"csrf_token": csrf_token(text(confirm))})
    after = {k.alg: k.kid for k in services.keys.all_keys() if k.state == "active"}
    assert after["RS256"] == before["RS256"] and after["EdDSA"] == before["EdDSA"]
    assert after["ES256"] != before["ES256"]


def test_rotation_without_the_csrf_token_changes_nothing(client, services, root):
    old = services.keys.rotate("RS256")
    sign_in(client, "root")
    response = client.post("/admin/keys/RS256/rotate")
    assert response.status_code == 400
    assert [k.kid for k in services.keys.all_keys() if k.alg == "RS256" and k.state == "active"] == [old]
    assert events(services, "admin.key.rotate") == []


def test_an_unknown_algorithm_is_404(client, services, root):
    sign_in(client, "root")
    assert client.get("/admin/keys/HS256/rotate").status_code == 404


# -- the user page: sessions, reset second factors, delete ---------------------------------


@pytest.fixture
def signed_in(client, seeded, services, outbox):
    """A person with an SSO session, a refresh token, two factors and recovery codes."""
    user = users.create(services, "ada", with_verified_phone="+8613612345678", with_verified_email=True)
    session = services.sessions.create(user.sub, ["pwd"], BROWSER)
    otp_token = send_sms(client).get_json()["otp_token"]
    tokens = sms_login(client, otp_token, outbox.last_code()).get_json()
    assert tokens.get("refresh_token")
    services.factors.add_otp(user.sub, "sms", BROWSER)
    services.factors.add_otp(user.sub, "email", BROWSER)
    services.factors.new_recovery_codes(user.sub, BROWSER)
    return {"user": user, "session": session, "tokens": tokens}


def test_the_user_page_shows_sessions_and_live_refresh_tokens(client, services, root, signed_in):
    sign_in(client, "root")
    page = text(client.get(f"/admin/users/{signed_in['user'].sub}"))
    assert "Sessions" in page
    sessions = page.split('id="sessions-heading"', 1)[1].split("</section>", 1)[0]
    assert "203.0.113.7" in sessions and "Firefox/140" in sessions
    assert signed_in["session"].id not in page  # the cookie value is never shown
    assert "Live refresh tokens: 1" in page


def test_reset_second_factors_removes_every_factor(client, services, root, signed_in):
    sub = signed_in["user"].sub
    sign_in(client, "root")
    assert "Reset second factors" in text(client.get(f"/admin/users/{sub}"))
    confirm = client.get(f"/admin/users/{sub}/reset_factors")
    assert confirm.status_code == 200 and "Remove every second factor" in text(confirm)
    assert len(services.factors.list(sub)) == 2  # asking changes nothing
    assert client.post(f"/admin/users/{sub}/reset_factors").status_code == 400
    assert len(services.factors.list(sub)) == 2
    response = client.post(f"/admin/users/{sub}/reset_factors", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/users/{sub}"
    services.db.session.rollback()
    assert services.db.session.scalars(select(Factor).where(Factor.sub == sub)).all() == []
    assert services.db.session.scalar(select(func.count()).where(RecoveryCode.sub == sub)) == 0
    removed = [e for e in events(services, "factor.remove", sub) if e.actor == root.sub]
    assert sorted(e.details["factor"] for e in removed) == ["otp_email", "otp_sms", "recovery_code"]
    page = text(client.get(response.headers["Location"]))
    assert "Every second factor of the person is removed." in page
    assert "Reset second factors" not in page  # nothing left to reset
    assert services.users.by_sub(sub) is not None  # the person stays


def test_delete_a_user_after_confirming(client, services, root, signed_in):
    sub = signed_in["user"].sub
    sign_in(client, "root")
    confirm = client.get(f"/admin/users/{sub}/delete")
    assert confirm.status_code == 200 and "This cannot be undone." in text(confirm)
    assert client.post(f"/admin/users/{sub}/delete").status_code == 400
    assert services.users.by_sub(sub) is not None
    response = client.post(f"/admin/users/{sub}/delete", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert "The user is deleted." in text(client.get("/admin/users"))
    services.db.session.rollback()
    assert services.db.session.scalar(select(User).where(User.sub == sub)) is None
    assert services.sessions.get(signed_in["session"].id) is None
    live = select(RefreshToken).where(RefreshToken.sub == sub, RefreshToken.revoked_at.is_(None))
    assert services.db.session.scalars(live).all() == []
    [event] = events(services, "admin.user.delete", sub)
    assert event.actor == root.sub and event.details["refresh_tokens_revoked"] == 1
    assert client.get(f"/admin/users/{sub}").status_code == 404


def test_an_administrator_cannot_delete_themselves(client, services, root):
    sign_in(client, "root")
    assert "Delete user" not in text(client.get(f"/admin/users/{root.sub}"))
    confirm = client.get(f"/admin/users/{root.sub}/delete")
    response = client.post(f"/admin/users/{root.sub}/delete", data={"csrf_token": csrf_token(text(confirm))})
    assert response.status_code == 403
    assert "cannot delete your own account" in text(response)
    services.db.session.rollback()
    assert services.users.by_sub(root.sub) is not None
    assert events(services, "admin.user.delete") == []


def test_remove_all_factors_of_someone_without_any(services):
    plain = users.create(services, "plain")
    assert services.factors.remove_all(plain.sub, BROWSER) == []
    assert events(services, "factor.remove") == []


# -- who may use these pages -----------------------------------------------------------------


def test_someone_without_the_admin_role_gets_403_everywhere(client, services):
    users.create(services, "plain")
    victim = users.create(services, "victim", with_verified_email=True, with_email_factor=True)
    old = services.keys.rotate("RS256")
    assert sign_in(client, "plain").status_code == 403
    for path in ("/admin/audit", "/admin/keys", "/admin/keys/RS256/rotate", f"/admin/users/{victim.sub}/delete"):
        assert client.get(path).status_code == 403, path
    for path in ("/admin/keys/RS256/rotate", f"/admin/users/{victim.sub}/delete"):
        assert client.post(path).status_code == 403, path
    assert services.users.by_sub(victim.sub) is not None
    assert [k.kid for k in services.keys.all_keys() if k.alg == "RS256" and k.state == "active"] == [old]


def test_without_a_session_the_new_pages_go_to_sign_in(client, services):
    for path in ("/admin/audit", "/admin/keys", "/admin/keys/RS256/rotate", "/admin/users/x/delete"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login"), path


def test_rotate_signing_key_is_the_default_algorithms_key(client, services, root):
    """The one "Rotate signing key" button replaces the key of the instance's algorithm
    (GATEHOUSE_JWT_ALG, RS256 here); the other algorithms' keys have buttons of their own."""
    sign_in(client, "root")
    page = text(client.get("/admin/keys"))
    [default] = re.findall(r'href="([^"]+)">Rotate signing key<', page)
    assert default == f"/admin/keys/{services.settings.jwt_alg}/rotate"
    assert re.findall(r'href="([^"]+)">Rotate the (\w+) key<', page) == [
        (f"/admin/keys/{alg}/rotate", alg) for alg in ("ES256", "EdDSA")
    ]


def test_the_user_page_lists_the_persons_passkeys(client, services, root):
    """Name, kind (synced or this device only), created and last used: what the operator needs
    to answer "which device signed in"."""
    from tests.passkeys import SoftAuthenticator

    ada = users.create(services, "ada", with_password=False)
    authenticator = SoftAuthenticator(backup_eligible=True)
    start = services.passkeys.registration_options(ada.sub, RequestContext())
    services.passkeys.register(
        ada.sub, start.handle, authenticator.create(start.options), "Ada's phone", RequestContext()
    )
    sign_in(client, "root")
    page = text(client.get(f"/admin/users/{ada.sub}"))
    passkeys = page[page.index('id="passkeys-heading"') :]
    assert "Ada&#39;s phone" in passkeys and "Synced" in passkeys and "never" in passkeys
