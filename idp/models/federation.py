"""Upstream identity providers Gatehouse signs people in through, and the links between an
upstream's person (provider, upstream subject) and ours (``sub``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow


class IdentityProvider(Base):
    """One registered upstream. ``client_secret_sealed`` is the secret sealed with the
    instance's key (``CodeCipher.seal``): Gatehouse must send it upstream, so it cannot be a
    hash, and it never leaves the service in clear but toward the upstream."""

    __tablename__ = "identity_providers"

    pk: Mapped[int] = mapped_column("pk", primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_sealed: Mapped[str] = mapped_column(Text, default="")
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    issuer: Mapped[str | None] = mapped_column(String(500), default=None)
    authorization_endpoint: Mapped[str | None] = mapped_column(String(500), default=None)
    token_endpoint: Mapped[str | None] = mapped_column(String(500), default=None)
    userinfo_endpoint: Mapped[str | None] = mapped_column(String(500), default=None)
    jwks_uri: Mapped[str | None] = mapped_column(String(500), default=None)
    claim_mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FederatedLink(Base):
    """A person of ours who signs in through ``provider_id`` as ``subject`` there."""

    __tablename__ = "federated_links"
    __table_args__ = (UniqueConstraint("provider_id", "subject", name="uq_federated_links_provider_subject"),)

    pk: Mapped[int] = mapped_column("pk", primary_key=True)
    provider_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("identity_providers.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    sub: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)  # the upstream's, when linked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
