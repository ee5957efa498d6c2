"""End to end through the real hosted pages: authorize → /login → continue → /consent →
continue → code → tokens (the pages themselves are tested in tests/web)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.factories import users
from tests.oidc.test_authorize import at_client, authorize, make_app, new_verifier
from tests.oidc.test_code_grant import exchange, verified_claims

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def post_form(client, location: str, data: dict):
    page = client.get(location)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    return client.post(location, data={"csrf_token": token, **data})


def test_sign_in_and_consent_through_the_pages(client, services):
    user = users.create(services, "ada")
    spa = make_app(services, type="spa", first_party=False, login_methods=["password"])[0]
    verifier = new_verifier()
    login = authorize(client, spa, verifier=verifier).headers["Location"]
    assert urlsplit(login).path == "/login"
    signed_in = post_form(client, login, {"username": "ada", "password": "correct horse battery"})
    assert urlsplit(signed_in.headers["Location"]).path == "/oauth2/authorize/continue"
    consent = client.get(signed_in.headers["Location"]).headers["Location"]
    assert urlsplit(consent).path == "/consent"
    allowed = post_form(client, consent, {"allow": "Allow"})
    params = at_client(client.get(allowed.headers["Location"]))
    body = exchange(client, params["code"], spa, code_verifier=verifier).get_json()
    claims = verified_claims(client, body["id_token"])
    assert claims["sub"] == user.sub and claims["amr"] == ["pwd"] and claims["nonce"] == "n-1"
    authz_id = parse_qs(urlsplit(consent).query)["authz"][0]
    assert services.authz.peek(authz_id) is None
