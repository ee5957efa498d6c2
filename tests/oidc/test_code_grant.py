"""The token endpoint for authorization codes: single use, replay revocation, expiry, PKCE,
and the ID token's claims (OIDC Core 2, 3.1.3.6)."""

from __future__ import annotations

import hashlib
import time
from base64 import urlsafe_b64encode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.crypto import hash_secret
from idp.store import Keys
from tests.factories import users
from tests.helpers import send_sms, sms_login
from tests.oidc.test_authorize import REDIRECT, at_client, authorize, get_code, make_app, new_verifier, sign_in


@pytest.fixture
def user(services):
    return users.create(services, "ada", name="Ada")


@pytest.fixture
def web_app(services):
    return make_app(services)


@pytest.fixture
def spa_app(services):
    return make_app(services, type="spa")[0]


def exchange(client, code, client_id, secret=None, **extra):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    if secret:
        body["client_secret"] = secret
    body.update(extra)
    return client.post("/oauth2/token", data={k: v for k, v in body.items() if v is not None})


def refresh(client, refresh_token, client_id, secret):
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": secret,
        },
    )


def verified_claims(client, token) -> dict:
    """Signature checked against the published JWKS, as an RP would."""
    decoded = jwt.decode(token, KeySet.import_key_set(client.get("/oauth2/jwks").get_json()), algorithms=["RS256"])
    return decoded.claims


def test_code_exchange_returns_tokens_with_the_sessions_facts(client, services, web_app, user, clock):
    session = sign_in(client, services, user, amr=("pwd",))
    clock.advance(30)  # so that "now" and the session's auth_time differ
    code = get_code(client, services, web_app[0])
    response = exchange(client, code, *web_app)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["access_token"] and body["refresh_token"] and body["scope"] == "openid profile"
    claims = verified_claims(client, body["id_token"])
    assert claims["iss"] == services.settings.issuer
    assert claims["aud"] == web_app[0]
    assert claims["sub"] == user.sub
    assert claims["auth_time"] == session.auth_time < claims["iat"]
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:gatehouse:acr:1fa"
    assert claims["nonce"] == "n-1"
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == urlsafe_b64encode(digest[:16]).decode().rstrip("=")
    access = verified_claims(client, body["access_token"])
    assert access["auth_time"] == session.auth_time and access["acr"] == "urn:gatehouse:acr:1fa"


def test_acr_follows_from_amr(client, services, web_app, user):
    sign_in(client, services, user, amr=("pwd", "otp", "mfa"))
    body = exchange(client, get_code(client, services, web_app[0]), *web_app).get_json()
    claims = verified_claims(client, body["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:gatehouse:acr:2fa"


def test_otp_grant_acr_is_derived_too(client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    otp_token = send_sms(client).get_json()["otp_token"]
    body = sms_login(client, otp_token, outbox.last_code()).get_json()
    assert verified_claims(client, body["id_token"])["acr"] == "urn:gatehouse:acr:1fa"


def test_refreshed_id_token_keeps_auth_time_and_drops_the_nonce(client, services, web_app, user, clock):
    session = sign_in(client, services, user)
    first = exchange(client, get_code(client, services, web_app[0]), *web_app).get_json()
    clock.advance(120)
    refreshed = refresh(client, first["refresh_token"], *web_app)
    assert refreshed.headers["Cache-Control"] == "no-store"
    claims = verified_claims(client, refreshed.get_json()["id_token"])
    assert claims["iat"] == int(clock.time())  # a new ID token...
    assert claims["auth_time"] == session.auth_time  # ...about the same sign-in
    assert claims["amr"] == ["pwd"]
    assert "nonce" not in claims  # OIDC Core 12.2: the nonce belongs to the authentication


def test_a_refresh_token_lives_its_lifetime_and_no_longer(client, services, web_app, user, clock):
    sign_in(client, services, user)
    early, late = (
        exchange(client, get_code(client, services, web_app[0]), *web_app).get_json()["refresh_token"] for _ in range(2)
    )
    clock.advance(services.settings.refresh_token_ttl - 1)
    assert refresh(client, early, *web_app).status_code == 200  # its last second
    clock.advance(2)
    response = refresh(client, late, *web_app)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_no_nonce_requested_means_none_in_the_id_token(client, services, web_app, user):
    sign_in(client, services, user)
    body = exchange(client, get_code(client, services, web_app[0], nonce=None), *web_app).get_json()
    assert "nonce" not in verified_claims(client, body["id_token"])


# -- single use, replay, expiry ------------------------------------------------------------------
def test_code_reuse_fails_and_revokes_the_first_tokens(client, services, web_app, user):
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    first = exchange(client, code, *web_app)
    assert first.status_code == 200
    second = exchange(client, code, *web_app)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert second.headers["Cache-Control"] == "no-store"
    # RFC 6749 4.1.2: the tokens issued from the code are revoked
    assert refresh(client, first.get_json()["refresh_token"], *web_app).get_json()["error"] == "invalid_grant"
    from idp.models import AuditEvent

    events = services.db.session.query(AuditEvent).filter_by(type="token.revoke_family").all()
    assert [e.details["reason"] for e in events] == ["code_replay"]


def test_codes_are_stored_hashed_with_a_short_ttl(client, services, web_app, user):
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    assert services.redis.exists(Keys.auth_code(hash_secret(code)))
    assert 0 < services.redis.pttl(Keys.auth_code(hash_secret(code))) <= 60_000
    assert not any(
        code in key or code in (services.redis.get(key) or "")
        for key in list(services.redis.scan_iter("gh:authz:*"))
        if services.redis.type(key) == "string"
    )


def test_an_expired_code_is_refused(client, services, web_app, user):
    services.authz.code_ttl = 0.05  # the code's lifetime is a real Redis TTL: made short, and waited out
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    time.sleep(0.1)
    assert exchange(client, code, *web_app).get_json()["error"] == "invalid_grant"


def test_a_code_for_another_client_is_refused(client, services, web_app, user):
    other = make_app(services, name="Other")
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    assert exchange(client, code, *other).get_json()["error"] == "invalid_grant"


def test_the_redirect_uri_must_match_the_authorize_request(client, services, web_app, user):
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    response = exchange(client, code, *web_app, redirect_uri=REDIRECT + "/other")
    assert response.get_json()["error"] == "invalid_grant"


def test_a_confidential_client_must_authenticate(client, services, web_app, user):
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    assert exchange(client, code, web_app[0], "wrong-secret").status_code == 401
    assert exchange(client, code, web_app[0]).status_code == 401


def test_a_locked_user_cannot_redeem_a_code(client, services, web_app, user):
    from idp.context import RequestContext

    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    services.users.update(user.sub, {"status": "locked"}, RequestContext())
    assert exchange(client, code, *web_app).get_json()["error"] == "invalid_grant"


# -- PKCE at the token endpoint --------------------------------------------------------------------
def test_public_client_with_the_verifier(client, services, spa_app, user):
    sign_in(client, services, user)
    verifier = new_verifier()
    code = get_code(client, services, spa_app, verifier=verifier)
    response = exchange(client, code, spa_app, code_verifier=verifier)
    assert response.status_code == 200, response.get_json()
    assert verified_claims(client, response.get_json()["id_token"])["aud"] == spa_app


def test_public_client_without_the_verifier(client, services, spa_app, user):
    sign_in(client, services, user)
    code = get_code(client, services, spa_app, verifier=new_verifier())
    assert exchange(client, code, spa_app).get_json()["error"] == "invalid_grant"  # RFC 7636 4.6


def test_wrong_verifier(client, services, spa_app, user):
    sign_in(client, services, user)
    code = get_code(client, services, spa_app, verifier=new_verifier())
    assert exchange(client, code, spa_app, code_verifier=new_verifier()).get_json()["error"] == "invalid_grant"


def test_no_downgrade_for_a_confidential_client(client, services, web_app, user):
    """A code issued with a challenge needs the verifier, whoever redeems it."""
    sign_in(client, services, user)
    verifier = new_verifier()
    code = get_code(client, services, web_app[0], verifier=verifier)
    assert exchange(client, code, *web_app).get_json()["error"] == "invalid_grant"
    code = get_code(client, services, web_app[0], verifier=verifier)
    assert exchange(client, code, *web_app, code_verifier=verifier).status_code == 200


def test_a_verifier_without_a_challenge_is_refused(client, services, web_app, user):
    # RFC 9700 4.8.2: a verifier for a code issued without a challenge is an injection sign
    sign_in(client, services, user)
    code = get_code(client, services, web_app[0])
    assert exchange(client, code, *web_app, code_verifier=new_verifier()).get_json()["error"] == "invalid_request"


def test_the_full_browser_round_trip(client, services, user):
    """Not signed in → login page → (session) → continue → code → tokens."""
    from urllib.parse import parse_qs, urlsplit

    spa = make_app(services, type="spa")[0]
    verifier = new_verifier()
    login = authorize(client, spa, verifier=verifier)
    authz_id = parse_qs(urlsplit(login.headers["Location"]).query)["authz"][0]
    sign_in(client, services, user, amr=("otp", "sms"))
    params = at_client(client.get("/oauth2/authorize/continue", query_string={"authz": authz_id}))
    body = exchange(client, params["code"], spa, code_verifier=verifier).get_json()
    assert verified_claims(client, body["id_token"])["amr"] == ["otp", "sms"]


def test_racing_redemptions_end_with_every_token_revoked(app, services, web_app, user):
    import threading

    browser = app.test_client()
    sign_in(browser, services, user)
    code = get_code(browser, services, web_app[0])
    barrier = threading.Barrier(6)
    results: list[dict] = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        results.append(exchange(client, code, *web_app).get_json())

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if "access_token" in r]
    assert len(winners) <= 1
    assert {r["error"] for r in results if "access_token" not in r} == {"invalid_grant"}
    # the race was a replay: whatever the first exchange got is revoked, whoever came first
    for winner in winners:
        assert refresh(app.test_client(), winner["refresh_token"], *web_app).get_json()["error"] == "invalid_grant"
    from idp.models import RefreshToken

    assert all(row.revoked_at is not None for row in services.db.session.query(RefreshToken))
