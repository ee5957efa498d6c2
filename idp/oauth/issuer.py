"""The token issuer: every grant and every face gets its tokens here.

``issue`` signs an RFC 9068 access token, an OpenID Connect ID token when ``openid`` is granted
(OIDC Core 2) and makes a refresh token when the application may use the ``refresh_token``
grant; then, with every signature done (no lock is held while signing), it runs one short
transaction: rotate the presented refresh token, store the new one hashed, audit
``login.token``. No Redis call: the access token names its grant (``grant_id``), which is
what revoking denies (idp/oauth/revocation.py). Exactly one of N concurrent rotations of one
refresh token wins; a lost race is reuse (OAuth 2.0 Security BCP 4.14.2): the family is revoked
and the request refused.

The access token is signed with the application's ``access_token_alg`` (else
``GATEHOUSE_JWT_ALG``), the ID token with its ``id_token_signed_response_alg`` (RS256 unless it
asks otherwise), each by that algorithm's prepared key (``KeyService.signer``).
"""

from __future__ import annotations

import hashlib
from base64 import urlsafe_b64encode
from typing import NotRequired, TypedDict

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import new_token
from idp.db import Database
from idp.errors import error
from idp.models import Application
from idp.oauth.claims import CLIENT_SCOPES, USER_SCOPES, USERINFO_CLAIMS, Claims, claims_for, granted_scope
from idp.oauth.keys import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, KeyService
from idp.oauth.tokens import Principal, RefreshTokenStore, StoredRefreshToken
from idp.settings import Settings

# OpenID Connect Dynamic Client Registration 1.0, 2: id_token_signed_response_alg "defaults to RS256"
ID_TOKEN_DEFAULT_ALG = "RS256"


class TokenResponse(TypedDict):
    """The token response (RFC 6749 5.1, OIDC Core 3.1.3.3), its members in the order sent."""

    token_type: str
    access_token: str
    expires_in: int
    refresh_token: NotRequired[str]  # when the application may use the refresh_token grant
    scope: str
    id_token: NotRequired[str]  # when ``openid`` is granted


class _LostRotation(Exception):
    """Another request rotated (or revoked) the presented refresh token first."""


class TokenIssuer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        keys: KeyService,
        refresh_tokens: RefreshTokenStore,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.keys = keys
        self.refresh_tokens = refresh_tokens
        self.clock = clock or SystemClock()

    def issue(
        self,
        client: Application,
        principal: Principal | None,
        ctx: RequestContext,
        *,
        grant_type: str,
        scope: str | None = None,
        rotating: StoredRefreshToken | None = None,
        sign_in_method: str | None = None,
    ) -> TokenResponse:
        """The token response (RFC 6749 5.1) for ``principal`` (None: the application's own
        token, client credentials) with ``scope`` as granted (None: all the application may
        have). ``rotating`` is the refresh token presented to a refresh grant. ``sign_in_method``:
        the grant signed the person in just now, by this method (``sms``, ``email``), and its
        ``login.success`` is recorded here, with the tokens, in one transaction.

        Raises token.reused (the presented refresh token lost a race: its family is revoked) and
        store.unavailable.
        """
        if scope is None:
            scope = granted_scope(client, None, within=USER_SCOPES if principal else CLIENT_SCOPES)
        now, ttl, jti = int(self.clock.time()), self.access_token_ttl(client), new_token(16)
        # the grant every token of this login belongs to: revoking it denies them all at once
        family = (principal.family_id or new_token(12)) if principal is not None else None
        access = self._access_token(client, principal, scope, jti, now, ttl, family)
        token: TokenResponse
        if principal is not None and client.check_grant_type("refresh_token"):
            token = {
                "token_type": "Bearer",
                "access_token": access,
                "expires_in": ttl,
                "refresh_token": new_token(48),
                "scope": scope,
            }
        else:
            token = {"token_type": "Bearer", "access_token": access, "expires_in": ttl, "scope": scope}
        if principal is not None and "openid" in scope.split():
            token["id_token"] = self.id_token(client, principal, access)
        self._save(client, principal, ctx, grant_type, token, family, rotating, sign_in_method)
        return token

    def access_token_ttl(self, client: Application) -> int:
        return min(client.access_token_ttl or self.settings.access_token_ttl, self.settings.longest_access_token_ttl)

    def access_token_alg(self, client: Application) -> str:
        """The application's ``access_token_alg``, else ``GATEHOUSE_JWT_ALG``."""
        return client.access_token_alg or self.settings.jwt_alg

    @staticmethod
    def id_token_alg(client: Application) -> str:
        return client.id_token_signed_response_alg or ID_TOKEN_DEFAULT_ALG

    def id_token(self, client: Application, principal: Principal, access_token: str | None = None) -> str:
        """OIDC Core 2: iss, sub, aud, azp, iat, exp, auth_time, amr, acr, nonce (only from an
        authorize request), at_hash (3.1.3.6), sid (the SSO session's, Back-Channel Logout 1.0,
        2.1), and the claims the grant asked for by name."""
        now = int(self.clock.time())
        requested = (principal.claims or {}).get("id_token") or []
        claims = {k: v for k, v in claims_for(principal.user, (), requested).items() if k != "sub"}
        claims.update(
            {
                "iss": self.settings.issuer,
                "sub": principal.user.sub,
                "aud": client.client_id,
                "azp": client.client_id,
                "iat": now,
                "exp": now + self.settings.id_token_ttl,
                "auth_time": principal.auth_time,
                "amr": principal.amr,
                "acr": principal.acr,
                "jti": new_token(16),
            }
        )
        if principal.nonce:
            claims["nonce"] = principal.nonce
        if principal.sid:  # OpenID Connect Back-Channel Logout 1.0, 2.1 (and Front-Channel 3)
            claims["sid"] = principal.sid
        alg = self.id_token_alg(client)
        if access_token:
            claims["at_hash"] = _left_half_hash(access_token, alg)
        return self.keys.signer(alg).sign(claims, ID_TOKEN_TYPE)

    def _access_token(
        self,
        client: Application,
        principal: Principal | None,
        scope: str,
        jti: str,
        now: int,
        ttl: int,
        family: str | None,
    ) -> str:
        """RFC 9068 2.2: iss, exp, aud, sub (the application's id for its own token), client_id,
        iat, jti; with auth_time, acr and amr of the person's authentication, and ``grant_id``,
        the grant it belongs to (what revoking a refresh token or a sign-out denies)."""
        claims: Claims = {
            "iss": self.settings.issuer,
            "exp": now + ttl,
            "client_id": client.client_id,
            "iat": now,
            "jti": jti,
            "scope": scope,
            "sub": principal.user.sub if principal else client.client_id,
            "aud": client.client_id,
        }
        if principal is not None:
            claims.update(auth_time=principal.auth_time, acr=principal.acr, amr=principal.amr, grant_id=family)
            requested = (principal.claims or {}).get("userinfo")
            if requested:
                claims[USERINFO_CLAIMS] = requested
        return self.keys.signer(self.access_token_alg(client)).sign(claims, ACCESS_TOKEN_TYPE)

    def _save(
        self,
        client: Application,
        principal: Principal | None,
        ctx: RequestContext,
        grant_type: str,
        token: TokenResponse,
        family: str | None,
        rotating: StoredRefreshToken | None,
        sign_in_method: str | None = None,
    ) -> None:
        store = self.refresh_tokens
        # client credentials have no person: the token is the application's own
        issued = audit.row(
            "login.token",
            ctx,
            sub=principal.user.sub if principal else None,
            client_id=client.client_id,
            grant_type=grant_type,
            amr=principal.amr if principal else None,
        )
        try:
            with self.db.transaction() as session:
                if sign_in_method is not None and principal is not None:
                    audit.record(
                        session,
                        "login.success",
                        ctx,
                        sub=principal.user.sub,
                        client_id=client.client_id,
                        method=sign_in_method,
                        amr=principal.amr,
                    )
                successor = token.get("refresh_token")
                if rotating is not None:
                    # RFC 6749 6: the new refresh token keeps the scope of the one it replaces
                    assert successor  # a refresh grant always answers a successor
                    assert principal is not None
                    if not store.replace(session, rotating, successor, client, principal, issued):
                        raise _LostRotation
                    return
                if successor and principal is not None and family is not None:
                    store.add(successor, client, principal, token["scope"], session=session, family_id=family)
                audit.record_row(session, issued)
        except _LostRotation:
            assert rotating is not None
            store.reject_reuse(rotating, ctx)
            raise error("token.reused") from None


# the hash of the ID token's alg (OIDC Core 3.1.3.6); EdDSA with Ed25519 hashes with SHA-512
# (OpenID Connect Token Hash Algorithms 1.0), the hash Ed25519 itself uses (RFC 8032 5.1)
TOKEN_HASHES = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


def _left_half_hash(value: str, alg: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of the hash of the token."""
    digest = TOKEN_HASHES[alg](value.encode()).digest()
    return urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")
