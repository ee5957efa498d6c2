"""Signing in through another identity provider on the hosted pages, with a second Gatehouse
as the upstream: buttons, the first sign-in, later ones, linking, refusals, unlinking."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from idp.models import AuditEvent, FederatedLink, User
from tests.factories import PASSWORD, users
from tests.federation.conftest import UPSTREAM_EMAIL
from tests.web.conftest import csrf_token, text
from tests.web.test_mfa_pages import authorize, code_at_client, flask_session, id_token_claims

BUTTON = "Continue with Acme SSO"


@pytest.fixture
def rp(make_app, provider):
    """An application offering the provider (and passwords)."""
    return make_app(
        client_id="RP_APP", name="Shop", identity_provider_ids=[provider["id"]], scopes=["openid", "profile"]
    )


def continue_with(client, login_url: str, button: str = BUTTON) -> str:
    """Press "Continue with ..." on the login page; returns where the browser is sent."""
    page = text(client.get(login_url))
    assert button in page
    action = re.search(
        r'<form method="post" action="([^"]+)">\s*<input[^>]*csrf_token[^>]*>\s*<button[^>]*>' + button, page
    )
    assert action, page
    response = client.post(action.group(1).replace("&amp;", "&"), data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302, text(response)
    return response.headers["Location"]


def back_from_upstream(client, upstream, login_url: str, **sign_in):
    """Go upstream, sign in there, and bring the callback back to our Gatehouse."""
    landed, _ = upstream.sign_in(continue_with(client, login_url), **sign_in)
    parts = urlsplit(landed)
    return client.get(f"{parts.path}?{parts.query}")


def linked(services, sub: str | None = None) -> list[FederatedLink]:
    query = select(FederatedLink)
    return list(services.db.session.scalars(query.where(FederatedLink.sub == sub) if sub else query))


def test_the_login_page_shows_only_the_providers_the_application_offers(client, make_app, provider, rp):
    assert BUTTON in text(client.get(authorize(client, rp.client_id)))
    other = make_app(client_id="OTHER_APP")
    assert "Continue with" not in text(client.get(authorize(client, other.client_id)))


def test_first_sign_in_creates_a_linked_user_with_amr_fed_and_the_second_finds_the_link(
    app, client, services, upstream, provider, rp
):
    response = back_from_upstream(client, upstream, authorize(client, rp.client_id))
    assert response.status_code == 302, text(response)
    claims = id_token_claims(client, code_at_client(client, response.headers["Location"]), rp.client_id)
    assert claims["amr"] == ["fed"]
    user = services.users.by_sub(claims["sub"])
    assert user.email == UPSTREAM_EMAIL and user.email_verified and user.name == "Uma"
    [link] = linked(services)
    assert (link.provider_id, link.subject, link.sub) == (provider["id"], upstream.user_sub, user.sub)

    client.delete_cookie("gh_sso")  # signed out: the next sign-in goes upstream again
    again = back_from_upstream(client, upstream, authorize(client, rp.client_id))
    claims = id_token_claims(client, code_at_client(client, again.headers["Location"]), rp.client_id)
    assert claims["sub"] == user.sub and claims["amr"] == ["fed"]
    assert len(linked(services)) == 1
    assert services.db.session.scalar(select(User).where(User.email == UPSTREAM_EMAIL)).sub == user.sub
    types = [e.type for e in services.db.session.scalars(select(AuditEvent).where(AuditEvent.sub == user.sub))]
    assert types.count("login.federated") == 2 and "federation.link" in types
    metrics = text(client.get("/metrics"))
    assert re.search(r'gatehouse_logins_total\{method="fed",result="success"\} [1-9]', metrics)


def test_the_application_mfa_policy_applies_after_a_federated_sign_in(client, make_app, upstream, provider):
    bank = make_app(client_id="BANK", mfa="required", identity_provider_ids=[provider["id"]], scopes=["openid"])
    response = back_from_upstream(client, upstream, authorize(client, bank.client_id))
    assert response.status_code == 302 and response.headers["Location"].startswith("/mfa")


def test_an_existing_verified_email_is_linked_only_after_signing_in(client, services, upstream, provider, rp):
    owner = users.create(services, "olga", with_verified_email=UPSTREAM_EMAIL)
    login_url = authorize(client, rp.client_id)
    response = back_from_upstream(client, upstream, login_url)
    assert response.status_code == 200
    assert "An account with this email already exists — sign in to link" in text(response)
    assert linked(services) == []  # never silently
    page = text(client.get(login_url))
    done = client.post(login_url, data={"csrf_token": csrf_token(page), "username": "olga", "password": PASSWORD})
    assert done.status_code == 302
    claims = id_token_claims(client, code_at_client(client, done.headers["Location"]), rp.client_id)
    assert claims["sub"] == owner.sub and "fed" in claims["amr"] and "pwd" in claims["amr"]
    [link] = linked(services)
    assert link.sub == owner.sub and link.subject == upstream.user_sub


def test_signing_in_to_another_account_links_nothing(client, services, upstream, provider, rp):
    users.create(services, "olga", with_verified_email=UPSTREAM_EMAIL)
    users.create(services, "mallory")
    login_url = authorize(client, rp.client_id)
    back_from_upstream(client, upstream, login_url)
    page = text(client.get(login_url))
    client.post(login_url, data={"csrf_token": csrf_token(page), "username": "mallory", "password": PASSWORD})
    assert linked(services) == []


def test_a_disabled_linked_user_is_refused(client, services, upstream, provider, rp):
    back_from_upstream(client, upstream, authorize(client, rp.client_id))
    [link] = linked(services)
    services.users.update(link.sub, {"status": "disabled"}, _ctx())
    client.delete_cookie("gh_sso")
    response = back_from_upstream(client, upstream, authorize(client, rp.client_id))
    assert response.status_code == 403 and "Account unavailable" in text(response)


def test_a_replayed_callback_and_another_browser_are_refused(app, client, upstream, provider, rp):
    landed, _ = upstream.sign_in(continue_with(client, authorize(client, rp.client_id)))
    parts = urlsplit(landed)
    other = app.test_client()
    stolen = other.get(f"{parts.path}?{parts.query}")  # another browser: no binding
    assert stolen.status_code == 404 and "This sign-in has expired" in text(stolen)
    replay = client.get(f"{parts.path}?{parts.query}")  # the record was spent by the first try
    assert replay.status_code == 404


def test_a_forged_state_is_refused(client, upstream, provider, rp):
    continue_with(client, authorize(client, rp.client_id))
    response = client.get(f"/login/federated/{provider['id']}/callback?state=forged&code=x")
    assert response.status_code == 404


def test_the_upstream_saying_no_goes_back_to_the_login_page(client, services, upstream, provider, rp):
    login_url = authorize(client, rp.client_id)
    to_upstream = continue_with(client, login_url)
    state = re.search(r"state=([^&]+)", to_upstream).group(1)
    response = client.get(f"/login/federated/{provider['id']}/callback?error=access_denied&state={state}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?authz=")
    assert "You did not finish signing in there" in text(client.get(response.headers["Location"]))
    failure = services.db.session.scalar(select(AuditEvent).where(AuditEvent.type == "login.failure"))
    assert failure.details["reason"] == "federation.denied"


def test_a_down_upstream_answers_503(client, services, make_app, admin_headers):
    from tests.helpers import free_port

    body = client.post(
        "/admin/api/v1/identity-providers",
        json={"name": "Gone", "kind": "oidc", "issuer": f"http://127.0.0.1:{free_port()}", "client_id": "c"},
        headers=admin_headers,
    ).get_json()
    app_ = make_app(client_id="GONE_APP", identity_provider_ids=[body["id"]])
    page = text(client.get(authorize(client, app_.client_id)))
    action = re.search(r'action="(/login/federated/[^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.post(action, data={"csrf_token": csrf_token(page)})
    assert response.status_code == 503 and "did not answer" in text(response)


def test_an_application_cannot_start_a_provider_it_does_not_offer(client, make_app, provider):
    other = make_app(client_id="OTHER_APP")
    login_url = authorize(client, other.client_id)
    page = text(client.get(login_url))
    authz = re.search(r"authz=([^&\"]+)", login_url).group(1)
    response = client.post(f"/login/federated/{provider['id']}?authz={authz}", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302 and "not available" in text(client.get(response.headers["Location"]))


# -- the account page -------------------------------------------------------------------------
def signed_in_through_upstream(client, services, upstream, rp) -> User:
    back_from_upstream(client, upstream, authorize(client, rp.client_id))
    [link] = linked(services)
    return services.users.by_sub(link.sub)


def unlink(client, provider_id: str):
    page = text(client.get("/account"))
    return client.post(f"/account/linked/{provider_id}/unlink", data={"csrf_token": csrf_token(page)})


def test_the_account_page_lists_links_and_unlinking_the_only_way_in_is_refused(
    client, services, upstream, provider, rp
):
    user = signed_in_through_upstream(client, services, upstream, rp)
    services.users.update(user.sub, {"email_verified": False}, _ctx())  # no code can reach them
    page = text(client.get("/account"))
    assert "Linked accounts" in page and "Acme SSO" in page and "Unlink" in page
    response = unlink(client, provider["id"])
    assert response.status_code == 302
    assert "This is your only way to sign in" in text(client.get(response.headers["Location"]))
    assert len(linked(services)) == 1


def test_unlinking_with_another_way_in(client, services, upstream, provider, rp):
    user = signed_in_through_upstream(client, services, upstream, rp)  # a verified email: codes reach them
    response = unlink(client, provider["id"])
    assert "The account was unlinked." in text(client.get(response.headers["Location"]))
    assert linked(services, user.sub) == []
    event = services.db.session.scalar(select(AuditEvent).where(AuditEvent.type == "federation.unlink"))
    assert event.sub == user.sub and event.result == "success"


def _ctx():
    from idp.context import RequestContext

    return RequestContext(ip="127.0.0.1")


def test_only_the_binding_and_opaque_handles_are_in_the_browser(app, client, upstream, provider, rp):
    to_upstream = continue_with(client, authorize(client, rp.client_id))
    held = flask_session(app, client)
    state = re.search(r"state=([^&]+)", to_upstream).group(1)
    assert "gh_fed_binding" in held and state not in str(held)


def test_a_form_post_callback_continues_as_a_get_in_the_same_browser(client, services, upstream, provider, rp):
    """response_mode=form_post: the upstream's cross-site POST carries no session cookie, so it
    becomes a GET of the same address (which does), and the sign-in completes."""
    landed, params = upstream.sign_in(continue_with(client, authorize(client, rp.client_id)))
    path = urlsplit(landed).path
    posted = client.post(path, data=params)  # no CSRF token: the state protects it
    assert posted.status_code == 303
    again = urlsplit(posted.headers["Location"])
    assert again.path == path and f"state={params['state']}" in again.query
    done = client.get(f"{again.path}?{again.query}")
    assert done.status_code == 302 and len(linked(services)) == 1


def test_signing_in_with_an_email_code_links_too(client, services, upstream, provider, rp, outbox):
    owner = users.create(services, "olga", with_password=False, with_verified_email=UPSTREAM_EMAIL)
    login_url = authorize(client, rp.client_id)
    back_from_upstream(client, upstream, login_url)
    code_url = login_url.replace("/login?", "/login/email?")
    page = text(client.get(code_url))
    sent = client.post(code_url, data={"csrf_token": csrf_token(page), "email": UPSTREAM_EMAIL})
    assert sent.status_code == 302, text(sent)
    verify_url = sent.headers["Location"]
    page = text(client.get(verify_url))
    done = client.post(verify_url, data={"csrf_token": csrf_token(page), "code": outbox.last_code(UPSTREAM_EMAIL)})
    assert done.status_code == 302, text(done)
    claims = id_token_claims(client, code_at_client(client, done.headers["Location"]), rp.client_id)
    assert claims["sub"] == owner.sub and claims["amr"] == ["otp", "email", "fed"]
    assert [link.sub for link in linked(services)] == [owner.sub]
