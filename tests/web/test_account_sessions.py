"""The account page's "Sessions" (each SSO session with its device, IP and last use, a "Sign
out" per session) and "Applications with access" (third-party applications the person allowed,
"Revoke access": the consent and that application's refresh tokens go)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.models import AuditEvent, Consent, RefreshToken
from tests.oidc.test_authorize import get_code
from tests.oidc.test_authorize import make_app as make_oidc_app
from tests.oidc.test_code_grant import exchange, refresh
from tests.web.conftest import csrf_token, text

PHONE_BROWSER = RequestContext(
    ip="203.0.113.9",
    user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile",
)


@pytest.fixture
def elsewhere(services, user):
    """Another of the person's sessions: their phone's browser."""
    return services.sessions.create(user.sub, ["pwd"], PHONE_BROWSER)


def this_browser(client, services):
    return services.sessions.get(client.get_cookie("gh_sso").value)


def audit(services, type_: str) -> list[AuditEvent]:
    services.db.session.expire_all()
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def test_the_page_lists_every_session_and_marks_this_browser(client, services, signed_in, elsewhere):
    page = text(client.get("/account"))
    mine = this_browser(client, services)
    assert page.count("This browser") == 1
    assert "Chrome on Android" in page and "203.0.113.9" in page and "last seen" in page
    for session in (mine, elsewhere):
        assert f'action="/account/sessions/{session.sid}/sign-out"' in page
        assert session.id not in page  # the cookie's value is never shown
    assert re.search(r"Sessions</h2>", page) and "Sign out everywhere" in page


def test_signing_out_one_session_leaves_the_others(client, services, signed_in, elsewhere):
    page = text(client.get("/account"))
    response = client.post(f"/account/sessions/{elsewhere.sid}/sign-out", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account#sessions")
    assert services.sessions.get(elsewhere.id) is None
    assert this_browser(client, services) is not None
    assert "That session was signed out." in text(client.get("/account"))
    [event] = audit(services, "account.sign_out_session")
    assert event.sub == elsewhere.sub and event.details["sid"] == elsewhere.sid


def test_signing_out_this_browser_from_its_row(client, services, signed_in, elsewhere):
    mine = this_browser(client, services)
    page = text(client.get("/account"))
    response = client.post(f"/account/sessions/{mine.sid}/sign-out", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302 and "/logout" in response.headers["Location"]
    assert services.sessions.get(mine.id) is None and services.sessions.get(elsewhere.id) is not None
    assert client.get_cookie("gh_sso") is None


def test_a_sign_out_without_the_csrf_token_changes_nothing(client, services, signed_in, elsewhere):
    response = client.post(f"/account/sessions/{elsewhere.sid}/sign-out", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert services.sessions.get(elsewhere.id) is not None


def test_an_unknown_session_is_said_to_have_ended(client, services, signed_in):
    page = text(client.get("/account"))
    response = client.post("/account/sessions/not-a-sid/sign-out", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert "That session had already ended." in text(client.get("/account"))


def allow(services, sub: str, client_id: str) -> None:
    """The consent the consent page records when the person allows the application."""
    with services.db.transaction() as session:
        session.add(Consent(sub=sub, client_id=client_id, scopes=["openid", "profile"]))


def test_revoking_access_removes_the_consent_and_the_refresh_tokens(client, services, signed_in, user):
    printer_id, secret = make_oidc_app(services, name="Photo Printer", first_party=False)
    allow(services, user.sub, printer_id)
    own_id, _ = make_oidc_app(services, name="Our Own App")  # first party: never listed
    allow(services, user.sub, own_id)
    tokens = exchange(client, get_code(client, services, printer_id), printer_id, secret).get_json()
    assert tokens["refresh_token"]

    page = text(client.get("/account"))
    assert "Applications with access" in page and "Photo Printer" in page and "Our Own App" not in page
    response = client.post(f"/account/applications/{printer_id}/revoke", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account#applications")

    services.db.session.expire_all()
    assert services.db.session.scalars(select(Consent).where(Consent.client_id == printer_id)).all() == []
    assert services.db.session.scalars(select(Consent).where(Consent.client_id == own_id)).one()
    assert all(t.revoked_at is not None for t in services.db.session.scalars(select(RefreshToken)))
    refused = refresh(client, tokens["refresh_token"], printer_id, secret)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    userinfo = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    [event] = audit(services, "consent.revoke")
    assert (event.sub, event.client_id, event.details["refresh_tokens_revoked"]) == (user.sub, printer_id, 1)
    page = text(client.get("/account"))
    assert "Photo Printer" not in page and "No other application has access to your account." in page


def test_revoking_keeps_other_peoples_access(client, services, signed_in, user):
    from tests.factories import users

    printer_id, _ = make_oidc_app(services, name="Photo Printer", first_party=False)
    other = users.create(services, "bob")
    allow(services, user.sub, printer_id)
    allow(services, other.sub, printer_id)
    page = text(client.get("/account"))
    client.post(f"/account/applications/{printer_id}/revoke", data={"csrf_token": csrf_token(page)})
    services.db.session.expire_all()
    assert [c.sub for c in services.db.session.scalars(select(Consent))] == [other.sub]
