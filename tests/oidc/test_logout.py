"""RP-Initiated Logout 1.0: id_token_hint, exact post_logout_redirect_uri, state, confirmation."""

from __future__ import annotations

import re

import pytest

from idp.models import AuditEvent
from tests.factories import users
from tests.oidc.test_authorize import get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange

BYE = "https://rp.example/bye"


@pytest.fixture
def user(services):
    return users.create(services, "ada")


@pytest.fixture
def web_app(services):
    return make_app(services)


@pytest.fixture
def signed_in(client, services, web_app, user):
    """A browser signed in to ``web_app``, and the ID token the RP holds."""
    session = sign_in(client, services, user)
    body = exchange(client, get_code(client, services, web_app[0]), *web_app).get_json()
    return session, body["id_token"]


def signed_out(services, session) -> bool:
    return services.sessions.get(session.id) is None


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_logout_with_a_matching_hint_redirects_with_state(client, services, web_app, signed_in):
    session, id_token = signed_in
    response = client.get(
        "/oauth2/logout", query_string={"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "s-9"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == BYE + "?state=s-9"
    assert signed_out(services, session)
    assert any(c.startswith("gh_sso=;") for c in response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("gh_sso") is None
    event = services.db.session.query(AuditEvent).filter_by(type="logout").one()
    assert event.sub == session.sub and event.client_id == web_app[0]


@pytest.mark.parametrize("uri", [BYE + "/", BYE + "/more", BYE + "?x=1", "https://evil.example/bye", BYE.upper()])
def test_a_variant_post_logout_uri_is_not_followed(client, services, signed_in, uri):
    session, id_token = signed_in
    response = client.get(
        "/oauth2/logout", query_string={"id_token_hint": id_token, "post_logout_redirect_uri": uri, "state": "s-9"}
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "signed out" in response.get_data(as_text=True)
    assert signed_out(services, session)


def test_without_a_hint_the_person_confirms(client, services, web_app, signed_in):
    session, _ = signed_in
    params = {"client_id": web_app[0], "post_logout_redirect_uri": BYE, "state": "s-1"}
    page = client.get("/oauth2/logout", query_string=params)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sign out" in html and "Acme" in html
    assert not signed_out(services, session)
    # a POST without the CSRF token does nothing (an RP's POST is re-asked as a GET)
    forged = client.post("/oauth2/logout", data={**params, "csrf_token": "forged", "submit": "Sign out"})
    assert forged.status_code == 200 and not signed_out(services, session)
    response = client.post("/oauth2/logout", data={**params, "csrf_token": csrf_token(html), "submit": "Sign out"})
    assert response.status_code == 302
    assert response.headers["Location"] == BYE + "?state=s-1"
    assert signed_out(services, session)


def test_a_hint_for_someone_else_needs_confirmation(client, services, web_app, signed_in):
    _, id_token = signed_in
    other = users.create(services, "bob")
    other_session = sign_in(client, services, other)
    page = client.get("/oauth2/logout", query_string={"id_token_hint": id_token})
    assert page.status_code == 200 and "csrf_token" in page.get_data(as_text=True)
    assert not signed_out(services, other_session)


def test_an_rp_post_is_re_asked_as_a_get(client, signed_in):
    _, id_token = signed_in
    response = client.post("/oauth2/logout", data={"id_token_hint": id_token, "state": "s"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/oauth2/logout?")
    assert "id_token_hint=" in response.headers["Location"]


def test_an_expired_hint_is_accepted(client, services, web_app, signed_in, user):
    session, _ = signed_in
    now = int(services.clock.time())
    claims = {
        "iss": services.settings.issuer,
        "sub": user.sub,
        "aud": web_app[0],
        "iat": now - 7200,
        "exp": now - 3600,
        "auth_time": now - 7200,
    }
    expired = services.keys.signer("RS256").sign(claims, "JWT")
    response = client.get("/oauth2/logout", query_string={"id_token_hint": expired, "post_logout_redirect_uri": BYE})
    assert response.headers["Location"] == BYE
    assert signed_out(services, session)


def test_a_forged_hint_is_an_error_and_nothing_happens(client, services, signed_in):
    session, id_token = signed_in
    head, body, _sig = id_token.split(".")
    response = client.get(
        "/oauth2/logout", query_string={"id_token_hint": f"{head}.{body}.AAAA", "post_logout_redirect_uri": BYE}
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert not signed_out(services, session)


def test_client_id_must_match_the_hints_audience(client, services, signed_in):
    session, id_token = signed_in
    other = make_app(services, name="Other")
    response = client.get(
        "/oauth2/logout",
        query_string={"id_token_hint": id_token, "client_id": other[0], "post_logout_redirect_uri": BYE},
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert not signed_out(services, session)


def test_no_session_and_no_parameters_shows_the_signed_out_page(client, services):
    response = client.get("/oauth2/logout")
    assert response.status_code == 200
    assert "You are signed out" in response.get_data(as_text=True)
    assert services.db.session.query(AuditEvent).filter_by(type="logout").count() == 0


def test_without_a_client_there_is_no_redirect(client, services, user):
    session = sign_in(client, services, user)
    page = client.get("/oauth2/logout", query_string={"post_logout_redirect_uri": BYE})
    html = page.get_data(as_text=True)
    response = client.post("/oauth2/logout", data={"post_logout_redirect_uri": BYE, "csrf_token": csrf_token(html)})
    assert response.status_code == 200 and "Location" not in response.headers
    assert signed_out(services, session)
