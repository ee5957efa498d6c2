"""GitHub as an upstream, following "Authorizing OAuth apps" (GitHub Docs).

The web application flow: the browser goes to ``/login/oauth/authorize`` with ``state`` and a
PKCE S256 challenge (GitHub supports RFC 7636; it has no ``nonce``, not being an OpenID
provider); the code is exchanged at ``/login/oauth/access_token`` asking for JSON
(``Accept: application/json``), which reports a bad code as HTTP 200
``{"error": "bad_verification_code"}``. The person is read from the REST API: ``GET /user``
("Get the authenticated user") for the stable numeric ``id``, the login, name and avatar, and
``GET /user/emails`` ("List email addresses for the authenticated user", scope ``user:email``)
for which address is primary and verified — the profile's ``email`` is only the public one,
often empty, and never says whether it was verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import requests

from idp.errors import invalid
from idp.federation.http import get_json, invalid_response, timeout, unavailable
from idp.federation.oidc import Endpoints, OAuth2Upstream
from idp.federation.upstream import UpstreamConfig, UpstreamIdentity, UpstreamRequest

AUTHORIZATION_ENDPOINT = "https://github.com/login/oauth/authorize"
TOKEN_ENDPOINT = "https://github.com/login/oauth/access_token"
USER_ENDPOINT = "https://api.github.com/user"
SCOPES = ("read:user", "user:email")
# the REST API's media type and version ("API versions", GitHub Docs)
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubUpstream(OAuth2Upstream):
    """The generic OAuth 2.0 kind with GitHub's endpoints, its documented client
    authentication (``client_id`` and ``client_secret`` as parameters) and its person."""

    kind = "github"
    default_scopes = SCOPES

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        if not config.client_id or not config.client_secret:
            raise invalid("federation.invalid_config", "GitHub needs the OAuth app's client_id and client_secret")
        return super().complete(
            replace(
                config,
                authorization_endpoint=config.authorization_endpoint or AUTHORIZATION_ENDPOINT,
                token_endpoint=config.token_endpoint or TOKEN_ENDPOINT,
                userinfo_endpoint=config.userinfo_endpoint or USER_ENDPOINT,
                claim_mapping={"sub": "id"},
                options={**config.options, "token_endpoint_auth_method": "client_secret_post"},
            )
        )

    def authorization_url(self, config: UpstreamConfig, request: UpstreamRequest) -> str:
        return super().authorization_url(self.complete(config), request)

    def identity(
        self, config: UpstreamConfig, request: UpstreamRequest, callback: Mapping[str, str]
    ) -> UpstreamIdentity:
        return super().identity(self.complete(config), request, callback)

    def person(
        self, config: UpstreamConfig, request: UpstreamRequest, endpoints: Endpoints, token: Mapping[str, Any]
    ) -> UpstreamIdentity:
        user_url = endpoints.userinfo_endpoint or USER_ENDPOINT
        headers = {**API_HEADERS, "Authorization": f"Bearer {token['access_token']}"}
        profile = get_json(user_url, headers=headers)
        if not isinstance(profile.get("id"), int):
            raise invalid_response("GitHub's profile carries no numeric id")
        email, verified = _email(profile, _emails(user_url.rstrip("/") + "/emails", headers))
        return UpstreamIdentity(
            subject=str(profile["id"]),
            email=email,
            email_verified=verified,
            name=_text(profile.get("name")) or _text(profile.get("login")),
            picture=_text(profile.get("avatar_url")),
        )


def _emails(url: str, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """The person's addresses; none when the app was not granted ``user:email`` (404/403)."""
    try:
        response = requests.get(url, headers=dict(headers), timeout=timeout())
    except requests.RequestException as exc:
        raise unavailable(url, type(exc).__name__) from None
    if response.status_code in (403, 404):
        return []
    if response.status_code >= 500:
        raise unavailable(url, f"HTTP {response.status_code}")
    try:
        listed = response.json() if response.ok else None
    except ValueError:
        listed = None
    if not isinstance(listed, list):
        raise invalid_response("GitHub's email list cannot be read")
    return [entry for entry in listed if isinstance(entry, dict) and isinstance(entry.get("email"), str)]


def _email(profile: Mapping[str, Any], emails: list[dict[str, Any]]) -> tuple[str | None, bool]:
    """The primary address when GitHub verified it; else the public profile address, verified
    only when the list says so."""
    for entry in emails:
        if entry.get("primary") is True and entry.get("verified") is True:
            return str(entry["email"]), True
    public = _text(profile.get("email"))
    if public is None:
        return None, False
    return public, any(entry["email"] == public and entry.get("verified") is True for entry in emails)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
