"""The Google and Sign in with Apple presets against local OpenID providers standing in for
accounts.google.com and appleid.apple.com (``tests/upstreams/standins.py``): discovery, JWKS,
signed ID tokens, PKCE for Google, and for Apple the ES256 client-secret JWT, checked against
the public half of the key the stand-in issued."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc import jwt

from idp.errors import IdpError
from idp.federation import http
from idp.federation.oidc import forget_cached
from idp.federation.presets import PRESETS
from idp.federation.presets.apple import AUDIENCE, client_secret
from idp.federation.upstream import UpstreamConfig, UpstreamRequest
from tests.upstreams.standins import OidcStandIn, follow

REDIRECT_URI = "http://127.0.0.1:5000/login/federated/idp/callback"
SIGN_IN = UpstreamRequest(
    state="state-b21c", nonce="nonce-7d3e", code_verifier="c" * 43 + "-verifier", redirect_uri=REDIRECT_URI
)
TEAM_ID, KEY_ID = "A1B2C3D4E5", "KEY123ABCD"


@pytest.fixture
def google() -> Iterator[OidcStandIn]:
    stand_in = OidcStandIn("1234-abc.apps.googleusercontent.com", "GOCSPX-secret", REDIRECT_URI)
    stand_in.start()
    yield stand_in
    stand_in.stop()
    forget_cached(f"{stand_in.url}/.well-known/openid-configuration")


@pytest.fixture
def apple() -> Iterator[OidcStandIn]:
    stand_in = OidcStandIn("com.example.web", "", REDIRECT_URI, apple=True, team_id=TEAM_ID, key_id=KEY_ID)
    stand_in.start()
    yield stand_in
    stand_in.stop()
    forget_cached(f"{stand_in.url}/.well-known/openid-configuration")


def google_config(stand_in: OidcStandIn, **changes) -> UpstreamConfig:
    config = UpstreamConfig(
        id="idp",
        name="Google",
        kind="google",
        client_id=stand_in.client_id,
        client_secret=stand_in.client_secret,
        issuer=stand_in.url,
    )
    return PRESETS["google"].complete(replace(config, **changes))


def apple_config(stand_in: OidcStandIn, **changes) -> UpstreamConfig:
    config = UpstreamConfig(
        id="idp",
        name="Apple",
        kind="apple",
        client_id=stand_in.client_id,
        client_secret=stand_in.apple_key.as_pem(private=True).decode(),
        issuer=stand_in.url,
        options={"team_id": TEAM_ID, "key_id": KEY_ID},
    )
    return PRESETS["apple"].complete(replace(config, **changes))


def sign_in(kind: str, config: UpstreamConfig):
    upstream = PRESETS[kind]
    return upstream.identity(config, SIGN_IN, follow(upstream.authorization_url(config, SIGN_IN)))


def expect(code: str, call, *args, **kwargs) -> IdpError:
    with pytest.raises(IdpError) as raised:
        call(*args, **kwargs)
    assert raised.value.code == code, raised.value
    return raised.value


# -- Google ---------------------------------------------------------------------------------------


def test_google_fills_in_its_issuer_and_scopes():
    config = PRESETS["google"].complete(
        UpstreamConfig(id="g", name="Google", kind="google", client_id="a", client_secret="b")
    )
    assert config.issuer == "https://accounts.google.com"
    assert config.scopes == ("openid", "email", "profile")


def test_google_authorization_url_has_pkce_state_and_nonce(google):
    url = PRESETS["google"].authorization_url(google_config(google), SIGN_IN)
    assert url.startswith(f"{google.url}/auth/authorize?")
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["client_id"] == google.client_id and params["redirect_uri"] == REDIRECT_URI
    assert params["response_type"] == "code" and params["scope"] == "openid email profile"
    assert (params["state"], params["nonce"]) == (SIGN_IN.state, SIGN_IN.nonce)
    assert params["code_challenge_method"] == "S256"


def test_google_person_comes_from_the_verified_id_token(google):
    person = sign_in("google", google_config(google))
    assert person.subject == google.subject
    assert (person.email, person.email_verified, person.name) == ("ada@example.com", True, "Ada Lovelace")
    assert not any(r.path == "/userinfo" for r in google.requests)  # the ID token had the email


def test_google_unverified_email_stays_unverified(google):
    google.claims["email_verified"] = False
    person = sign_in("google", google_config(google))
    assert (person.email, person.email_verified) == ("ada@example.com", False)


def test_google_wrong_secret_and_reused_code_are_refused(google):
    config = google_config(google)
    callback = follow(PRESETS["google"].authorization_url(config, SIGN_IN))
    expect(
        "federation.invalid_response",
        PRESETS["google"].identity,
        replace(config, client_secret="nope"),
        SIGN_IN,
        callback,
    )
    callback = follow(PRESETS["google"].authorization_url(config, SIGN_IN))
    PRESETS["google"].identity(config, SIGN_IN, callback)
    expect("federation.invalid_response", PRESETS["google"].identity, config, SIGN_IN, callback)


def test_google_cancelled_is_denied(google):
    google.deny = True
    config = google_config(google)
    callback = follow(PRESETS["google"].authorization_url(config, SIGN_IN))
    expect("federation.denied", PRESETS["google"].identity, config, SIGN_IN, callback)


def test_google_down_is_unavailable_quickly(google):
    config = google_config(google)
    callback = follow(PRESETS["google"].authorization_url(config, SIGN_IN))
    google.stop()
    previous = http.timeout()
    http.set_timeout(0.5)
    started = time.monotonic()
    try:
        expect("federation.unavailable", PRESETS["google"].identity, config, SIGN_IN, callback)
    finally:
        http.set_timeout(previous)
    assert time.monotonic() - started < 2


# -- Sign in with Apple -----------------------------------------------------------------------------


def test_apple_needs_team_key_and_a_private_key(apple):
    expect("federation.invalid_config", apple_config, apple, options={"key_id": KEY_ID})
    expect("federation.invalid_config", apple_config, apple, client_secret="not a key")
    config = PRESETS["apple"].complete(
        UpstreamConfig(
            id="a",
            name="Apple",
            kind="apple",
            client_id="com.example.web",
            client_secret=apple.apple_key.as_pem(private=True).decode(),
            options={"team_id": TEAM_ID, "key_id": KEY_ID},
        )
    )
    assert config.issuer == "https://appleid.apple.com" and config.scopes == ("openid", "email", "name")


def test_apple_client_secret_is_the_documented_es256_jwt(apple):
    config = apple_config(apple)
    token = jwt.decode(client_secret(config, now=1_700_000_000), apple.apple_key, algorithms=["ES256"])
    assert (token.header["alg"], token.header["kid"]) == ("ES256", KEY_ID)
    assert token.claims == {
        "iss": TEAM_ID,
        "sub": "com.example.web",
        "aud": AUDIENCE,
        "iat": 1_700_000_000,
        "exp": 1_700_000_300,
    }


def test_apple_asks_for_form_post_and_signs_in_with_the_name_of_the_first_authorization(apple):
    config = apple_config(apple)
    url = PRESETS["apple"].authorization_url(config, SIGN_IN)
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["response_mode"] == "form_post" and params["scope"] == "openid email name"
    callback = follow(url)
    assert "user" in callback  # a POSTed form, with the name this once
    person = PRESETS["apple"].identity(config, SIGN_IN, callback)
    assert person.subject == apple.subject
    assert (person.email, person.email_verified, person.name) == ("ada@example.com", True, "Ada Lovelace")
    secret = apple.client_secrets_seen[-1]
    assert jwt.decode(secret, apple.apple_key, algorithms=["ES256"]).claims["sub"] == apple.client_id
    later = sign_in("apple", config)  # no user field the second time: no name, same person
    assert (later.subject, later.name) == (apple.subject, None)


def test_apple_email_verified_false_as_text_is_not_verified(apple):
    apple.claims["email_verified"] = "false"
    assert sign_in("apple", apple_config(apple)).email_verified is False


def test_apple_refuses_a_client_secret_signed_by_another_key(apple):
    from joserfc.jwk import ECKey

    stranger = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
    config = apple_config(apple)
    callback = follow(PRESETS["apple"].authorization_url(config, SIGN_IN))
    error = expect(
        "federation.invalid_response",
        PRESETS["apple"].identity,
        replace(config, client_secret=stranger),
        SIGN_IN,
        callback,
    )
    assert "invalid_client" in error.message


def test_apple_cancelled_is_denied(apple):
    apple.deny = True
    config = apple_config(apple)
    callback = follow(PRESETS["apple"].authorization_url(config, SIGN_IN))
    expect("federation.denied", PRESETS["apple"].identity, config, SIGN_IN, callback)


def test_apple_down_is_unavailable_quickly(apple):
    config = apple_config(apple)
    apple.stop()
    started = time.monotonic()
    expect("federation.unavailable", PRESETS["apple"].authorization_url, config, SIGN_IN)
    assert time.monotonic() - started < 2
