"""Revocable access tokens (RFC 7009): a Redis deny-list keyed by ``jti`` that every Bearer
endpoint and introspection consult, on every instance; revoking a refresh-token family (RFC 7009
revocation, reuse of a rotated token, a replayed authorization code: RFC 6749 4.1.2, RFC 9700
4.5) also denies the access tokens issued in that family; a Redis outage is 503, never 500."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from idp.models import AuditEvent
from idp.store import Keys
from tests.conftest import basic
from tests.factories import users
from tests.helpers import EMAIL_GRANT, TENANT, send_sms, sms_login
from tests.oidc.test_authorize import get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange
from tests.oidc.test_code_grant import refresh as code_refresh

CLIENT = {"client_id": "TENANT_CLIENT_ID", "client_secret": "TENANT_CLIENT_SECRET"}


@pytest.fixture
def user(services):
    return users.create(
        services, "ada", with_verified_phone="+8613612345678", with_verified_email="ada@example.com", name="Ada"
    )


def otp_login(client, outbox) -> dict:
    otp_token = send_sms(client).get_json()["otp_token"]
    response = sms_login(client, otp_token, outbox.last_code())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def tokens(client, seeded, outbox, user):
    return otp_login(client, outbox)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def refresh(client, refresh_token):
    return client.post("/oauth2/token", json={"grant_type": "refresh_token", "refresh_token": refresh_token, **CLIENT})


def revoke(client, token, headers=TENANT, **extra):
    return client.post("/oauth2/revoke", data={"token": token, **extra}, headers=headers)


def introspect(client, token, headers=TENANT):
    return client.post("/oauth2/introspect", data={"token": token}, headers=headers)


def userinfo_status(client, token) -> int:
    return client.get("/oauth2/userinfo", headers=bearer(token)).status_code


def _unverified_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- RFC 7009 for access tokens ------------------------------------------------------------------
@pytest.mark.parametrize("hint", ["access_token", None])
def test_a_revoked_access_token_is_refused_by_every_bearer_endpoint(client, tokens, services, user, hint):
    access = tokens["access_token"]
    assert userinfo_status(client, access) == 200
    assert introspect(client, access).get_json()["active"] is True

    extra = {"token_type_hint": hint} if hint else {}
    response = revoke(client, access, **extra)
    assert response.status_code == 200
    event = services.db.session.query(AuditEvent).filter_by(type="token.revoke").one()
    assert event.sub == user.sub and event.client_id == "TENANT_CLIENT_ID"
    assert event.details == {"token_type": "access_token", "jti": _unverified_claims(access)["jti"]}

    assert introspect(client, access).get_json() == {"active": False}
    refused = client.get("/oauth2/userinfo", headers=bearer(access))
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_token"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    # Tencent CIAM siblings, ZITADEL auth API, CloudBase: the same check, each in its own shape
    patch = client.patch("/userinfo", json={"name": "Mallory"}, headers=bearer(access))
    assert patch.status_code == 401 and patch.get_json()["error"] == "invalid_token"
    assert services.users.by_sub(user.sub).name == "Ada"  # nothing changed
    change = client.post(
        "/change_user_password",
        json={"old_password": "correct horse battery", "new_password": "another good secret"},
        headers=bearer(access),
    )
    assert change.status_code == 401
    zitadel = client.post("/auth/v1/users/me/auth_factors/_search", json={}, headers=bearer(access))
    assert zitadel.status_code == 401 and zitadel.get_json()["code"] == 16
    cloudbase = client.get("/auth/v1/user/me", headers=bearer(access))
    assert cloudbase.status_code == 401 and cloudbase.get_json()["error"] == "unauthenticated"


def test_revoking_an_access_token_leaves_its_refresh_token_alone(client, tokens):
    revoke(client, tokens["access_token"], token_type_hint="access_token")
    refreshed = refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert userinfo_status(client, refreshed.get_json()["access_token"]) == 200


def test_a_hint_naming_the_other_type_still_finds_the_access_token(client, tokens):
    # RFC 7009 2.1: a wrong hint only widens the search
    assert revoke(client, tokens["access_token"], token_type_hint="refresh_token").status_code == 200
    assert userinfo_status(client, tokens["access_token"]) == 401


def test_another_client_cannot_revoke_an_access_token(client, tokens):
    response = revoke(client, tokens["access_token"], headers=basic("CLIENT_4_ID", "CLIENT_4_SECRET"))
    assert response.status_code == 400
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_the_deny_entry_lives_exactly_until_the_tokens_expiry(client, tokens, services, clock):
    access = tokens["access_token"]
    claims = _unverified_claims(access)
    clock.advance(100)  # revoke 100 s into the token's 300 s life
    revoke(client, access)
    ttl = services.redis.ttl(Keys.revoked_access_token(claims["jti"]))
    remaining = claims["exp"] - int(clock.time())
    assert remaining - 2 <= ttl <= remaining
    assert ttl < services.settings.access_token_ttl - 90


def test_a_revocation_holds_on_every_instance(app, client, tokens, services, clock):
    """Two app instances on the same Redis and database: revoked on one, refused by the other."""
    from app import create_app
    from idp.services import Services

    other = create_app(services=Services.build(services.settings, clock=clock))
    try:
        other_client = other.test_client()
        assert userinfo_status(other_client, tokens["access_token"]) == 200
        revoke(client, tokens["access_token"])
        assert userinfo_status(other_client, tokens["access_token"]) == 401
        assert introspect(other_client, tokens["access_token"]).get_json() == {"active": False}
    finally:
        other.extensions["gatehouse"].db.dispose()


def test_a_client_credentials_token_can_be_revoked(client, services):
    client_id, secret = make_app(services, type="m2m", redirect_uris=[], scopes=["admin"])
    token = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).get_json()["access_token"]
    assert "grant_id" not in _unverified_claims(token)  # the application's own: no grant to revoke it with
    assert introspect(client, token, basic(client_id, secret)).get_json()["active"] is True
    assert revoke(client, token, basic(client_id, secret)).status_code == 200
    assert introspect(client, token, basic(client_id, secret)).get_json() == {"active": False}
    event = services.db.session.query(AuditEvent).filter_by(type="token.revoke").one()
    assert event.sub is None and event.client_id == client_id  # the application's own token


# -- families: revoking refresh tokens denies the access tokens they produced ----------------------
def test_revoking_a_refresh_token_denies_every_access_token_of_its_family(client, tokens):
    rotated = refresh(client, tokens["refresh_token"]).get_json()
    assert userinfo_status(client, tokens["access_token"]) == 200
    assert userinfo_status(client, rotated["access_token"]) == 200
    assert revoke(client, rotated["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert userinfo_status(client, tokens["access_token"]) == 401
    assert userinfo_status(client, rotated["access_token"]) == 401


def test_reuse_of_a_rotated_refresh_token_denies_the_familys_access_tokens(client, tokens):
    rotated = refresh(client, tokens["refresh_token"]).get_json()
    assert refresh(client, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    for access in (tokens["access_token"], rotated["access_token"]):
        assert userinfo_status(client, access) == 401
        assert introspect(client, access).get_json() == {"active": False}


def test_another_login_keeps_its_access_tokens(client, tokens, outbox):
    """A family is one login: revoking it leaves the person's other logins alone."""
    sent = client.post(
        "/otp/send",
        json={"usage": "login", "email": "ada@example.com", "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID"},
        headers=TENANT,
    )
    second = client.post(
        "/oauth2/token",
        json={
            "grant_type": EMAIL_GRANT,
            **CLIENT,
            "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID",
            "email": "ada@example.com",
            "otp_token": sent.get_json()["otp_token"],
            "otp": outbox.last_code(),
        },
    ).get_json()
    revoke(client, tokens["refresh_token"])
    assert userinfo_status(client, tokens["access_token"]) == 401
    assert userinfo_status(client, second["access_token"]) == 200


def test_every_access_token_names_its_grant_and_one_flag_denies_them_all(client, tokens, services):
    """The grant a token belongs to travels in it (``grant_id``): revoking the grant needs no
    list of its tokens, and a token issued in the very instant of the revocation is denied too."""
    rotated = refresh(client, tokens["refresh_token"]).get_json()
    grant = _unverified_claims(tokens["access_token"])["grant_id"]
    assert _unverified_claims(rotated["access_token"])["grant_id"] == grant
    assert services.redis.get(Keys.revoked_access_token_family(grant)) is None  # issuing writes nothing
    services.revocations.deny_family(grant)  # as a revocation racing the refresh below would
    late = refresh(client, rotated["refresh_token"]).get_json()  # its row was not revoked yet
    assert _unverified_claims(late["access_token"])["grant_id"] == grant
    assert userinfo_status(client, late["access_token"]) == 401
    assert introspect(client, late["access_token"]).get_json() == {"active": False}
    assert services.redis.ttl(Keys.revoked_access_token_family(grant)) > services.settings.access_token_ttl


def test_racing_refreshes_end_with_the_winners_access_token_denied(app, tokens):
    """Racing copies of one refresh token: the losers are replays, so whatever the winner got,
    its access token included, dies with the family."""
    barrier = threading.Barrier(6)
    results: list[dict] = []

    def attempt():
        browser = app.test_client()
        barrier.wait()
        results.append(refresh(browser, tokens["refresh_token"]).get_json())

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if "access_token" in r]
    assert len(winners) == 1
    assert userinfo_status(app.test_client(), winners[0]["access_token"]) == 401


def test_a_replayed_code_denies_the_access_token_it_gave(client, services):
    user = users.create(services, "ada")
    web = make_app(services)
    sign_in(client, services, user)
    code = get_code(client, services, web[0])
    first = exchange(client, code, *web).get_json()
    assert userinfo_status(client, first["access_token"]) == 200
    assert exchange(client, code, *web).get_json()["error"] == "invalid_grant"
    # RFC 6749 4.1.2 / RFC 9700 4.5: what the code gave is revoked, the access token too
    assert userinfo_status(client, first["access_token"]) == 401
    assert introspect(client, first["access_token"], basic(*web)).get_json() == {"active": False}
    assert code_refresh(client, first["refresh_token"], *web).get_json()["error"] == "invalid_grant"


def test_a_replayed_code_denies_the_access_token_without_a_refresh_token(client, services):
    user = users.create(services, "ada")
    web = make_app(services, grant_types=["authorization_code"])
    sign_in(client, services, user)
    code = get_code(client, services, web[0])
    first = exchange(client, code, *web).get_json()
    assert "refresh_token" not in first
    exchange(client, code, *web)
    assert userinfo_status(client, first["access_token"]) == 401


# -- a Redis outage: 503 in each face's shape, and nothing half-applied ----------------------------
def test_redis_down_is_503_for_bearer_endpoints_and_revocation_while_refresh_goes_on(
    own_redis, client, seeded, outbox, user
):
    tokens = otp_login(client, outbox)
    own_redis.stop()
    userinfo = client.get("/oauth2/userinfo", headers=bearer(tokens["access_token"]))
    revoked = revoke(client, tokens["access_token"])
    inspected = introspect(client, tokens["access_token"])
    for response in (userinfo, revoked, inspected):
        assert response.status_code == 503, (response.request.path, response.get_json())
        assert response.get_json()["error"] == "temporarily_unavailable"
    patch = client.patch("/userinfo", json={"name": "x"}, headers=bearer(tokens["access_token"]))
    assert patch.status_code == 503 and patch.get_json()["error"] == "temporarily_unavailable"
    zitadel = client.post("/auth/v1/users/me/auth_factors/_search", json={}, headers=bearer(tokens["access_token"]))
    assert zitadel.status_code == 503
    cloudbase = client.get("/auth/v1/user/me", headers=bearer(tokens["access_token"]))
    assert cloudbase.status_code == 503
    # a refresh needs only the database: apps keep their sessions through a Redis outage
    refreshed = refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()

    own_redis.start()
    # the rotation was real: the new token works, the presented one is now reuse
    renewed = refreshed.get_json()
    assert userinfo_status(client, renewed["access_token"]) == 200
    assert refresh(client, renewed["refresh_token"]).status_code == 200
    assert refresh(client, tokens["refresh_token"]).status_code == 400
