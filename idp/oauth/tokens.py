"""Token issuance: RFC 9068 JWT access tokens, OIDC ID tokens, hashed refresh tokens.

Authlib's ``JWTBearerTokenGenerator`` builds the access token; the "user" it receives is a
``Principal`` that carries how the person authenticated (``auth_time``, ``amr``, ``acr``), so
those facts flow from the grant into every token without globals.
"""

from __future__ import annotations

import hashlib
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database
from idp.models import Application, RefreshToken, User
from idp.oauth.keys import KeyService
from idp.sessions.store import acr_for
from idp.settings import Settings


@dataclass
class Principal:
    """An authenticated user as the token endpoint sees it."""

    user: User
    auth_time: int
    amr: list[str]
    nonce: str | None = None  # OIDC Core 3.1.2.1: only from an authorize request, never on refresh
    family_id: str | None = None  # refresh: join the family; code: the family its replay revokes
    extra: dict = field(default_factory=dict)

    @property
    def acr(self) -> str:
        """DESIGN rule 4: the assurance level follows from the checks passed (``amr``)."""
        return acr_for(self.amr)

    def get_user_id(self) -> str:
        return self.user.sub


class AccessTokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, settings: Settings, keys: KeyService) -> None:
        super().__init__(
            issuer=settings.issuer,
            alg="RS256",
            refresh_token_generator=lambda *args, **kwargs: new_token(48),
            expires_generator=self._expires_in,
        )
        self.settings = settings
        self.keys = keys

    def _expires_in(self, client: Application, grant_type: str) -> int:
        return client.access_token_ttl or self.settings.access_token_ttl

    def get_jwks(self):
        return self.keys.signing_keys()

    def get_auth_time(self, user: Principal | None) -> int | None:
        return user.auth_time if user else None

    def get_amr(self, user: Principal | None) -> list[str] | None:
        return user.amr if user else None

    def get_acr(self, user: Principal | None) -> str | None:
        return user.acr if user else None

    def get_jti(self, client, grant_type, user, scope) -> str:
        return new_token(16)

    def __call__(self, grant_type, client, user=None, scope=None, expires_in=None,
                 include_refresh_token=True):
        token = super().__call__(grant_type, client, user, scope, expires_in, include_refresh_token)
        token["scope"] = scope or ""
        return token


class IdTokenIssuer:
    def __init__(self, settings: Settings, keys: KeyService, clock: Clock | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.clock = clock or SystemClock()

    def issue(self, client: Application, principal: Principal, access_token: str | None) -> str:
        """OIDC Core 2: iss, sub, aud, exp, iat, auth_time, nonce, amr, acr, at_hash, azp."""
        now = int(self.clock.time())
        claims = {
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
        if principal.nonce:
            claims["nonce"] = principal.nonce
        if access_token:
            claims["at_hash"] = _left_half_hash(access_token)
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self.keys.signing_keys())


def _left_half_hash(value: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of SHA-256 of the token."""
    digest = hashlib.sha256(value.encode()).digest()
    return urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")


_INSERT_TOKEN = insert(RefreshToken.__table__)


class RefreshTokenStore:
    """Refresh tokens, stored as SHA-256, rotated on use, revoked by family on reuse."""

    def __init__(self, db: Database, settings: Settings, clock: Clock | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or SystemClock()

    def add(self, raw: str, client: Application, principal: Principal, scope: str) -> None:
        """Insert a new token in the current transaction (committed by the caller)."""
        ttl = client.refresh_token_ttl or self.settings.refresh_token_ttl
        self.db.session.execute(  # Core INSERT: the row is not read back in this request
            _INSERT_TOKEN,
            dict(
                token_hash=hash_secret(raw),
                family_id=principal.family_id or new_token(12),
                client_id=client.client_id,
                sub=principal.user.sub,
                scope=scope,
                auth_time=principal.auth_time,
                amr=principal.amr,
                expires_at=self.clock.now() + timedelta(seconds=ttl),
            )
        )

    def find_live(self, raw: str, ctx: RequestContext) -> RefreshToken | None:
        """The token if it can be rotated now; None if unknown, revoked, expired or rotated.

        Presenting a token that was already rotated is reuse: the whole family is revoked
        (OAuth 2.0 Security BCP 4.14.2). Nothing is written for a live token: ``rotate`` marks
        it in the same short transaction that stores its successor, so no database lock is
        held while the new tokens are signed.
        """
        token = self.find(raw)
        if token is None or token.revoked_at is not None or _aware(token.expires_at) <= self.clock.now():
            return None
        if token.rotated_at is not None:
            self.reject_reuse(token, ctx)
            return None
        return token

    def find_active(self, raw: str) -> RefreshToken | None:
        """The token if it is live (not rotated, revoked or expired). Looking is not using it:
        no reuse detection here (introspection, RFC 7662)."""
        token = self.find(raw)
        if token is None or token.revoked_at is not None or token.rotated_at is not None:
            return None
        return token if _aware(token.expires_at) > self.clock.now() else None

    def rotate(self, session: Session, token: RefreshToken) -> bool:
        """Mark ``token`` rotated in the caller's unit of work. False when a concurrent request
        rotated (or revoked) it first: exactly one of N racing requests wins."""
        table = RefreshToken.__table__  # Core UPDATE: no ORM session synchronisation needed
        return session.execute(
            update(table)
            .where(table.c.id == token.id, table.c.rotated_at.is_(None), table.c.revoked_at.is_(None))
            .values(rotated_at=self.clock.now())
        ).rowcount == 1

    def reject_reuse(self, token: RefreshToken, ctx: RequestContext) -> None:
        self.revoke_family(token.family_id, ctx, reason="reuse", sub=token.sub, client_id=token.client_id)

    def revoke_family(self, family_id: str, ctx: RequestContext, *, reason: str,
                      sub: str | None = None, client_id: str | None = None) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            )
            audit.record(session, "token.revoke_family", ctx, sub=sub, client_id=client_id,
                         reason=reason, result="success" if reason != "reuse" else "failure")

    def revoke_all(self, sub: str, ctx: RequestContext, *, reason: str) -> int:
        """Every live refresh token of ``sub`` (password reset, sign out everywhere)."""
        with self.db.transaction() as session:
            count = self.revoke_all_in(session, sub)
            audit.record(session, "token.revoke_all", ctx, sub=sub, reason=reason, count=count)
        return count

    def revoke_all_in(self, session: Session, sub: str) -> int:
        """``revoke_all`` inside the caller's unit of work (no commit, no audit of its own)."""
        table = RefreshToken.__table__
        return session.execute(
            update(table).where(table.c.sub == sub, table.c.revoked_at.is_(None)).values(revoked_at=self.clock.now())
        ).rowcount

    def find(self, raw: str) -> RefreshToken | None:
        return self.db.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_secret(raw)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
