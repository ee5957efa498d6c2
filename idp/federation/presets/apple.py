"""Sign in with Apple as an upstream, following "Sign in with Apple REST API", "Generate and
validate tokens" and "Incorporating Sign in with Apple into other platforms" (Apple Developer).

Apple is an OpenID provider (issuer https://appleid.apple.com, found through its discovery
document) with three differences the generic ``oidc`` kind is adapted for here:

- the client secret is not a shared string but a JWT the client signs with ES256 (header
  ``kid`` = the key id; ``iss`` the team id, ``sub`` the client id (Services ID), ``aud``
  https://appleid.apple.com, ``iat``, ``exp`` at most six months later), made from the
  private key (.p8) an administrator stores, sealed, as the provider's ``client_secret``;
  ``options`` carry ``team_id`` and ``key_id``. A fresh, short-lived one is made per exchange.
- when the scopes ask for ``name`` or ``email`` the authorization request must use
  ``response_mode=form_post``: the callback is a POST carrying ``code``, ``state`` and, on the
  person's first authorization only, ``user``, a JSON object with their name — Apple never
  puts the name in the ID token and publishes no userinfo endpoint.
- ``email_verified`` (and ``is_private_email``) may arrive as the text ``"true"``/``"false"``;
  the generic reader counts only an explicit true.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from idp.federation.oidc import Endpoints, OidcUpstream, invalid_config
from idp.federation.upstream import UpstreamConfig, UpstreamIdentity, UpstreamRequest

ISSUER = "https://appleid.apple.com"
AUDIENCE = "https://appleid.apple.com"
SCOPES = ("openid", "email", "name")
CLIENT_SECRET_TTL = 300  # seconds; Apple accepts up to 15,777,000 (six months)
FORM_POST_SCOPES = {"name", "email"}


def client_secret(config: UpstreamConfig, now: int | None = None) -> str:
    """The ES256 client-secret JWT Apple's token endpoint authenticates the client with."""
    issued = int(time.time()) if now is None else now
    claims = {"iss": config.options["team_id"], "iat": issued, "exp": issued + CLIENT_SECRET_TTL, "aud": AUDIENCE}
    claims["sub"] = config.client_id
    return jwt.encode({"alg": "ES256", "kid": config.options["key_id"]}, claims, _private_key(config))


def _private_key(config: UpstreamConfig) -> ECKey:
    try:
        key = ECKey.import_key(config.client_secret)
    except (JoseError, ValueError, TypeError):
        raise invalid_config("client_secret must be the PEM private key (.p8) Apple issued") from None
    if key.curve_name != "P-256" or not key.is_private:
        raise invalid_config("client_secret must be Apple's P-256 private key (.p8)")
    return key


class AppleUpstream(OidcUpstream):
    kind = "apple"
    default_scopes = SCOPES

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        for option in ("team_id", "key_id"):
            if not config.options.get(option):
                raise invalid_config(f"Sign in with Apple needs options.{option}")
        _private_key(config)
        return super().complete(replace(config, issuer=config.issuer or ISSUER))

    def authorization_params(self, config: UpstreamConfig, request: UpstreamRequest) -> dict[str, str]:
        params = super().authorization_params(config, request)
        if FORM_POST_SCOPES & set(config.scopes):
            params["response_mode"] = "form_post"
        return params

    def exchange(
        self, config: UpstreamConfig, request: UpstreamRequest, endpoints: Endpoints, code: str
    ) -> dict[str, Any]:
        signed = replace(
            config,
            client_secret=client_secret(config),
            options={**config.options, "token_endpoint_auth_method": "client_secret_post"},
        )
        return super().exchange(signed, request, endpoints, code)

    def identity(
        self, config: UpstreamConfig, request: UpstreamRequest, callback: Mapping[str, str]
    ) -> UpstreamIdentity:
        person = super().identity(config, request, callback)
        name = _first_authorization_name(callback.get("user"))
        return replace(person, name=name) if name and not person.name else person


def _first_authorization_name(user: str | None) -> str | None:
    """The name in the ``user`` form field of a first authorization (``{"name": {"firstName",
    "lastName"}, "email"}``); anything unreadable is ignored, the ID token being the proof."""
    try:
        parsed = json.loads(user) if user else None
    except ValueError:
        return None
    name = parsed.get("name") if isinstance(parsed, dict) else None
    if not isinstance(name, dict):
        return None
    parts = [name.get("firstName"), name.get("lastName")]
    full = " ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
    return full or None
