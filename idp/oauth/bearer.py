"""Bearer access tokens (RFC 9068 JWTs we issued): validation and the userinfo claims."""

from __future__ import annotations

from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError

from idp.errors import IdpError, Kind
from idp.models import User


class BearerError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def validate_access_token(services, authorization: str) -> dict:
    """Claims of a valid access token from an ``Authorization: Bearer`` header.

    Raises BearerError(invalid_token) for anything else: wrong type, signature, issuer, expiry.
    """
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise BearerError("invalid_token", "Missing bearer access token.")
    try:
        token = jwt.decode(raw.strip(), services.keys.public_keys(), algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise BearerError("invalid_token", "The access token is invalid.") from exc
    claims = token.claims
    if token.header.get("typ") != "at+jwt" or claims.get("iss") != services.settings.issuer:
        raise BearerError("invalid_token", "The access token is invalid.")
    if int(claims.get("exp", 0)) <= int(services.clock.time()):
        raise BearerError("invalid_token", "The access token has expired.")
    return claims


def userinfo_claims(services, authorization: str) -> dict:
    """OIDC Core 5.3: the claims the token's scopes release about its subject."""
    claims = validate_access_token(services, authorization)
    scopes = set(str(claims.get("scope", "")).split())
    if "openid" not in scopes:
        raise BearerError("insufficient_scope", "The access token lacks the openid scope.")
    user = services.users.by_sub(claims["sub"])
    if user is None or not user.is_active:
        raise BearerError("invalid_token", "The access token's user is not active.")
    return claims_for(user, scopes)


def claims_for(user: User, scopes: set[str]) -> dict:
    out: dict = {"sub": user.sub}
    if "profile" in scopes:
        out.update({"name": user.name, "preferred_username": user.username, "locale": user.locale,
                    "updated_at": int(user.updated_at.timestamp()) if user.updated_at else None})
    if "email" in scopes:
        out.update({"email": user.email, "email_verified": bool(user.email_verified)})
    if "phone" in scopes:
        out.update({"phone_number": user.phone_number, "phone_number_verified": bool(user.phone_verified)})
    return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token says: who, through which application, with which scopes."""

    sub: str
    client_id: str | None
    scopes: frozenset[str]
    claims: dict


def authenticate_bearer(services, authorization: str, *, scope: str = "openid") -> AccessGrant:
    """The ``AccessGrant`` of an ``Authorization: Bearer`` access token that carries ``scope``.

    Raises bearer.invalid_token (401) and bearer.insufficient_scope (403, RFC 6750 3.1). The
    user's status is the caller's business (a locked user gets the surface's own error).
    """
    try:
        claims = validate_access_token(services, authorization)
    except BearerError as exc:
        raise IdpError("bearer.invalid_token", Kind.UNAUTHENTICATED, exc.description) from exc
    scopes = frozenset(str(claims.get("scope", "")).split())
    if scope not in scopes:
        raise IdpError("bearer.insufficient_scope", Kind.FORBIDDEN, f"The access token lacks the {scope} scope.",
                       {"scope": scope})
    return AccessGrant(sub=str(claims["sub"]), client_id=claims.get("client_id"), scopes=scopes, claims=claims)
