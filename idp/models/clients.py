"""Applications (OAuth clients) and the auth sources (OTP channels) linked to them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.crypto import hash_secret, secret_matches
from idp.db import Base, utcnow

application_auth_sources = Table(
    "application_auth_sources",
    Base.metadata,
    Column("application_id", ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True),
    Column("auth_source_id", ForeignKey("auth_sources.id", ondelete="CASCADE"), primary_key=True),
)

PUBLIC_TYPES = ("spa", "native")


class AuthSource(Base):
    """Tencent CIAM's auth source: how codes for one channel look and live."""

    __tablename__ = "auth_sources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # sms | email
    name: Mapped[str] = mapped_column(String(200), default="")
    code_length: Mapped[int] = mapped_column(default=6)
    code_ttl: Mapped[int] = mapped_column(default=60)
    template: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Application(Base):
    """An OAuth client. Implements the parts of Authlib's ClientMixin the server calls."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(128), default=None)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))  # web | spa | native | m2m
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    login_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    mfa: Mapped[str] = mapped_column(String(16), default="off")
    # "remember this device": days a browser may skip the second factor after MFA; 0 = never
    remember_device_days: Mapped[int] = mapped_column(default=0, server_default="0")
    auto_signup: Mapped[bool] = mapped_column(default=False)
    first_party: Mapped[bool] = mapped_column(default=True)
    access_token_ttl: Mapped[int | None] = mapped_column(default=None)
    refresh_token_ttl: Mapped[int | None] = mapped_column(default=None)
    # the signing algorithms of its tokens: access tokens (None: GATEHOUSE_JWT_ALG) and ID
    # tokens (OpenID Connect Dynamic Client Registration 1.0, 2: RS256 unless it asks otherwise)
    access_token_alg: Mapped[str | None] = mapped_column(String(16), default=None)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16), default="RS256", server_default="RS256")
    # -- OpenID Connect Back-Channel Logout 1.0, 2.2: where its logout tokens are POSTed (None: none)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500), default=None)
    # -- end of back-channel logout
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the upstream identity providers its login page offers ("Continue with <name>"), in order
    identity_provider_ids: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    auth_sources: Mapped[list[AuthSource]] = relationship(secondary=application_auth_sources, lazy="selectin")

    @property
    def is_public(self) -> bool:
        return self.type in PUBLIC_TYPES

    def set_secret(self, secret: str | None) -> None:
        self.client_secret_hash = hash_secret(secret) if secret else None

    def has_auth_source(self, auth_source_id: str) -> bool:
        return any(source.id == auth_source_id for source in self.auth_sources)

    def auth_source_for(self, kind: str) -> str | None:
        """The first linked auth source of ``kind`` (sms | email): what the hosted pages use."""
        return next((source.id for source in self.auth_sources if source.kind == kind), None)

    # -- Authlib ClientMixin -------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        allowed = set(self.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact match only, so no open redirect can be built from a prefix (RFC 9700 2.1,
        # OAuth 2.0 Security Best Current Practice; OpenID Connect Core 1.0 3.1.2.1).
        return redirect_uri in self.redirect_uris

    def read_secret_hash_from(self, stored_secret_hash: Callable[[], str | None]) -> None:
        """For the copies ClientService keeps between requests: check secrets against the hash
        as stored now, so a rotated secret (or a deleted application) stops authenticating at
        once in every process, however long the rest of the copy is kept."""
        self._stored_secret_hash: Callable[[], str | None] | None = stored_secret_hash

    def check_client_secret(self, client_secret: str) -> bool:
        stored_now = getattr(self, "_stored_secret_hash", None)
        return secret_matches(client_secret, stored_now() if stored_now else self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
