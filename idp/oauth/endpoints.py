"""Authlib endpoint classes besides the grants: revocation (RFC 7009), introspection
(RFC 7662) and RP-initiated logout 1.0. They reach the domain through ``self.server.services``
and ``self.server.request_context(client_id)``, set by the web layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from idp import audit
from idp.models import Application
from idp.oauth.bearer import BearerError, validate_access_token
from idp.oauth.claims import Claims
from idp.oauth.grants import OAuthServer
from idp.oauth.tokens import StoredRefreshToken
from idp.settings import JWT_ALGORITHMS

T = TypeVar("T")


class TokenLookup(Generic[T]):
    """How both endpoints find the token presented (a ``T``): an access token we issued (valid,
    not revoked) or a refresh token, the ``token_type_hint`` only ordering the search."""

    server: OAuthServer  # Authlib's, set when the endpoint is registered

    def query_token(self, token_string: str, token_type_hint: str | None) -> T | None:
        # RFC 7009 2.1: the hint only orders the search
        finders = [self._access_token, self._refresh_token]
        if token_type_hint == "refresh_token":
            finders.reverse()
        return next((found for find in finders if (found := find(token_string)) is not None), None)

    def _access_claims(self, raw: str) -> Claims | None:
        try:
            return validate_access_token(self.server.services, f"Bearer {raw}")
        except BearerError:
            return None

    def _access_token(self, raw: str) -> T | None:
        raise NotImplementedError

    def _refresh_token(self, raw: str) -> T | None:
        raise NotImplementedError


# -- revocation (RFC 7009) --------------------------------------------------------------------------
@dataclass(frozen=True)
class RevocableAccessToken:
    client_id: str
    jti: str
    exp: int
    sub: str | None

    def check_client(self, client: ClientMixin) -> bool:
        return self.client_id == client.get_client_id()


class Revocation(TokenLookup[RevocableAccessToken | StoredRefreshToken], RevocationEndpoint):
    """RFC 7009. An access token is denied until its own expiry; a refresh token revokes its
    whole family, and with it every access token the family issued. A token of another client
    is refused; an unknown, expired or already revoked one is answered 200 (RFC 7009 2.2)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def _access_token(self, raw: str) -> RevocableAccessToken | None:
        claims = self._access_claims(raw)
        if claims is None:
            return None
        # a person's token says when they authenticated; an application's own token has no person
        sub = claims.get("sub") if "auth_time" in claims else None
        return RevocableAccessToken(claims.get("client_id", ""), claims["jti"], claims["exp"], sub)

    def _refresh_token(self, raw: str) -> StoredRefreshToken | None:
        return self.server.services.refresh_tokens.find(raw)

    def revoke_token(self, token: RevocableAccessToken | StoredRefreshToken, request: OAuth2Request) -> None:
        services, ctx = self.server.services, self.server.request_context(token.client_id)
        if isinstance(token, RevocableAccessToken):
            services.revocations.deny(token.jti, token.exp)
            audit.write(
                services.db,
                "token.revoke",
                ctx,
                sub=token.sub,
                client_id=token.client_id,
                token_type="access_token",
                jti=token.jti,
            )
            return
        services.refresh_tokens.revoke_family(
            token.family_id, ctx, reason="revoked", sub=token.sub, client_id=token.client_id
        )


# -- introspection (RFC 7662) ---------------------------------------------------------------------
class IntrospectedToken:
    def __init__(self, client_id: str, payload: dict[str, Any]) -> None:
        self.client_id = client_id
        self.payload = payload

    def is_expired(self) -> bool:
        return False  # expired tokens are never returned by ``query_token``

    def is_revoked(self) -> bool:
        return False


class Introspection(TokenLookup[IntrospectedToken], IntrospectionEndpoint):
    """Only the client a token was issued to may introspect it; to any other client (and for
    anything unknown, expired, rotated or revoked) the answer is ``{"active": false}``
    (RFC 7662 2.2). Resource servers verify our JWT access tokens against the JWKS instead."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def _access_token(self, raw: str) -> IntrospectedToken | None:
        claims = self._access_claims(raw)
        if claims is None:
            return None
        keep = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "auth_time", "acr")
        return IntrospectedToken(
            claims.get("client_id", ""), {"token_type": "Bearer", **{k: claims[k] for k in keep if k in claims}}
        )

    def _refresh_token(self, raw: str) -> IntrospectedToken | None:
        token = self.server.services.refresh_tokens.find_active(raw)
        if token is None:
            return None
        return IntrospectedToken(
            token.client_id,
            {
                "client_id": token.client_id,
                "sub": token.sub,
                "scope": token.scope,
                "iss": self.server.services.settings.issuer,
                "exp": _epoch(token.expires_at),
                "iat": _epoch(token.created_at),
            },
        )

    def check_permission(self, token: IntrospectedToken, client: ClientMixin, request: OAuth2Request) -> bool:
        return token.client_id == client.get_client_id()

    def introspect_token(self, token: IntrospectedToken) -> dict[str, Any]:
        return {"active": True, **token.payload}


def _epoch(value: datetime) -> int:
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


# -- RP-initiated logout 1.0 ----------------------------------------------------------------------
class EndSession(EndSessionEndpoint):
    """Validates the logout request; the web layer ends the session (it owns the cookie).

    ``id_token_hint`` must carry our signature (expired ones are accepted, RP-Initiated 2);
    ``post_logout_redirect_uri`` must equal one the named client registered, exactly. Without a
    hint, an exact match with the ``client_id`` given is taken as legitimate: the person
    confirms the sign-out on our page first.
    """

    server: OAuthServer

    def get_server_jwks(self) -> KeySet:
        return self.server.services.keys.public_keys()

    def get_algorithms(self) -> list[str]:
        return list(JWT_ALGORITHMS)

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        """Authlib's check (our signature, expiry not enforced), with the key chosen among the
        published keys of the header's algorithm only (``KeyService.decode``, RFC 8725 3.1)."""
        try:
            token = self.server.services.keys.decode(id_token_hint)
            _HintClaims(nbf={"essential": False}).validate(token.claims)
        except JoseError as exc:
            raise InvalidRequestError(exc.description) from exc
        except ValueError as exc:
            raise InvalidRequestError("Invalid id_token_hint") from exc
        return dict(token.claims)

    def _is_valid_post_logout_redirect_uri(self, client: Application, post_logout_redirect_uri: str) -> bool:
        return post_logout_redirect_uri in (client.post_logout_redirect_uris or [])

    def is_post_logout_redirect_uri_legitimate(
        self, request: OAuth2Request, post_logout_redirect_uri: str, client: Application, logout_hint: str | None
    ) -> bool:
        return True

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        """Unused: ``AuthorizationService.end_session`` is called by the web layer."""


class _HintClaims(JWTClaimsRegistry):
    """RP-Initiated Logout 1.0, 2: an expired ID token is still a valid hint."""

    def validate_exp(self, value: object) -> None:
        pass
