"""The authorization endpoint (OIDC Core 3.1.2, RFC 6749 4.1, RFC 7636): validation, redirect
URI exactness, prompt / max_age / consent decisions, response modes.

A browser is "signed in" by creating an SSO session directly and setting its cookie; the
hosted pages themselves are tested elsewhere.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from idp.context import RequestContext
from tests.factories import SECRET, applications, users

REDIRECT = "https://rp.example/cb"
CTX = RequestContext(ip="127.0.0.1")


# -- helpers shared by the other tests/oidc modules ---------------------------------------------
def make_app(services, **fields) -> tuple[str, str | None]:
    """A first-party application (``tests/factories.py``): its client_id and secret."""
    data = {
        "name": "Acme",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": ["https://rp.example/bye"],
        "first_party": True,
        **fields,
    }
    app = applications.create(services, **data)
    return app.client_id, (None if app.is_public else data.get("client_secret", SECRET))


def sign_in(client, services, user, amr=("pwd",)):
    session = services.sessions.create(user.sub, list(amr), CTX)
    client.set_cookie("gh_sso", session.id)
    return session


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def authorize(client, client_id, *, verifier: str | None = None, **params):
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
    }
    if verifier:
        query.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    query.update(params)
    return client.get("/oauth2/authorize", query_string={k: v for k, v in query.items() if v is not None})


def location_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def at_client(response) -> dict[str, str]:
    """The parameters of a redirect back to the RP (asserts it goes to the RP)."""
    assert response.headers["Location"].startswith(REDIRECT + "?"), response.headers.get("Location")
    return location_params(response)


def get_code(client, services, client_id, user=None, **params) -> str:
    if user is not None:
        sign_in(client, services, user)
    return at_client(authorize(client, client_id, **params))["code"]


@pytest.fixture
def user(services):
    return users.create(services, "ada", name="Ada")


@pytest.fixture
def web_app(services):
    return make_app(services)


# -- redirect URI exactness and unknown clients: an error page, never a redirect ----------------
@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT + "/extra",
        REDIRECT + "?x=1",
        REDIRECT + "#frag",
        REDIRECT + "/",
        "https://evil.example/cb",
        "https://rp.example/CB",
        "http://rp.example/cb",
    ],
)
def test_redirect_uri_variants_get_the_error_page(client, web_app, uri):
    response = authorize(client, web_app[0], redirect_uri=uri)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.content_type
    assert "invalid_request" in response.get_data(as_text=True)


def test_missing_redirect_uri_gets_the_error_page(client, web_app):
    response = authorize(client, web_app[0], redirect_uri=None)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize("client_id", ["nope", None])
def test_unknown_client_gets_the_error_page(client, seeded, client_id):
    response = authorize(client, client_id)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.get_data(as_text=True)


def test_error_page_renders_in_each_locale(client, seeded):
    english = authorize(client, "nope").get_data(as_text=True)
    chinese = authorize(client, "nope", ui_locales="zh-CN").get_data(as_text=True)
    assert "Something went wrong" in english and "not known to this sign-in service" in english
    assert "invalid_client" in chinese


# -- errors after the redirect URI is known go back to the client ------------------------------
def test_unsupported_response_type_goes_back_with_state(client, web_app):
    params = at_client(authorize(client, web_app[0], response_type="token"))
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "st-1"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"request": "eyJ.x.y"}, "request_not_supported"),  # OIDC Core 3.1.2.6
        ({"scope": "admin"}, "invalid_scope"),
    ],
)
def test_invalid_parameters_go_back_to_the_client(client, web_app, extra, error):
    params = at_client(authorize(client, web_app[0], **extra))
    assert params["error"] == error
    assert params["state"] == "st-1"
    assert params["error_description"]


def test_a_client_without_the_code_grant_is_refused(client, services):
    client_id, _ = make_app(services, grant_types=["refresh_token"])
    assert at_client(authorize(client, client_id))["error"] == "unauthorized_client"


# -- PKCE (RFC 7636, S256 only) --------------------------------------------------------------------
def test_pkce_plain_is_refused(client, web_app):
    params = at_client(authorize(client, web_app[0], code_challenge="a" * 43, code_challenge_method="plain"))
    assert params["error"] == "invalid_request"


def test_pkce_challenge_without_method_means_plain_and_is_refused(client, web_app):
    assert at_client(authorize(client, web_app[0], code_challenge="a" * 43))["error"] == "invalid_request"


def test_public_client_must_send_a_challenge(client, services, user):
    client_id, _ = make_app(services, type="spa")
    sign_in(client, services, user)
    assert at_client(authorize(client, client_id))["error"] == "invalid_request"
    assert "code" in at_client(authorize(client, client_id, verifier=new_verifier()))


# -- sessions, prompt, max_age ----------------------------------------------------------------------
def test_without_a_session_the_browser_goes_to_the_login_page(client, services, web_app):
    response = authorize(client, web_app[0], login_hint="ada", ui_locales="zh-CN")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    authz_id = parse_qs(location.query)["authz"][0]
    pending = services.authz.peek(authz_id)
    assert pending.client_id == web_app[0] and pending.client_name == "Acme"
    assert pending.login_hint == "ada" and pending.ui_locales == "zh-CN"
    assert pending.scopes == ["openid", "profile"] and pending.nonce == "n-1"


def test_with_a_session_a_code_comes_back_at_once(client, services, web_app, user):
    session = sign_in(client, services, user)
    response = authorize(client, web_app[0])
    params = at_client(response)
    assert params["code"] and params["state"] == "st-1"
    assert params["iss"] == services.settings.issuer  # RFC 9207
    assert response.headers["Cache-Control"] == "no-store"
    assert services.sessions.get(session.id).clients == [web_app[0]]


def test_after_login_continue_issues_the_code(client, services, web_app, user):
    authz_id = parse_qs(urlsplit(authorize(client, web_app[0]).headers["Location"]).query)["authz"][0]
    # not signed in yet: continue sends the browser back to the login page
    again = client.get("/oauth2/authorize/continue", query_string={"authz": authz_id})
    assert urlsplit(again.headers["Location"]).path == "/login"
    sign_in(client, services, user)
    params = at_client(client.get("/oauth2/authorize/continue", query_string={"authz": authz_id}))
    assert params["code"] and params["state"] == "st-1"
    # the pending request is spent
    assert services.authz.peek(authz_id) is None
    stale = client.get("/oauth2/authorize/continue", query_string={"authz": authz_id})
    assert stale.status_code == 400 and "Location" not in stale.headers


@pytest.mark.parametrize("authz_id", ["unknown", "", "x" * 500])
def test_continue_with_an_unknown_request_shows_the_error_page(client, seeded, authz_id):
    response = client.get("/oauth2/authorize/continue", query_string={"authz": authz_id})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "authz.expired" in response.get_data(as_text=True)


def test_prompt_none_without_a_session_is_login_required(client, web_app):
    params = at_client(authorize(client, web_app[0], prompt="none"))
    assert params["error"] == "login_required"
    assert params["state"] == "st-1"


def test_prompt_none_with_a_session_answers_without_a_page(client, services, web_app, user):
    sign_in(client, services, user)
    assert "code" in at_client(authorize(client, web_app[0], prompt="none"))


def test_prompt_login_forces_the_login_page_even_with_a_session(client, services, web_app, user):
    old = sign_in(client, services, user)
    response = authorize(client, web_app[0], prompt="login")
    assert urlsplit(response.headers["Location"]).path == "/login"
    authz_id = parse_qs(urlsplit(response.headers["Location"]).query)["authz"][0]
    # the old session cannot finish the request: no loop-free shortcut around the sign-in
    assert (
        urlsplit(client.get("/oauth2/authorize/continue", query_string={"authz": authz_id}).headers["Location"]).path
        == "/login"
    )
    fresh = services.sessions.create(user.sub, ["pwd"], CTX, replaces=old.id)  # what the login page does
    client.set_cookie("gh_sso", fresh.id)
    assert "code" in at_client(client.get("/oauth2/authorize/continue", query_string={"authz": authz_id}))


def test_max_age_exceeded_forces_the_login_page(client, services, web_app, user, clock):
    sign_in(client, services, user)
    clock.advance(120)  # the sign-in is two minutes old
    assert urlsplit(authorize(client, web_app[0], max_age="60").headers["Location"]).path == "/login"
    assert "code" in at_client(authorize(client, web_app[0], max_age="600"))
    assert at_client(authorize(client, web_app[0], max_age="60", prompt="none"))["error"] == "login_required"


def test_a_sign_in_made_for_the_request_satisfies_max_age(client, services, web_app, user, clock):
    """max_age=0 (sign in now): the login made for the request finishes it, even seconds later."""
    response = authorize(client, web_app[0], max_age="0")
    authz_id = parse_qs(urlsplit(response.headers["Location"]).query)["authz"][0]
    sign_in(client, services, user)
    clock.advance(5)
    assert "code" in at_client(client.get("/oauth2/authorize/continue", query_string={"authz": authz_id}))


# -- consent ------------------------------------------------------------------------------------------
def consent_redirect(response) -> str:
    location = urlsplit(response.headers["Location"])
    assert location.path == "/consent", response.headers["Location"]
    return parse_qs(location.query)["authz"][0]


def continue_(client, authz_id):
    return client.get("/oauth2/authorize/continue", query_string={"authz": authz_id})


def test_first_party_skips_consent(client, services, web_app, user):
    sign_in(client, services, user)
    assert "code" in at_client(authorize(client, web_app[0]))


def test_third_party_needs_consent_once(client, services, user):
    client_id, _ = make_app(services, first_party=False)
    sign_in(client, services, user)
    authz_id = consent_redirect(authorize(client, client_id))
    # continuing without an answer asks again
    assert consent_redirect(continue_(client, authz_id)) == authz_id
    services.authz.decide_consent(authz_id, user.sub, True, CTX)
    assert "code" in at_client(continue_(client, authz_id))
    # remembered: the next request goes straight through, a wider one asks again
    assert "code" in at_client(authorize(client, client_id))
    consent_redirect(authorize(client, client_id, scope="openid profile email"))
    from idp.models import AuditEvent, Consent

    row = services.db.session.query(Consent).one()
    assert row.sub == user.sub and set(row.scopes) == {"openid", "profile"}
    assert services.db.session.query(AuditEvent).filter_by(type="consent.grant").count() == 1


def test_prompt_none_needing_consent_is_consent_required(client, services, user):
    client_id, _ = make_app(services, first_party=False)
    sign_in(client, services, user)
    params = at_client(authorize(client, client_id, prompt="none"))
    assert params["error"] == "consent_required" and params["state"] == "st-1"


def test_consent_denied_is_access_denied(client, services, user):
    client_id, _ = make_app(services, first_party=False)
    sign_in(client, services, user)
    authz_id = consent_redirect(authorize(client, client_id))
    services.authz.decide_consent(authz_id, user.sub, False, CTX)
    params = at_client(continue_(client, authz_id))
    assert params["error"] == "access_denied" and params["state"] == "st-1"
    from idp.models import Consent

    assert services.db.session.query(Consent).count() == 0


def test_a_consent_answer_binds_only_the_person_who_gave_it(client, services, user):
    client_id, _ = make_app(services, first_party=False)
    sign_in(client, services, user)
    authz_id = consent_redirect(authorize(client, client_id))
    services.authz.decide_consent(authz_id, user.sub, True, CTX)
    other = users.create(services, "bob")
    sign_in(client, services, other)
    assert consent_redirect(continue_(client, authz_id)) == authz_id


def test_prompt_consent_asks_even_for_first_party(client, services, web_app, user):
    sign_in(client, services, user)
    authz_id = consent_redirect(authorize(client, web_app[0], prompt="consent"))
    services.authz.decide_consent(authz_id, user.sub, True, CTX)
    assert "code" in at_client(continue_(client, authz_id))


def test_decide_consent_on_an_unknown_request(services):
    from idp.errors import IdpError

    with pytest.raises(IdpError) as info:
        services.authz.decide_consent("gone", "sub", True, CTX)
    assert info.value.code == "authz.expired"


# -- response_mode=form_post ------------------------------------------------------------------------
def test_form_post_returns_an_autosubmitting_page(client, services, web_app, user):
    sign_in(client, services, user)
    response = authorize(client, web_app[0], response_mode="form_post")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert f'action="{REDIRECT}"' in html
    assert re.search(r'name="code" value="[^"]{20,}"', html)
    assert 'name="state" value="st-1"' in html
    assert "form_post.js" in html and "<button" in html and "Continue" in html
    assert "<script>" not in html and "onload" not in html  # CSP: no inline script
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert client.get("/static/form_post.js").status_code == 200


def test_form_post_errors_are_posted_too(client, web_app):
    html = authorize(client, web_app[0], response_mode="form_post", prompt="none").get_data(as_text=True)
    assert 'name="error" value="login_required"' in html


def test_a_pending_request_gives_exactly_one_code(app, services, web_app, user):
    """Racing continues (double click, two tabs): one code, the others see the error page."""
    import threading

    first = app.test_client()
    authz_id = parse_qs(urlsplit(authorize(first, web_app[0]).headers["Location"]).query)["authz"][0]
    session = services.sessions.create(user.sub, ["pwd"], CTX)
    barrier = threading.Barrier(6)
    results: list[int] = []

    def attempt():
        browser = app.test_client()
        browser.set_cookie("gh_sso", session.id)
        barrier.wait()
        results.append(browser.get("/oauth2/authorize/continue", query_string={"authz": authz_id}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [302, 400, 400, 400, 400, 400]
