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

import hmac
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from idp.errors import error, invalid
from idp.federation.http import get_json, invalid_response, timeout, unavailable
from idp.federation.upstream import UpstreamConfig, UpstreamIdentity, UpstreamRequest

AUTHORIZATION_ENDPOINT = "https://github.com/login/oauth/authorize"
TOKEN_ENDPOINT = "https://github.com/login/oauth/access_token"
USER_ENDPOINT = "https://api.github.com/user"
SCOPES = ("read:user", "user:email")
# the REST API's media type and version ("API versions", GitHub Docs)
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubUpstream:
    kind = "github"

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        if not config.client_id or not config.client_secret:
            raise invalid("federation.invalid_config", "GitHub needs the OAuth app's client_id and client_secret")
        return replace(
            config,
            authorization_endpoint=config.authorization_endpoint or AUTHORIZATION_ENDPOINT,
            token_endpoint=config.token_endpoint or TOKEN_ENDPOINT,
            userinfo_endpoint=config.userinfo_endpoint or USER_ENDPOINT,
            scopes=config.scopes or SCOPES,
        )

    def authorization_url(self, config: UpstreamConfig, request: UpstreamRequest) -> str:
        config = self.complete(config)
        url, _ = _session(config, request).create_authorization_url(
            config.authorization_endpoint, state=request.state, code_verifier=request.code_verifier
        )
        return str(url)

    def identity(
        self, config: UpstreamConfig, request: UpstreamRequest, callback: Mapping[str, str]
    ) -> UpstreamIdentity:
        config = self.complete(config)
        code = _callback_code(request, callback)
        access_token = _exchange(config, request, code)
        user_url = config.userinfo_endpoint or USER_ENDPOINT
        headers = {**API_HEADERS, "Authorization": f"Bearer {access_token}"}
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


def _session(config: UpstreamConfig, request: UpstreamRequest) -> OAuth2Session:
    return OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method="client_secret_post",  # the documented parameters
        scope=" ".join(config.scopes),
        redirect_uri=request.redirect_uri,
        code_challenge_method="S256",
        default_timeout=timeout(),
    )


def _callback_code(request: UpstreamRequest, callback: Mapping[str, str]) -> str:
    """The code, once the callback is known to belong to this sign-in ("Authorizing OAuth
    apps": "If the states don't match, then a third party created the request")."""
    if callback.get("error"):
        raise error("federation.denied", f"GitHub answered {callback['error'][:64]}")
    if not hmac.compare_digest(str(callback.get("state", "")).encode(), request.state.encode()):
        raise invalid_response("the callback's state does not match this sign-in")
    if not callback.get("code"):
        raise invalid_response("the callback carries no code")
    return str(callback["code"])


def _exchange(config: UpstreamConfig, request: UpstreamRequest, code: str) -> str:
    url = config.token_endpoint or TOKEN_ENDPOINT
    try:
        response = _session(config, request).fetch_token(
            url, code=code, code_verifier=request.code_verifier, headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        raise unavailable(url, type(exc).__name__) from None
    except AuthlibBaseError as exc:  # GitHub's HTTP 200 {"error": "bad_verification_code"}
        raise invalid_response(f"GitHub refused the code ({exc.error})") from None
    except ValueError:
        raise invalid_response("GitHub's token endpoint did not answer JSON") from None
    token = response.get("access_token") if isinstance(response, dict) else None
    if not token:
        raise invalid_response("GitHub's token endpoint answered no access_token")
    return str(token)


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
