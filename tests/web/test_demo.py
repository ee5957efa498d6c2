"""The demo relying party: the authorize redirect it builds, and how its callback refuses.

The full browser round trip (through /oauth2/authorize and the hosted pages) is a browser
test; here the token endpoint's answer is supplied by the test while the JWKS and userinfo
requests go to the real app through a requests adapter.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from requests.structures import CaseInsensitiveDict

from blueprints import demo
from cli import seed_demo
from idp.context import RequestContext
from idp.oauth.tokens import Principal

ISSUER = "http://127.0.0.1:5000"


@pytest.fixture
def demo_data(services):
    return seed_demo(services)


def text(response) -> str:
    return response.get_data(as_text=True)


def start(client) -> tuple[dict, dict]:
    """GET /demo/login; the authorize query and what the browser session keeps."""
    response = client.get("/demo/login")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/oauth2/authorize"
    with client.session_transaction() as session:
        pending = dict(session[demo.PENDING])
    return {k: v[0] for k, v in parse_qs(location.query).items()}, pending


def test_index_offers_sign_in(client, demo_data):
    response = client.get("/demo")
    assert response.status_code == 200
    assert "Sign in with Gatehouse" in text(response)
    assert 'href="/demo/login"' in text(response)
    assert "<script" not in text(response) and "style=" not in text(response)


def test_index_without_the_demo_client_explains_what_to_run(client):
    response = client.get("/demo")
    assert response.status_code == 200
    assert "flask demo" in text(response)


def test_login_redirects_to_authorize_with_pkce_state_and_nonce(client, demo_data):
    query, pending = start(client)
    assert query["response_type"] == "code"
    assert query["client_id"] == "TENANT_CLIENT_ID"
    assert query["redirect_uri"] == f"{ISSUER}/demo/callback"
    assert set(query["scope"].split()) == {"openid", "profile", "email", "phone"}
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == create_s256_code_challenge(pending["code_verifier"])
    assert query["state"] == pending["state"] and len(query["state"]) >= 20
    assert query["nonce"] == pending["nonce"] and len(query["nonce"]) >= 20


def test_each_sign_in_gets_fresh_values(client, demo_data):
    first, _ = start(client)
    second, _ = start(client)
    for key in ("state", "nonce", "code_challenge"):
        assert first[key] != second[key]


def test_callback_state_mismatch(client, demo_data):
    _, pending = start(client)
    response = client.get("/demo/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "state does not match" in text(response)
    # the pending sign-in is spent: the right state afterwards is refused too
    response = client.get(f"/demo/callback?code=abc&state={pending['state']}")
    assert response.status_code == 400


def test_callback_without_a_started_sign_in(client, demo_data):
    response = client.get("/demo/callback?code=abc&state=whatever")
    assert response.status_code == 400
    assert "state does not match" in text(response)


def test_callback_shows_the_authorization_error(client, demo_data):
    _, pending = start(client)
    response = client.get(f"/demo/callback?error=access_denied&error_description=User+said+no&state={pending['state']}")
    assert response.status_code == 400
    assert "access_denied: User said no" in text(response)


def test_callback_from_another_issuer(client, demo_data):
    _, pending = start(client)
    response = client.get(f"/demo/callback?code=abc&state={pending['state']}&iss=https://evil.example")
    assert response.status_code == 400
    assert "another issuer" in text(response)


def test_callback_without_code(client, demo_data):
    _, pending = start(client)
    response = client.get(f"/demo/callback?state={pending['state']}")
    assert response.status_code == 400
    assert "no code" in text(response)


# -- the exchange, with the token endpoint's answer supplied by the test --------------------


class AppAdapter(requests.adapters.BaseAdapter):
    """Routes the demo's HTTP calls into the Flask app; ``token`` answers /oauth2/token."""

    def __init__(self, app, token):
        super().__init__()
        self.app, self.token, self.calls = app, token, []

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        self.calls.append((request.method, url.path, request.headers.get("Authorization", "")))
        if url.path == "/oauth2/token":
            status, body = self.token(request)
            content = json.dumps(body).encode()
        else:
            response = self.app.test_client().open(url.path, method=request.method, headers=dict(request.headers))
            status, content = response.status_code, response.get_data()
        out = requests.Response()
        out.status_code, out._content, out.url, out.request = status, content, request.url, request
        out.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        return out

    def close(self):
        pass


@pytest.fixture
def exchange(app, services, demo_data, monkeypatch):
    """Installs an adapter whose token endpoint issues real tokens for the demo user."""
    state = {"nonce": None, "error": None}

    def token(request):
        if state["error"]:
            return 400, {"error": state["error"], "error_description": "The code is not valid."}
        client = services.clients.by_client_id("TENANT_CLIENT_ID")
        user = services.users.by_sub(demo_data["user"]["sub"])
        principal = Principal(user=user, auth_time=int(time.time()), amr=["pwd"], nonce=state["nonce"])
        tokens = services.tokens.issue(
            client, principal, RequestContext(), grant_type="authorization_code", scope="openid profile email phone"
        )
        return 200, tokens

    adapter = AppAdapter(app, token)
    original = demo._oauth

    def patched():
        session = original()
        session.mount(ISSUER, adapter)
        return session

    monkeypatch.setattr(demo, "_oauth", patched)
    state["adapter"] = adapter
    return state


def test_callback_exchanges_verifies_and_shows_claims(client, exchange, demo_data):
    _, pending = start(client)
    exchange["nonce"] = pending["nonce"]
    response = client.get(f"/demo/callback?code=the-code&state={pending['state']}")
    assert response.status_code == 200, text(response)
    page = text(response)
    assert demo_data["user"]["sub"] in page and "Demo User" in page
    assert "&#34;nonce&#34;" in page or '"nonce"' in page
    # PKCE verifier and Basic client auth went to the token endpoint; userinfo got the bearer
    methods = [(m, p) for m, p, _ in exchange["adapter"].calls]
    assert methods == [("POST", "/oauth2/token"), ("GET", "/oauth2/jwks"), ("GET", "/oauth2/userinfo")]
    assert exchange["adapter"].calls[0][2].startswith("Basic ")
    assert exchange["adapter"].calls[2][2].startswith("Bearer ")
    assert f"{ISSUER}/oauth2/logout?id_token_hint=" in page
    assert "post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fdemo" in page
    with client.session_transaction() as session:
        logout_state = session[demo.LOGOUT_STATE]
    assert f"state={logout_state}" in page
    # back from the IdP's logout with that state
    assert "You have signed out." in text(client.get(f"/demo?state={logout_state}"))


def test_callback_refuses_an_id_token_with_another_nonce(client, exchange):
    _, pending = start(client)
    exchange["nonce"] = "someone-elses-nonce"
    response = client.get(f"/demo/callback?code=the-code&state={pending['state']}")
    assert response.status_code == 400
    assert "ID token failed verification" in text(response)


def test_callback_shows_a_token_endpoint_refusal(client, exchange):
    _, pending = start(client)
    exchange["error"] = "invalid_grant"
    response = client.get(f"/demo/callback?code=the-code&state={pending['state']}")
    assert response.status_code == 400
    assert "invalid_grant" in text(response)


def test_callback_when_the_issuer_is_unreachable(client, demo_data, monkeypatch):
    class Down(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):
            raise requests.ConnectionError("refused")

        def close(self):
            pass

    original = demo._oauth

    def patched():
        session = original()
        session.mount(ISSUER, Down())
        return session

    monkeypatch.setattr(demo, "_oauth", patched)
    _, pending = start(client)
    response = client.get(f"/demo/callback?code=the-code&state={pending['state']}")
    assert response.status_code == 400
    assert "Could not talk to" in text(response)


def test_flask_demo_prints_the_demo_url(runner, services):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert f"{ISSUER}/demo " in result.output


def test_round_trip_through_the_real_authorize_and_token_endpoints(app, client, demo_data, monkeypatch):
    """Signed in on the hosted page, the demo's sign-in comes back with a code that the real
    token endpoint exchanges (the demo's HTTP calls are routed into the app in-process)."""
    from tests.web.conftest import submit

    def token(request):
        response = app.test_client().post("/oauth2/token", data=request.body, headers=dict(request.headers))
        return response.status_code, response.get_json()

    adapter = AppAdapter(app, token)
    original = demo._oauth

    def patched():
        session = original()
        session.mount(ISSUER, adapter)
        return session

    monkeypatch.setattr(demo, "_oauth", patched)
    assert submit(client, "/login", {"username": "demo", "password": "demo-password-1"}).status_code == 302
    authorize = urlsplit(client.get("/demo/login").headers["Location"])
    response = client.get(f"{authorize.path}?{authorize.query}")
    assert response.status_code == 302, text(response)
    callback = urlsplit(response.headers["Location"])
    assert callback.path == "/demo/callback"
    response = client.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 200, text(response)
    assert demo_data["user"]["sub"] in text(response)
    assert "Demo User" in text(response)
