"""The generic ``oidc`` kind signs in through panva/oidc-provider, an OpenID Certified provider
running as a real server on loopback: discovery, the authorization request with PKCE, ``state``
and ``nonce``, its login and consent steps driven over HTTP, the code exchange with client
authentication, the ID token checked against its JWKS, and its userinfo endpoint for the email
(it keeps claims out of the ID token unless told otherwise, as Core 1.0 5.4 allows)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest

from idp.errors import IdpError
from idp.federation.registry import upstream_for
from idp.federation.upstream import UpstreamConfig, UpstreamRequest
from tests.upstreams.conftest import ADA, REDIRECT_URI
from tests.upstreams.oidc_provider import OidcProviderProcess, sign_in


def config_for(provider: OidcProviderProcess) -> UpstreamConfig:
    config = UpstreamConfig(
        id="acme",
        name="Acme SSO",
        kind="oidc",
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        issuer=provider.issuer,
    )
    return upstream_for("oidc").complete(config)


def fresh_request() -> UpstreamRequest:
    return UpstreamRequest(
        state=secrets.token_urlsafe(16),
        nonce=secrets.token_urlsafe(16),
        code_verifier=secrets.token_urlsafe(48),
        redirect_uri=REDIRECT_URI,
    )


@pytest.fixture(scope="module")
def claims_in_id_token() -> Iterator[OidcProviderProcess]:
    provider = OidcProviderProcess([REDIRECT_URI], {"ada": ADA}, claims_in_id_token=True).start()
    try:
        yield provider
    finally:
        provider.stop()


def test_signs_in_through_oidc_provider_reading_the_email_from_userinfo(oidc_provider):
    upstream, config, request = upstream_for("oidc"), config_for(oidc_provider), fresh_request()
    callback = sign_in(upstream.authorization_url(config, request), REDIRECT_URI, login="ada")
    assert callback["state"] == request.state and callback["iss"] == oidc_provider.issuer
    person = upstream.identity(config, request, callback)
    assert (person.subject, person.email, person.email_verified, person.name) == (
        "ada",
        "ada@example.com",
        True,
        "Ada Lovelace",
    )


def test_signs_in_with_the_claims_in_the_id_token(claims_in_id_token):
    upstream, config, request = upstream_for("oidc"), config_for(claims_in_id_token), fresh_request()
    callback = sign_in(upstream.authorization_url(config, request), REDIRECT_URI, login="ada")
    person = upstream.identity(config, request, callback)
    assert (person.subject, person.email, person.email_verified) == ("ada", "ada@example.com", True)


def test_the_person_cancelling_is_denied(oidc_provider):
    upstream, config, request = upstream_for("oidc"), config_for(oidc_provider), fresh_request()
    callback = sign_in(upstream.authorization_url(config, request), REDIRECT_URI, login=None)
    assert callback["error"] == "access_denied"
    with pytest.raises(IdpError) as raised:
        upstream.identity(config, request, callback)
    assert raised.value.code == "federation.denied"


def test_oidc_provider_refuses_another_verifier_and_a_second_use_of_the_code(oidc_provider):
    upstream, config, request = upstream_for("oidc"), config_for(oidc_provider), fresh_request()
    callback = sign_in(upstream.authorization_url(config, request), REDIRECT_URI, login="ada")
    with pytest.raises(IdpError) as raised:
        upstream.identity(config, replace(request, code_verifier=secrets.token_urlsafe(48)), callback)
    assert raised.value.code == "federation.invalid_response"
    assert upstream.identity(config, request, callback).subject == "ada"
    with pytest.raises(IdpError) as raised:
        upstream.identity(config, request, callback)
    assert raised.value.code == "federation.invalid_response"


def test_a_wrong_client_secret_is_refused(oidc_provider):
    upstream, config, request = upstream_for("oidc"), config_for(oidc_provider), fresh_request()
    callback = sign_in(upstream.authorization_url(config, request), REDIRECT_URI, login="ada")
    with pytest.raises(IdpError) as raised:
        upstream.identity(replace(config, client_secret="not-the-secret-0123456789abcdef"), request, callback)
    assert raised.value.code == "federation.invalid_response"
