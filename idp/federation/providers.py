"""Registered upstream identity providers: their registration (admin API), the settings the
protocol code needs (the secret unsealed only then), and the links of people to them.

A provider's client secret is sealed at rest (``CodeCipher.seal``): Gatehouse must present it
upstream, so it cannot be a hash; it is never rendered back (write-only). What the admin gave
is stored as given and completed by its kind (``Upstream.complete``: defaults, a preset's
endpoints) each time it is used, so a preset's endpoints follow the code that knows them.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp import audit
from idp.context import RequestContext
from idp.crypto import CodeCipher, new_token
from idp.db import Database
from idp.errors import IdpError, error, invalid
from idp.federation.registry import upstream_for
from idp.federation.upstream import UpstreamConfig
from idp.models import Application, FederatedLink, IdentityProvider

# what an administrator may set (``client_secret`` besides, write-only)
SETTINGS = (
    "name",
    "kind",
    "client_id",
    "scopes",
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "claim_mapping",
    "options",
)
NAME_MAX = 200
# what the columns hold (identity_providers): longer is refused as bad input, not a database error
COLUMN_LIMITS = {
    "client_id": 255,
    "issuer": 500,
    "authorization_endpoint": 500,
    "token_endpoint": 500,
    "userinfo_endpoint": 500,
    "jwks_uri": 500,
}


def not_found() -> IdpError:
    return error("federation.not_found")


class IdentityProviders:
    """Registration of upstream providers, and the redirect URI each must be registered with."""

    def __init__(self, db: Database, cipher: CodeCipher, issuer: str) -> None:
        self.db = db
        self.cipher = cipher
        self.issuer = issuer.rstrip("/")

    def redirect_uri(self, provider_id: str) -> str:
        """Where the upstream sends the browser back (register it there)."""
        return f"{self.issuer}/login/federated/{provider_id}/callback"

    # -- reading --------------------------------------------------------------------------
    def get(self, provider_id: str) -> IdentityProvider:
        """Raises federation.not_found."""
        provider = self.db.session.scalar(select(IdentityProvider).where(IdentityProvider.id == provider_id))
        if provider is None:
            raise not_found()
        return provider

    def find(self, provider_id: str) -> IdentityProvider | None:
        if not provider_id or len(provider_id) > 32:
            return None
        return self.db.session.scalar(select(IdentityProvider).where(IdentityProvider.id == provider_id))

    def offered_by(self, client: Application) -> builtins.list[IdentityProvider]:
        """The providers ``client`` offers, in its order (ids that no longer exist left out)."""
        ids = list(client.identity_provider_ids or [])
        if not ids:
            return []
        found = {p.id: p for p in self.db.session.scalars(select(IdentityProvider).where(IdentityProvider.id.in_(ids)))}
        return [found[i] for i in ids if i in found]

    def after(self, after: str | None, limit: int) -> builtins.list[IdentityProvider]:
        """A page in ``id`` order (the admin API's listing)."""
        query = select(IdentityProvider).order_by(IdentityProvider.id).limit(limit)
        if after:
            query = query.where(IdentityProvider.id > after)
        return list(self.db.session.scalars(query))

    def config(self, provider: IdentityProvider) -> UpstreamConfig:
        """What the protocol code needs, completed by the kind, the secret unsealed."""
        secret = self.cipher.unseal(provider.client_secret_sealed) if provider.client_secret_sealed else ""
        return self.completed(_settings_of(provider), secret, provider.id)

    def effective(self, provider: IdentityProvider) -> UpstreamConfig:
        """The completed settings without the secret (what the admin API shows). Completed with
        the real secret, since a kind may check it (the presets need one; Apple's must be a key)."""
        return replace(self.config(provider), client_secret="")

    @staticmethod
    def completed(settings: Mapping[str, Any], secret: str, provider_id: str) -> UpstreamConfig:
        """Raises federation.invalid_config."""
        given = {name: value for name, value in settings.items() if name in _CONFIG_FIELDS}
        given["scopes"] = tuple(given.get("scopes") or ())
        given["claim_mapping"] = dict(given.get("claim_mapping") or {})
        given["options"] = dict(given.get("options") or {})
        config = UpstreamConfig(id=provider_id, client_secret=secret, **given)
        return upstream_for(config.kind).complete(config)

    # -- registration -----------------------------------------------------------------------
    def create(self, data: Mapping[str, Any], ctx: RequestContext) -> IdentityProvider:
        """Register a provider. Raises federation.invalid_config (what its kind cannot work
        without), request.invalid (a bad name)."""
        settings = _settings({name: data.get(name) for name in SETTINGS})
        provider_id = new_token(12)
        self.completed(settings, data.get("client_secret") or "", provider_id)
        provider = IdentityProvider(id=provider_id, client_secret_sealed=self._sealed(data.get("client_secret")))
        _apply(provider, settings)
        with self.db.transaction() as session:
            session.add(provider)
            audit.record(session, "admin.identity_provider.create", ctx, provider_id=provider_id, kind=provider.kind)
        return self.get(provider_id)

    def update(self, provider_id: str, data: Mapping[str, Any], ctx: RequestContext) -> IdentityProvider:
        """Change any setting but ``kind``; ``client_secret`` replaces the secret. Validated as
        at creation against the whole new registration. Raises federation.not_found,
        federation.invalid_config, request.invalid."""
        if "kind" in data:
            raise invalid("request.invalid", "kind cannot be changed: register a new provider")
        with self.db.transaction() as session:
            provider = self._locked(session, provider_id)
            settings = _settings({**_settings_of(provider), **{k: v for k, v in data.items() if k in SETTINGS}})
            secret = data.get("client_secret")
            current = self.cipher.unseal(provider.client_secret_sealed) if provider.client_secret_sealed else ""
            self.completed(settings, secret if secret is not None else current, provider_id)
            _apply(provider, settings)
            if secret is not None:
                provider.client_secret_sealed = self._sealed(secret)
            changed = sorted(name for name in data if name in (*SETTINGS, "client_secret"))
            audit.record(session, "admin.identity_provider.update", ctx, provider_id=provider_id, fields=changed)
        return self.get(provider_id)

    def delete(self, provider_id: str, ctx: RequestContext) -> None:
        """Remove a provider and every link to it. Refused (federation.in_use) while an
        application offers it, like an auth source in use: take it off the application first,
        so no login page keeps a button that leads nowhere. Raises federation.not_found."""
        with self.db.transaction() as session:
            provider = self._locked(session, provider_id)
            offering = [
                a.client_id
                for a in session.scalars(select(Application))
                if provider_id in (a.identity_provider_ids or [])
            ]
            if offering:
                raise error("federation.in_use", f"offered by {', '.join(sorted(offering)[:5])}")
            links = session.execute(delete(FederatedLink).where(FederatedLink.provider_id == provider_id))
            session.delete(provider)
            audit.record(
                session,
                "admin.identity_provider.delete",
                ctx,
                provider_id=provider_id,
                links_removed=int(getattr(links, "rowcount", 0) or 0),
            )

    def _locked(self, session: Session, provider_id: str) -> IdentityProvider:
        provider = session.scalar(select(IdentityProvider).where(IdentityProvider.id == provider_id))
        if provider is None:
            raise not_found()
        return provider

    def _sealed(self, secret: str | None) -> str:
        return self.cipher.seal(secret) if secret else ""


_CONFIG_FIELDS = {f.name for f in dataclass_fields(UpstreamConfig)} - {"id", "client_secret"}


def _settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of an administrator's settings. Raises request.invalid."""
    name = " ".join(str(given.get("name") or "").split())
    if not name or len(name) > NAME_MAX:
        raise invalid("request.invalid", f"name: 1 to {NAME_MAX} characters")
    for field_name, longest in COLUMN_LIMITS.items():
        if len(str(given.get(field_name) or "")) > longest:
            raise invalid("federation.invalid_config", f"{field_name}: at most {longest} characters")
    return {
        **{name_: given.get(name_) or None for name_ in SETTINGS},
        "name": name,
        "kind": str(given.get("kind") or ""),
        "client_id": str(given.get("client_id") or ""),
        "scopes": [str(s) for s in given.get("scopes") or []],
        "claim_mapping": {str(k): str(v) for k, v in dict(given.get("claim_mapping") or {}).items()},
        "options": {str(k): str(v) for k, v in dict(given.get("options") or {}).items()},
    }


def _settings_of(provider: IdentityProvider) -> dict[str, Any]:
    return {name: getattr(provider, name) for name in SETTINGS}


def _apply(provider: IdentityProvider, settings: Mapping[str, Any]) -> None:
    for name in SETTINGS:
        setattr(provider, name, settings[name])
