"""Signing keys: created on first start, rotated on demand, published in the JWKS.

A retired key stays in the JWKS for ``retention`` seconds (longer than any token it signed
lives), so clients holding an older ID token can still verify it after a rotation.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from joserfc.jwk import KeyParameters, KeySet, KeySetSerialization, RSAKey
from sqlalchemy import select, update

from idp.crypto import new_token
from idp.db import Database, utcnow
from idp.models import SigningKey

CACHE_SECONDS = 30  # other workers pick up a rotation within this time


class KeyService:
    def __init__(self, db: Database, retention: int) -> None:
        self.db = db
        self.retention = retention
        self._lock = threading.Lock()
        self._cached_at = 0.0
        self._signing: KeySet | None = None
        self._public: KeySet | None = None

    def ensure_key(self) -> str:
        """Create the first RS256 key if there is none; return the active kid."""
        with self.db.transaction() as session:
            active = session.scalar(select(SigningKey).where(SigningKey.active.is_(True)))
            if active is not None:
                return active.kid
            key = _new_key()
            session.add(key)
            return key.kid

    def rotate(self) -> str:
        """Add a new active key; the old one is retired but stays published."""
        with self.db.transaction() as session:
            session.execute(
                update(SigningKey).where(SigningKey.active.is_(True)).values(active=False, retired_at=utcnow())
            )
            key = _new_key()
            session.add(key)
        self._cached_at = 0.0
        return key.kid

    def signing_keys(self) -> KeySet:
        """A KeySet holding only the active private key (joserfc puts its kid in headers)."""
        self._refresh()
        assert self._signing is not None
        return self._signing

    def public_keys(self) -> KeySet:
        self._refresh()
        assert self._public is not None
        return self._public

    def jwks(self) -> KeySetSerialization:
        return self.public_keys().as_dict(private=False)

    def _refresh(self) -> None:
        if time.monotonic() - self._cached_at < CACHE_SECONDS and self._signing is not None:
            return
        with self._lock:
            cutoff = utcnow() - timedelta(seconds=self.retention)
            rows = list(self.db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))
            self.db.session.rollback()  # end the read transaction; nothing to keep open
            published = [r for r in rows if r.active or (r.retired_at and _aware(r.retired_at) > cutoff)]
            active = next((r for r in rows if r.active), None)
            if active is None:
                raise RuntimeError("no active signing key: run `flask db upgrade` and start the app once")
            self._signing = KeySet([RSAKey.import_key(active.private_pem, parameters=_params(active))])
            self._public = KeySet([RSAKey.import_key(r.public_jwk) for r in published])
            self._cached_at = time.monotonic()


def _new_key() -> SigningKey:
    kid = new_token(12)
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return SigningKey(
        kid=kid,
        alg="RS256",
        private_pem=key.as_pem(private=True).decode(),
        public_jwk=key.as_dict(private=False),
        active=True,
    )


def _params(row: SigningKey) -> KeyParameters:
    return {"kid": row.kid, "use": "sig", "alg": row.alg}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
