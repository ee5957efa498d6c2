"""Bearer access tokens (RFC 9068 JWTs we issued): the one check every Bearer endpoint makes
(OIDC userinfo, Tencent CIAM ``PATCH /userinfo`` and ``/change_user_password``, ZITADEL
``/auth/v1/users/me/*``, CloudBase ``/auth/v1/user/me``, the admin API), and the userinfo claims.

A token is valid when it carries our signature (RS256, ES256 or EdDSA, each checked only with a
published key of its own type: ``KeyService.decode``), ``typ at+jwt`` and our issuer, has not expired
by the services' clock and is not on the deny-list (RFC 7009 revocation, shared by every
instance through Redis). A Redis outage raises store.unavailable: the caller answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from joserfc.errors import JoseError

from idp.clock import Clock
from idp.errors import error
from idp.models import User
from idp.oauth.claims import USERINFO_CLAIMS, Claims, claims_for
from idp.oauth.keys import KeyService
from idp.oauth.revocation import AccessTokenRevocations
from idp.settings import Settings

__all__ = [
    "AccessGrant",
    "BearerError",
    "BearerServices",
    "authenticate_bearer",
    "bearer_authorization",
    "claims_for",
    "userinfo_claims",
    "validate_access_token",
]


class UserLookup(Protocol):
    """The accounts' lookup by ``sub`` (``UserService.by_sub``; the accounts sit above this layer)."""

    def by_sub(self, sub: str) -> User | None: ...


class BearerServices(Protocol):
    """What a Bearer check reads of ``idp.services.Services`` (which the web layer passes): the
    keys, the issuer, the clock, the deny-list, and the token's user for userinfo."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def keys(self) -> KeyService: ...

    @property
    def revocations(self) -> AccessTokenRevocations: ...

    @property
    def users(self) -> UserLookup: ...


# RFC 6750 3.1: the status each error code answers with
STATUS = {"invalid_request": 400, "invalid_token": 401, "insufficient_scope": 403}


class BearerError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status(self) -> int:
        return STATUS[self.error]


def bearer_authorization(authorization: str | None, form_token: str | None) -> str:
    """The credential as an ``Authorization`` value, from the header (RFC 6750 2.1) or the
    ``access_token`` of a form-encoded body (2.2). Raises BearerError(invalid_request) when it
    comes both ways (RFC 6750 2: a client uses exactly one method)."""
    if form_token:
        if authorization:
            raise BearerError("invalid_request", "The access token was sent in more than one way.")
        return f"Bearer {form_token}"
    return authorization or ""


def validate_access_token(services: BearerServices, authorization: str) -> Claims:
    """Claims of a valid access token from an ``Authorization: Bearer`` header.

    Raises BearerError(invalid_token) for anything else: wrong type, signature, issuer,
    expiry, revoked; store.unavailable when the deny-list cannot be read.
    """
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise BearerError("invalid_token", "Missing bearer access token.")
    try:
        token = services.keys.decode(raw.strip())
    except (JoseError, ValueError) as exc:
        raise BearerError("invalid_token", "The access token is invalid.") from exc
    claims = token.claims
    if token.header.get("typ") != "at+jwt" or claims.get("iss") != services.settings.issuer:
        raise BearerError("invalid_token", "The access token is invalid.")
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("exp"), int):
        raise BearerError("invalid_token", "The access token is invalid.")
    if claims["exp"] <= int(services.clock.time()):
        raise BearerError("invalid_token", "The access token has expired.")
    grant_id = claims.get("grant_id")
    if services.revocations.is_denied(claims["jti"], grant_id if isinstance(grant_id, str) else None):
        raise BearerError("invalid_token", "The access token was revoked.")
    return claims


def userinfo_claims(services: BearerServices, authorization: str) -> Claims:
    """OIDC Core 5.3: the claims the token's scopes release about its subject, and those its
    grant asked for by name (5.5)."""
    claims = validate_access_token(services, authorization)
    scopes = set(str(claims.get("scope", "")).split())
    if "openid" not in scopes:
        raise BearerError("insufficient_scope", "The access token lacks the openid scope.")
    user = services.users.by_sub(claims["sub"])
    if user is None or not user.is_active:
        raise BearerError("invalid_token", "The access token's user is not active.")
    requested = claims.get(USERINFO_CLAIMS)
    return claims_for(user, scopes, requested if isinstance(requested, list) else ())


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token says: who, through which application, with which scopes."""

    sub: str
    client_id: str | None
    scopes: frozenset[str]
    claims: Claims


def authenticate_bearer(services: BearerServices, authorization: str, *, scope: str = "openid") -> AccessGrant:
    """The ``AccessGrant`` of an ``Authorization: Bearer`` access token that carries ``scope``.

    Raises bearer.invalid_token (401), bearer.insufficient_scope (403, RFC 6750 3.1) and
    store.unavailable. The user's status is the caller's business (a locked user gets the
    surface's own error).
    """
    try:
        claims = validate_access_token(services, authorization)
    except BearerError as exc:
        raise error("bearer.invalid_token", exc.description) from exc
    scopes = frozenset(str(claims.get("scope", "")).split())
    if scope not in scopes:
        raise error("bearer.insufficient_scope", f"The access token lacks the {scope} scope.", scope=scope)
    return AccessGrant(sub=str(claims["sub"]), client_id=claims.get("client_id"), scopes=scopes, claims=claims)
