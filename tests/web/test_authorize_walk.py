"""The pages inside a real authorization request: /oauth2/authorize → pages → code."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

from tests.web.conftest import PASSWORD, csrf_token, text

VERIFIER = "a-very-long-code-verifier-for-the-page-tests-0123456789"


def _authorize(client, client_id: str, **extra) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://rp.example/cb",
        "scope": "openid profile",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    response = client.get("/oauth2/authorize", query_string=params)
    assert response.status_code == 302, text(response)
    return response.headers["Location"]


def _follow_to_client(client, location: str) -> dict:
    while not location.startswith("https://rp.example/cb"):
        response = client.get(location)
        assert response.status_code in (302, 303), text(response)
        location = response.headers["Location"]
    return parse_qs(urlsplit(location).query)


def test_password_login_inside_an_authorization_request(client, web_app, user):
    login = _authorize(client, web_app.client_id, ui_locales="zh-CN", login_hint="alice")
    assert login.startswith("/login?authz=")
    page = text(client.get(login))
    assert '<html lang="zh-Hans">' in page
    assert 'value="alice"' in page
    response = client.post(login, data={"csrf_token": csrf_token(page), "username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    answer = _follow_to_client(client, response.headers["Location"])
    assert answer["state"] == ["s1"]
    assert answer["code"]


def test_third_party_application_asks_for_consent(client, make_app, user):
    app = make_app(client_id="THIRD", name="Third Party", first_party=False)
    login = _authorize(client, app.client_id)
    page = text(client.get(login))
    response = client.post(login, data={"csrf_token": csrf_token(page), "username": "alice", "password": PASSWORD})
    response = client.get(response.headers["Location"])
    consent = response.headers["Location"]
    assert consent.startswith("/consent?authz=")
    page = text(client.get(consent))
    assert "Third Party" in page
    response = client.post(consent, data={"csrf_token": csrf_token(page), "allow": "1"})
    answer = _follow_to_client(client, response.headers["Location"])
    assert answer["code"]
