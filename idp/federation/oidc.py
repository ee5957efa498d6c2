"""The ``oidc`` and ``oauth2`` kinds of upstream identity provider, with Authlib's client.

``oidc`` reads the upstream's endpoints from its discovery document (OpenID Connect Discovery
1.0, 4), kept for a few minutes, and verifies the ID token against the upstream's JWKS (OpenID
Connect Core 1.0, 3.1.3.7: signature, ``iss``, ``aud``, ``exp``, ``nonce``); the userinfo
endpoint (5.3) is read only when the ID token carries no email. ``oauth2`` takes explicit
endpoints and reads the person from its profile endpoint through ``claim_mapping``.

Both use the authorization code flow with ``state`` (RFC 6749, 10.12) and PKCE S256 (RFC 7636);
the presets build on these two classes.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.jwt import ClaimsOption

from idp.errors import IdpError, error, invalid
from idp.federation.http import get_json, invalid_response, timeout, unavailable
from idp.federation.upstream import UpstreamConfig, UpstreamIdentity, UpstreamRequest

DISCOVERY_TTL = 300.0  # seconds a discovery document or key set is reused
OIDC_SCOPES = ("openid", "email", "profile")
# asymmetric algorithms only: an upstream's ID token must be checkable with its published keys
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
CLOCK_LEEWAY = 60  # seconds of clock difference tolerated on exp/iat
SUBJECT_MAX = 255  # OpenID Connect Core 1.0, 2: sub is at most 255 ASCII characters
MAPPED_CLAIMS = ("sub", "email", "email_verified", "name", "picture")


def invalid_config(message: str) -> IdpError:
    return invalid("federation.invalid_config", message)


def require_url(value: str | None, what: str) -> str:
    """An absolute http(s) URL, or federation.invalid_config naming ``what``."""
    parts = urlsplit(value or "")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise invalid_config(f"{what} must be an absolute https URL")
    return value or ""


def truthy(value: Any) -> bool:
    """True only for an explicit yes: ``true`` or the text ``"true"`` (some providers send it)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass(frozen=True)
class Endpoints:
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    issuer: str | None = None


class _TimedCache:
    """Documents fetched from upstreams, reused for ``ttl`` seconds (shared by all requests)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


_discovery = _TimedCache(DISCOVERY_TTL)
_key_sets = _TimedCache(DISCOVERY_TTL)


def forget_cached(url: str) -> None:
    """Drop a cached discovery document or key set (an operator changed the upstream)."""
    _discovery.forget(url)
    _key_sets.forget(url)


class OAuth2Upstream:
    """A plain OAuth 2.0 provider: explicit endpoints, the person read from a profile endpoint
    whose members ``claim_mapping`` names (``sub`` at least)."""

    kind = "oauth2"
    default_scopes: tuple[str, ...] = ()

    # -- the Upstream interface -----------------------------------------------------------
    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        self._require_client(config)
        require_url(config.authorization_endpoint, "authorization_endpoint")
        require_url(config.token_endpoint, "token_endpoint")
        require_url(config.userinfo_endpoint, "userinfo_endpoint")
        unknown = sorted(set(config.claim_mapping) - set(MAPPED_CLAIMS))
        if unknown:
            raise invalid_config(f"claim_mapping cannot map {', '.join(unknown)}")
        if not config.claim_mapping.get("sub"):
            raise invalid_config("claim_mapping must name the member holding sub")
        return replace(config, scopes=config.scopes or self.default_scopes)

    def authorization_url(self, config: UpstreamConfig, request: UpstreamRequest) -> str:
        endpoints = self.endpoints(config)
        url, _ = self.session(config, request).create_authorization_url(
            endpoints.authorization_endpoint,
            state=request.state,
            code_verifier=request.code_verifier,
            **self.authorization_params(config, request),
        )
        return str(url)

    def identity(
        self, config: UpstreamConfig, request: UpstreamRequest, callback: Mapping[str, str]
    ) -> UpstreamIdentity:
        code = self.check_callback(request, callback)
        endpoints = self.endpoints(config)
        token = self.exchange(config, request, endpoints, code)
        return self.person(config, request, endpoints, token)

    # -- steps a subclass may change ------------------------------------------------------
    def endpoints(self, config: UpstreamConfig) -> Endpoints:
        return Endpoints(
            authorization_endpoint=config.authorization_endpoint or "",
            token_endpoint=config.token_endpoint or "",
            userinfo_endpoint=config.userinfo_endpoint,
            jwks_uri=config.jwks_uri,
            issuer=config.issuer,
        )

    def authorization_params(self, config: UpstreamConfig, request: UpstreamRequest) -> dict[str, str]:
        return {}

    def person(
        self, config: UpstreamConfig, request: UpstreamRequest, endpoints: Endpoints, token: Mapping[str, Any]
    ) -> UpstreamIdentity:
        profile = self.userinfo(endpoints, token)
        return self.mapped(profile, config.claim_mapping)

    def session(self, config: UpstreamConfig, request: UpstreamRequest) -> OAuth2Session:
        session = OAuth2Session(
            client_id=config.client_id,
            client_secret=config.client_secret,
            token_endpoint_auth_method=config.options.get("token_endpoint_auth_method", "client_secret_basic"),
            scope=" ".join(config.scopes) or None,
            redirect_uri=request.redirect_uri,
            code_challenge_method="S256",
            default_timeout=timeout(),
        )
        session.register_compliance_hook("access_token_response", _no_server_error)
        return session

    # -- shared steps ---------------------------------------------------------------------
    @staticmethod
    def check_callback(request: UpstreamRequest, callback: Mapping[str, str]) -> str:
        """The code of a callback that belongs to ``request`` (RFC 6749, 4.1.2 and 10.12).
        Raises federation.denied (the upstream answered ``error``) or
        federation.invalid_response (wrong ``state``, no ``code``)."""
        if callback.get("error"):
            raise error("federation.denied", f"the identity provider answered {callback['error'][:64]}")
        if not hmac.compare_digest(str(callback.get("state", "")).encode(), request.state.encode()):
            raise invalid_response("the callback's state does not match this sign-in")
        code = callback.get("code")
        if not code:
            raise invalid_response("the callback carries no code")
        return str(code)

    def exchange(
        self, config: UpstreamConfig, request: UpstreamRequest, endpoints: Endpoints, code: str
    ) -> dict[str, Any]:
        """The token response for ``code`` (with the PKCE verifier)."""
        url = endpoints.token_endpoint
        try:
            token = self.session(config, request).fetch_token(
                url, code=code, code_verifier=request.code_verifier, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise unavailable(url, type(exc).__name__) from None
        except AuthlibBaseError as exc:
            raise invalid_response(f"the token endpoint refused the code ({exc.error})") from None
        except ValueError:
            raise invalid_response("the token endpoint did not answer JSON") from None
        if not isinstance(token, dict) or not token.get("access_token"):
            raise invalid_response("the token endpoint answered no access_token")
        return token

    @staticmethod
    def userinfo(endpoints: Endpoints, token: Mapping[str, Any]) -> dict[str, Any]:
        if not endpoints.userinfo_endpoint:
            raise invalid_response("the identity provider has no userinfo endpoint")
        return get_json(endpoints.userinfo_endpoint, headers={"Authorization": f"Bearer {token['access_token']}"})

    @staticmethod
    def mapped(profile: Mapping[str, Any], mapping: Mapping[str, str]) -> UpstreamIdentity:
        """The person in ``profile``, reading each claim from the member ``mapping`` names
        (the claim's own name when unmapped). Raises federation.invalid_response (no subject)."""

        def member(claim: str) -> Any:
            return profile.get(mapping.get(claim) or claim)

        subject = member("sub")
        if subject is None or not 0 < len(str(subject)) <= SUBJECT_MAX:
            raise invalid_response("the identity provider named no usable subject")
        email = member("email")
        return UpstreamIdentity(
            subject=str(subject),
            email=str(email) if email else None,
            email_verified=bool(email) and truthy(member("email_verified")),
            name=str(member("name")) if member("name") else None,
            picture=str(member("picture")) if member("picture") else None,
        )

    @staticmethod
    def _require_client(config: UpstreamConfig) -> None:
        if not config.client_id:
            raise invalid_config("client_id is required")


class OidcUpstream(OAuth2Upstream):
    """An OpenID Connect provider found through its issuer's discovery document; explicit
    endpoints in the configuration win over discovered ones."""

    kind = "oidc"
    default_scopes = OIDC_SCOPES

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        self._require_client(config)
        require_url(config.issuer, "issuer")
        for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
            if getattr(config, name):
                require_url(getattr(config, name), name)
        unknown = sorted(set(config.claim_mapping) - set(MAPPED_CLAIMS))
        if unknown:
            raise invalid_config(f"claim_mapping cannot map {', '.join(unknown)}")
        scopes = config.scopes or self.default_scopes
        if "openid" not in scopes:
            scopes = ("openid", *scopes)
        return replace(config, scopes=tuple(scopes))

    def endpoints(self, config: UpstreamConfig) -> Endpoints:
        explicit = super().endpoints(config)
        if explicit.authorization_endpoint and explicit.token_endpoint and explicit.jwks_uri:
            return explicit
        document = self.discovery(config.issuer or "")
        try:
            return Endpoints(
                authorization_endpoint=explicit.authorization_endpoint or str(document["authorization_endpoint"]),
                token_endpoint=explicit.token_endpoint or str(document["token_endpoint"]),
                userinfo_endpoint=explicit.userinfo_endpoint or document.get("userinfo_endpoint"),
                jwks_uri=explicit.jwks_uri or str(document["jwks_uri"]),
                issuer=config.issuer,
            )
        except KeyError as missing:
            raise invalid_response(f"the discovery document lacks {missing.args[0]}") from None

    @staticmethod
    def discovery(issuer: str) -> dict[str, Any]:
        """The issuer's discovery document; its ``issuer`` must be the configured one
        (OpenID Connect Discovery 1.0, 4.3)."""
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = _discovery.get(url)
        if document is None:
            document = get_json(url)
            if document.get("issuer") != issuer:
                raise invalid_response("the discovery document names another issuer")
            _discovery.put(url, document)
        return dict(document)

    def authorization_params(self, config: UpstreamConfig, request: UpstreamRequest) -> dict[str, str]:
        return {"nonce": request.nonce} if request.nonce else {}

    def person(
        self, config: UpstreamConfig, request: UpstreamRequest, endpoints: Endpoints, token: Mapping[str, Any]
    ) -> UpstreamIdentity:
        claims = self.verified_claims(config, request, endpoints, token)
        if not claims.get("email") and endpoints.userinfo_endpoint:
            profile = self.userinfo(endpoints, token)
            if str(profile.get("sub")) != str(claims["sub"]):  # OpenID Connect Core 1.0, 5.3.4
                raise invalid_response("the userinfo response names another subject")
            claims = {**profile, **{k: v for k, v in claims.items() if v is not None}}
        return self.mapped(claims, config.claim_mapping)

    def verified_claims(
        self, config: UpstreamConfig, request: UpstreamRequest, endpoints: Endpoints, token: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The ID token's claims, once its signature (the upstream's JWKS), ``iss``, ``aud``,
        ``exp`` and ``nonce`` are right (OpenID Connect Core 1.0, 3.1.3.7)."""
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise invalid_response("the token response carries no id_token")
        try:
            decoded = jwt.decode(id_token, self.key_set(endpoints.jwks_uri or "", id_token), ID_TOKEN_ALGORITHMS)
            jwt.JWTClaimsRegistry(
                now=int(time.time()),
                leeway=CLOCK_LEEWAY,
                iss={"essential": True, "value": endpoints.issuer or config.issuer or ""},
                aud={"essential": True, "value": config.client_id},
                exp={"essential": True},
                sub={"essential": True},
                **self.nonce_option(request),
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise invalid_response(f"the ID token is not valid ({type(exc).__name__})") from None
        claims = dict(decoded.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != config.client_id:  # Core 1.0, 3.1.3.7 (4, 5)
            raise invalid_response("the ID token was issued to another party")
        return claims

    @staticmethod
    def nonce_option(request: UpstreamRequest) -> dict[str, ClaimsOption]:
        """Checked whenever one was sent (Core 1.0, 3.1.3.7 (11)); the JSON faces send none."""
        return {"nonce": {"essential": True, "value": request.nonce}} if request.nonce else {}

    @staticmethod
    def key_set(jwks_uri: str, id_token: str) -> KeySet:
        """The upstream's keys; fetched again once when the token names a key not seen yet
        (the upstream rotated its keys)."""
        require_url(jwks_uri, "jwks_uri")
        cached = _key_sets.get(jwks_uri)
        kid = _header_kid(id_token)
        if cached is not None and (kid is None or any(key.kid == kid for key in cached)):
            return cached  # type: ignore[no-any-return]
        try:
            keys = KeySet.import_key_set(get_json(jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise invalid_response("the identity provider's key set cannot be read") from None
        _key_sets.put(jwks_uri, keys)
        return keys


def _header_kid(id_token: str) -> str | None:
    try:
        kid = extract_compact(id_token.encode()).protected.get("kid")
    except (JoseError, ValueError):
        return None
    return str(kid) if kid else None


def _no_server_error(response: requests.Response) -> requests.Response:
    """A token endpoint answering 5xx is down, not refusing."""
    if response.status_code >= 500:
        raise unavailable(response.url, f"HTTP {response.status_code}")
    return response
