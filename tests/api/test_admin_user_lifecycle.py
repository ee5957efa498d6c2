"""Admin API: finding users (prefix search, filters, pages), their SSO sessions, signing a
person out everywhere and deleting a person."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.models import AuditEvent, Factor, User
from idp.store import Keys
from tests.api.test_admin import API, new_user
from tests.factories import users
from tests.helpers import TENANT_CLIENT_ID, TENANT_CLIENT_SECRET, send_sms, sms_login

BROWSER = RequestContext(ip="203.0.113.7", user_agent="Firefox/140")


def events(services, type_: str) -> list[AuditEvent]:
    services.db.session.rollback()
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def subs(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [u["sub"] for u in response.get_json()]


# -- search -----------------------------------------------------------------------------------


@pytest.fixture
def people(client, admin_headers) -> dict[str, dict]:
    return {
        "alice": new_user(client, admin_headers, username="alice", email="alice@example.com"),
        "alina": new_user(client, admin_headers, username="alina", phone_number="+8613612345678"),
        "bob": new_user(client, admin_headers, username="bob", email="bob@ali.example", status="disabled"),
        "carol": new_user(client, admin_headers, username="carol", phone_number="+8613712345678"),
    }


def test_q_is_a_prefix_of_username_email_or_phone(client, admin_headers, people):
    def q(term: str) -> list[str]:
        return subs(client.get(f"{API}/users", query_string={"q": term}, headers=admin_headers))

    assert q("ali") == [people["alice"]["sub"], people["alina"]["sub"]]
    assert q("ALICE@") == [people["alice"]["sub"]]
    assert q("+86137") == [people["carol"]["sub"]]
    assert q("+86136") == [people["alina"]["sub"]]
    assert q("%") == [] and q("_lice") == []  # no LIKE wildcards


def test_status_filter(client, admin_headers, people):
    response = client.get(f"{API}/users", query_string={"status": "disabled"}, headers=admin_headers)
    assert subs(response) == [people["bob"]["sub"]]
    bad = client.get(f"{API}/users", query_string={"status": "sleepy"}, headers=admin_headers)
    assert bad.status_code == 400 and bad.get_json()["error"] == "request.invalid"


@pytest.mark.parametrize("limit", ["0", "201", "x", "-1"])
def test_a_bad_limit_is_400(client, admin_headers, limit):
    response = client.get(f"{API}/users", query_string={"limit": limit}, headers=admin_headers)
    assert response.status_code == 400
    assert "limit" in response.get_json()["error_description"]


def test_pages_follow_the_next_link_and_keep_filters(client, admin_headers, people):
    seen: list[str] = []
    url = f"{API}/users?limit=1&q=a"
    while url:
        response = client.get(url, headers=admin_headers)
        seen += subs(response)
        link = response.headers.get("Link")
        assert link is None or link.endswith('>; rel="next"')
        url = link[1 : link.index(">")] if link else None
    assert seen == [people["alice"]["sub"], people["alina"]["sub"]]


def test_default_page_is_50(client, services, admin_headers):
    for n in range(51):
        users.create(services, f"user{n:02}", with_password=False)
    response = client.get(f"{API}/users", headers=admin_headers)
    assert len(subs(response)) == 50
    assert "after=" in response.headers["Link"]
    rest = client.get(response.headers["Link"][1 : response.headers["Link"].index(">")], headers=admin_headers)
    assert len(subs(rest)) == 1 and "Link" not in rest.headers


# -- sessions and sign out everywhere -------------------------------------------------------


@pytest.fixture
def signed_in(client, seeded, services, outbox) -> dict:
    """A person with two SSO sessions, a refresh token and an SMS factor."""
    user = users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sessions = [
        services.sessions.create(user.sub, ["pwd"], BROWSER),
        services.sessions.create(user.sub, ["otp"], BROWSER),
    ]
    otp_token = send_sms(client).get_json()["otp_token"]
    tokens = sms_login(client, otp_token, outbox.last_code()).get_json()
    services.factors.add_otp(user.sub, "otp_sms", BROWSER)
    return {"sub": user.sub, "sessions": sessions, "tokens": tokens}


def test_list_sessions(client, admin_headers, signed_in):
    response = client.get(f"{API}/users/{signed_in['sub']}/sessions", headers=admin_headers)
    assert response.status_code == 200
    listed = response.get_json()
    assert len(listed) == 2
    for entry in listed:
        assert set(entry) == {"id", "created_at", "last_seen_at", "ip", "user_agent", "amr"}
        assert (entry["ip"], entry["user_agent"]) == ("203.0.113.7", "Firefox/140")
        assert entry["created_at"].endswith("+00:00") and entry["last_seen_at"] >= entry["created_at"]
    assert sorted(e["amr"] for e in listed) == [["otp"], ["pwd"]]
    # the session id is the cookie value: never shown
    assert not any(s.id in json.dumps(listed) for s in signed_in["sessions"])


def test_a_session_stored_before_last_seen_was_kept_still_lists(client, services, admin_headers, signed_in):
    stored = services.sessions.get(signed_in["sessions"][0].id)
    old = {k: v for k, v in asdict(stored).items() if k != "last_seen_at"}
    services.sessions.redis.set(Keys.sso_session(stored.id), json.dumps(old), keepttl=True)
    listed = client.get(f"{API}/users/{signed_in['sub']}/sessions", headers=admin_headers).get_json()
    assert len(listed) == 2
    assert all(e["last_seen_at"] == e["created_at"] for e in listed if e["amr"] == ["pwd"])


def refresh(client, tokens):
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": TENANT_CLIENT_ID,
            "client_secret": TENANT_CLIENT_SECRET,
        },
    )


def test_sign_out_everywhere(client, services, admin_headers, signed_in):
    response = client.delete(f"{API}/users/{signed_in['sub']}/sessions", headers=admin_headers)
    assert response.status_code == 204
    assert client.get(f"{API}/users/{signed_in['sub']}/sessions", headers=admin_headers).get_json() == []
    assert all(services.sessions.get(s.id) is None for s in signed_in["sessions"])
    assert refresh(client, signed_in["tokens"]).status_code == 400
    userinfo = client.get(
        "/oauth2/userinfo", headers={"Authorization": f"Bearer {signed_in['tokens']['access_token']}"}
    )
    assert userinfo.status_code == 401
    [event] = events(services, "account.sign_out_everywhere")
    assert (event.sub, event.actor, event.details["sessions"]) == (signed_in["sub"], "admin_token", 2)


@pytest.mark.parametrize(("method", "path"), [("get", "/sessions"), ("delete", "/sessions"), ("delete", "")])
def test_an_unknown_user_is_404(client, admin_headers, method, path):
    response = getattr(client, method)(f"{API}/users/nobody{path}", headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == "account.not_found"


# -- delete -------------------------------------------------------------------------------------


def test_delete_a_person(client, services, admin_headers, signed_in):
    sub = signed_in["sub"]
    response = client.delete(f"{API}/users/{sub}", headers=admin_headers)
    assert response.status_code == 204
    assert client.get(f"{API}/users/{sub}", headers=admin_headers).status_code == 404
    services.db.session.rollback()
    assert services.db.session.scalar(select(User).where(User.sub == sub)) is None
    assert services.db.session.scalars(select(Factor).where(Factor.sub == sub)).all() == []
    assert all(services.sessions.get(s.id) is None for s in signed_in["sessions"])
    assert refresh(client, signed_in["tokens"]).status_code == 400
    userinfo = client.get(
        "/oauth2/userinfo", headers={"Authorization": f"Bearer {signed_in['tokens']['access_token']}"}
    )
    assert userinfo.status_code == 401
    [event] = events(services, "admin.user.delete")
    assert (event.sub, event.actor, event.details["refresh_tokens_revoked"]) == (sub, "admin_token", 1)
    # earlier events keep the bare sub
    assert services.db.session.scalars(select(AuditEvent).where(AuditEvent.sub == sub)).all()


# -- roles ----------------------------------------------------------------------------------------


def test_roles_are_set_rendered_and_changed(client, admin_headers):
    plain = new_user(client, admin_headers, username="plain")
    assert plain["roles"] == []
    boss = new_user(client, admin_headers, username="boss", roles=["admin"])
    assert client.get(f"{API}/users/{boss['sub']}", headers=admin_headers).get_json()["roles"] == ["admin"]
    response = client.patch(f"{API}/users/{boss['sub']}", json={"roles": []}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["roles"] == []
    response = client.patch(f"{API}/users/{plain['sub']}", json={"roles": ["admin"]}, headers=admin_headers)
    assert response.get_json()["roles"] == ["admin"]
    assert client.get(f"{API}/users/{plain['sub']}", headers=admin_headers).get_json()["locked_until"] is None


@pytest.mark.parametrize("roles", [["root"], "admin", [1]])
def test_unknown_roles_are_400(client, admin_headers, roles):
    response = client.post(f"{API}/users", json={"username": "x", "roles": roles}, headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["error_description"].startswith("roles")
