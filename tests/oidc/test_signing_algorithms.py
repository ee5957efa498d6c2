"""Token signing algorithms per application: RS256, ES256 and EdDSA (RFC 7518 3.3, 3.4, RFC
8037), one active key each, published in the JWKS; what the header says never picks a key of
another kind (RFC 8725 3.1); each algorithm rotates on its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from base64 import urlsafe_b64encode
from typing import get_args

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import event

from idp.admin.shapes import SigningAlg
from idp.errors import IdpError
from idp.oauth.keys import KeyService
from idp.settings import JWT_ALGORITHMS, SettingsError, load_settings
from tests.factories import CTX, users
from tests.oidc.test_authorize import get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange, refresh

BYE = "https://rp.example/bye"
ALGS = ["RS256", "ES256", "EdDSA"]
# what the JWKS says of each algorithm's key (RFC 7518 6.2, 6.3; RFC 8037 2)
KEY_SHAPES = {
    "RS256": {"kty": "RSA"},
    "ES256": {"kty": "EC", "crv": "P-256"},
    "EdDSA": {"kty": "OKP", "crv": "Ed25519"},
}
# a relying party decoding EdDSA with joserfc sees its RFC 9864 deprecation warning
eddsa_warning = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")


@pytest.fixture
def user(services):
    return users.create(services, "ada")


def tokens_for(client, services, user, **fields) -> tuple[dict, tuple[str, str | None]]:
    """The token response of a code flow for a new application with ``fields``."""
    app = make_app(services, **fields)
    sign_in(client, services, user)
    response = exchange(client, get_code(client, services, app[0]), *app)
    assert response.status_code == 200, response.get_json()
    return response.get_json(), app


def jwks(client) -> dict:
    return client.get("/oauth2/jwks").get_json()


def as_a_client_would(client, token: str, alg: str) -> jwt.Token:
    """Verify with joserfc against the published JWKS, accepting the algorithm registered."""
    return jwt.decode(token, KeySet.import_key_set(jwks(client)), algorithms=[alg])


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).decode().rstrip("=")


def forged(header: dict, claims: dict, signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(signature)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# -- issuing -----------------------------------------------------------------------------------
@eddsa_warning
@pytest.mark.parametrize("alg", ALGS)
def test_an_application_gets_tokens_signed_with_its_algorithm(client, services, user, alg):
    body, _app = tokens_for(client, services, user, access_token_alg=alg, id_token_signed_response_alg=alg)
    kid = services.keys.signer(alg).kid
    published = {key["kid"]: key for key in jwks(client)["keys"]}
    assert published[kid] == {**published[kid], **KEY_SHAPES[alg], "use": "sig", "alg": alg}
    assert all("d" not in key for key in published.values())  # public halves only

    access = as_a_client_would(client, body["access_token"], alg)
    assert access.header == {"typ": "at+jwt", "alg": alg, "kid": kid}
    id_token = as_a_client_would(client, body["id_token"], alg)
    assert id_token.header == {"typ": "JWT", "alg": alg, "kid": kid}
    # OIDC Core 3.1.3.6: at_hash with the hash of the ID token's alg (SHA-512 for Ed25519)
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(body["access_token"].encode()).digest()
    assert id_token.claims["at_hash"] == b64(digest[: len(digest) // 2])
    # and our own endpoints take the token
    assert client.get("/oauth2/userinfo", headers=bearer(body["access_token"])).get_json()["sub"] == user.sub


@pytest.fixture
def es256_by_default(settings_overrides):
    """GATEHOUSE_JWT_ALG=ES256 (set before the services are built)."""
    settings_overrides["jwt_alg"] = "ES256"


def test_access_tokens_follow_the_setting_and_id_tokens_stay_rs256(es256_by_default, client, services, user):
    assert services.settings.jwt_alg == "ES256"
    body, _app = tokens_for(client, services, user)  # the application names no algorithm
    assert jwt.decode(body["access_token"], KeySet.import_key_set(jwks(client))).header["alg"] == "ES256"
    assert as_a_client_would(client, body["id_token"], "RS256").header["kid"] == services.keys.signer("RS256").kid
    # an application's own choice wins over the setting
    own, _ = tokens_for(client, services, user, access_token_alg="RS256")
    assert jwt.decode(own["access_token"], KeySet.import_key_set(jwks(client))).header["alg"] == "RS256"


def test_the_setting_takes_only_the_three_algorithms(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_JWT_ALG", "EdDSA")
    assert load_settings().jwt_alg == "EdDSA"
    for wrong in ("HS256", "es256", "none"):
        monkeypatch.setenv("GATEHOUSE_JWT_ALG", wrong)
        with pytest.raises(SettingsError, match="GATEHOUSE_JWT_ALG"):
            load_settings()


def test_signing_reads_no_database(services):
    """The hottest path: keys are prepared once per refresh, never read per token."""
    for alg in ALGS:
        services.keys.signer(alg)  # made and prepared
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(services.db.engine, "before_cursor_execute", listener)
    try:
        for alg in ALGS:
            signed = services.keys.signer(alg).sign({"sub": "x"}, "at+jwt")
            assert services.keys.decode(signed).claims == {"sub": "x"}
    finally:
        event.remove(services.db.engine, "before_cursor_execute", listener)
    assert statements == []


# -- verifying ---------------------------------------------------------------------------------
def test_a_bearer_token_signed_with_es256_is_accepted_everywhere(client, services, user):
    body, app = tokens_for(client, services, user, access_token_alg="ES256")
    assert jwt.decode(body["access_token"], KeySet.import_key_set(jwks(client))).header["alg"] == "ES256"
    info = client.get("/oauth2/userinfo", headers=bearer(body["access_token"]))
    assert info.status_code == 200 and info.get_json()["sub"] == user.sub
    introspected = client.post("/oauth2/introspect", data={"token": body["access_token"]}, auth=app)
    assert introspected.get_json()["active"] is True
    revoked = client.post("/oauth2/revoke", data={"token": body["access_token"]}, auth=app)
    assert revoked.status_code == 200
    assert client.get("/oauth2/userinfo", headers=bearer(body["access_token"])).status_code == 401


def valid_claims(services, user, client_id: str) -> dict:
    now = int(services.clock.time())
    return {
        "iss": services.settings.issuer,
        "sub": user.sub,
        "client_id": client_id,
        "aud": client_id,
        "iat": now,
        "exp": now + 300,
        "jti": "forged-jti",
        "scope": "openid profile",
    }


@pytest.mark.parametrize("secret_from", ["pem", "jwk"])
def test_hs256_signed_with_the_public_key_is_refused(client, services, user, secret_from):
    """The classic confusion: the RSA public key, which anyone can fetch, used as an HMAC secret."""
    _body, app = tokens_for(client, services, user)
    rsa = services.keys.signer("RS256")
    public = rsa.key.as_pem(private=False) if secret_from == "pem" else json.dumps(rsa.key.as_dict()).encode()
    header = {"typ": "at+jwt", "alg": "HS256", "kid": rsa.kid}
    head = forged(header, valid_claims(services, user, app[0])).rsplit(".", 1)[0]
    token = head + "." + b64(hmac.new(public, head.encode(), hashlib.sha256).digest())
    assert client.get("/oauth2/userinfo", headers=bearer(token)).status_code == 401
    assert client.post("/oauth2/introspect", data={"token": token}, auth=app).get_json() == {"active": False}
    with pytest.raises(JoseError):
        services.keys.decode(token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS512", "PS256", "ES384", "Ed25519", ""])
def test_other_algorithms_are_refused(client, services, user, alg):
    _body, app = tokens_for(client, services, user)
    token = forged({"typ": "at+jwt", "alg": alg}, valid_claims(services, user, app[0]))
    assert client.get("/oauth2/userinfo", headers=bearer(token)).status_code == 401
    with pytest.raises(JoseError):
        services.keys.decode(token)


@pytest.mark.parametrize(("named", "signed_by"), [("ES256", "RS256"), ("RS256", "ES256"), ("EdDSA", "ES256")])
def test_a_header_cannot_borrow_a_key_of_another_kind(client, services, user, named, signed_by):
    """A real signature by one of our keys, relabelled with another algorithm (and the kid of a
    key of that other kind, or its own): refused, never checked with a key of the wrong type."""
    _body, app = tokens_for(client, services, user, access_token_alg=signed_by)
    genuine = services.keys.signer(signed_by).sign(valid_claims(services, user, app[0]), "at+jwt")
    _head, payload, signature = genuine.split(".")
    for kid in (services.keys.signer(named).kid, services.keys.signer(signed_by).kid):
        head = b64(json.dumps({"typ": "at+jwt", "alg": named, "kid": kid}).encode())
        token = f"{head}.{payload}.{signature}"
        assert client.get("/oauth2/userinfo", headers=bearer(token)).status_code == 401
    assert client.get("/oauth2/userinfo", headers=bearer(genuine)).status_code == 200


def test_a_key_another_worker_just_made_verifies_at_once(services, clock):
    """Worker B prepared its keys before worker A made the EdDSA key: B re-reads the keys for
    the unknown kid (at most once a second) instead of refusing A's tokens for 30 s."""
    worker_b = KeyService(services.db, services.keys.retention, clock)
    worker_b.jwks()  # prepared now
    kid = services.keys.rotate("EdDSA")
    token = services.keys.signer("EdDSA").sign({"sub": "x"}, "at+jwt")
    with pytest.raises(JoseError):  # not a second since B prepared: no reload yet
        worker_b.decode(token)
    clock.advance(1.5)
    assert worker_b.decode(token).header["kid"] == kid


def test_every_worker_publishes_a_new_key_within_a_second(services, clock):
    worker_b = KeyService(services.db, services.keys.retention, clock)
    before = {key["kid"] for key in worker_b.jwks()["keys"]}
    kid = services.keys.rotate("ES256")
    assert {key["kid"] for key in worker_b.jwks()["keys"]} == before  # read less than a second ago
    clock.advance(1.5)
    assert kid in {key["kid"] for key in worker_b.jwks()["keys"]}


# -- rotation ----------------------------------------------------------------------------------
def test_rotating_es256_leaves_rs256_alone_and_keeps_the_old_key_published(client, services, user):
    body, app = tokens_for(client, services, user, access_token_alg="ES256")
    rs256, old_es256 = services.keys.signer("RS256").kid, services.keys.signer("ES256").kid
    new_es256 = services.keys.rotate("ES256")
    assert new_es256 != old_es256
    assert services.keys.signer("RS256").kid == rs256
    assert services.keys.signer("ES256").kid == new_es256
    kids = {key["kid"] for key in jwks(client)["keys"]}
    assert {rs256, old_es256, new_es256} <= kids
    # the token the old key signed still works; a new one carries the new kid
    assert client.get("/oauth2/userinfo", headers=bearer(body["access_token"])).status_code == 200
    renewed = refresh(client, body["refresh_token"], *app).get_json()
    assert jwt.decode(renewed["access_token"], KeySet.import_key_set(jwks(client))).header["kid"] == new_es256
    assert as_a_client_would(client, renewed["id_token"], "RS256").header["kid"] == rs256


def test_a_retired_key_leaves_the_jwks_after_the_retention(services, clock):
    old = services.keys.signer("ES256").kid
    services.keys.rotate("ES256")
    assert old in {key["kid"] for key in services.keys.jwks()["keys"]}
    clock.advance(services.keys.retention + 31)  # past the retention and the 30 s cache
    assert old not in {key["kid"] for key in services.keys.jwks()["keys"]}


def test_two_workers_making_the_first_key_end_with_one(services):
    """The loser of the race inserts after the winner committed: the unique index refuses it,
    and it answers with the winner's key."""
    winner = services.keys.ensure_key("ES256")
    loser = KeyService(services.db, services.keys.retention, services.clock)
    assert loser._create_first("ES256") == winner
    active = [k for k in services.keys.all_keys() if k.alg == "ES256" and k.state == "active"]
    assert [k.kid for k in active] == [winner]


def test_concurrent_rotations_of_one_algorithm_all_succeed(services):
    """Two administrators rotating ES256 at once: each rotation retires the key before it, and
    one ES256 key is active at the end."""
    services.keys.ensure_key("ES256")
    workers = [KeyService(services.db, services.keys.retention, services.clock) for _ in range(3)]
    start, made, failed = threading.Barrier(len(workers)), [], []

    def rotate(worker):
        start.wait()
        try:
            made.append(worker.rotate("ES256"))
        except Exception as exc:
            failed.append(exc)

    threads = [threading.Thread(target=rotate, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == [] and len(set(made)) == len(workers)
    es256 = [k for k in services.keys.all_keys() if k.alg == "ES256"]
    assert [k.kid for k in es256 if k.state == "active"] == [services.keys.signer("ES256").kid]
    assert set(made) <= {k.kid for k in es256}


# -- RP-initiated logout -----------------------------------------------------------------------
@pytest.mark.parametrize("alg", ALGS)
def test_an_id_token_hint_of_any_algorithm_signs_out(client, services, user, alg):
    body, _app = tokens_for(client, services, user, id_token_signed_response_alg=alg)
    session = client.get_cookie("gh_sso").value
    response = client.get(
        "/oauth2/logout", query_string={"id_token_hint": body["id_token"], "post_logout_redirect_uri": BYE}
    )
    assert response.status_code == 302 and response.headers["Location"] == BYE
    assert services.sessions.get(session) is None


def test_an_id_token_hint_relabelled_hs256_is_refused(client, services, user):
    body, _app = tokens_for(client, services, user)
    rsa = services.keys.signer("RS256")
    _head, payload, _sig = body["id_token"].split(".")
    head = b64(json.dumps({"typ": "JWT", "alg": "HS256", "kid": rsa.kid}).encode())
    signature = hmac.new(rsa.key.as_pem(private=False), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    query = {"id_token_hint": f"{head}.{payload}.{b64(signature)}", "post_logout_redirect_uri": BYE}
    response = client.get("/oauth2/logout", query_string=query)
    assert response.status_code == 400
    assert services.sessions.get(client.get_cookie("gh_sso").value) is not None


# -- the domain's own checks (what the admin API's shapes and the CLI's choices also refuse) ----
def test_the_domain_refuses_an_unknown_algorithm(services):
    for field in ("access_token_alg", "id_token_signed_response_alg"):
        with pytest.raises(IdpError) as refused:
            services.clients.create_application({"name": "x", field: "HS256"}, CTX)
        assert refused.value.code == "client.invalid_alg" and field in refused.value.message
    assert services.clients.list_applications() == []
    for wrong in ("HS256", "none", "es256"):
        with pytest.raises(IdpError) as refused:
            services.keys.rotate(wrong)
        assert refused.value.code == "key.invalid_alg"
    # the admin API's shape names the same three
    assert get_args(SigningAlg) == JWT_ALGORITHMS
