"""Signing keys: one active key per algorithm in use, each algorithm rotated on its own, every
key published in the JWKS.

Algorithms (``JWT_ALGORITHMS``): RS256 with RSA-2048 (RFC 7518 3.3), ES256 with P-256 (RFC 7518
3.4), EdDSA with Ed25519 (RFC 8037). An algorithm's first key is made the first time a token
needs it; at most one key per algorithm is active (a unique index), so when two workers make it
at once one insert fails and that worker takes the other's key.

A retired key stays in the JWKS for ``retention`` seconds (longer than any token it signed
lives), so clients holding an older token can still verify it after a rotation.

Signing is on the hottest path of the service: every ``CACHE_SECONDS`` one read of the table
prepares, per algorithm, the imported private key, its JWS headers and a JWS registry that
allows that algorithm alone (``Signer``); a token is then signed without a database read or a
key import. The public side (the JWKS document, one KeySet per algorithm) is prepared alike.

Verifying (RFC 8725 3.1, 2.1): the header's ``alg`` must be one we sign with, and only the
published keys made for that algorithm are tried, under a registry that allows nothing else; so
``none``, ``HS256`` (an RSA public key used as an HMAC secret) and an ``alg`` naming another key
type are refused before any key is chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import DecodeError, InvalidKeyIdError, MissingAlgorithmError, UnsupportedAlgorithmError
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jwk import ECKey, KeyParameters, KeySet, KeySetSerialization, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64decode
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import new_token
from idp.db import Database
from idp.errors import invalid
from idp.models import SigningKey
from idp.settings import JWT_ALGORITHMS

CACHE_SECONDS = 30  # other workers sign with a rotated key within this time
# The JWKS, and a token naming a kid this process does not know, re-read the keys when they
# were read longer ago than this: a key another worker just made or rotated is published and
# verified by every worker within a second, and neither forged kids nor JWKS requests can turn
# into more than one database read a second.
FRESH_SECONDS = 1.0
ROTATE_ATTEMPTS = 3

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 2.1
ID_TOKEN_TYPE = "JWT"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # OpenID Connect Back-Channel Logout 1.0, 2.4

PrivateKey = RSAKey | ECKey | OKPKey
KEY_TYPES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}


class _EdDSA(EdDSAAlgorithm):
    """RFC 8037 EdDSA. joserfc warns on each use because RFC 9864 deprecates the name (it does
    not say the curve) in favour of ``Ed25519``; relying parties support ``EdDSA`` today, and
    here the curve is fixed by the key: only Ed25519 keys are made, published (``crv``) and
    tried."""

    security_warning = ""  # joserfc warns when this is set (non-empty)


class _Registry(JWSRegistry):
    algorithms = {**JWSRegistry.algorithms, "EdDSA": _EdDSA()}


# per algorithm, a registry that allows that algorithm and no other (RFC 8725 3.1)
REGISTRIES: dict[str, JWSRegistry] = {alg: _Registry(algorithms=[alg]) for alg in JWT_ALGORITHMS}


@dataclass(frozen=True)
class Signer:
    """The active key of one algorithm, ready to sign: imported once per refresh."""

    alg: str
    kid: str
    key: PrivateKey
    registry: JWSRegistry
    headers: dict[str, dict[str, str]]  # typ -> the JWS header (alg, kid: RFC 7515 4.1.1, 4.1.4)

    @classmethod
    def of(cls, row: SigningKey) -> Signer:
        key = KEY_TYPES[row.alg].import_key(row.private_pem, parameters=_params(row))
        headers = {
            typ: {"typ": typ, "alg": row.alg, "kid": row.kid}
            for typ in (ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, LOGOUT_TOKEN_TYPE)
        }
        return cls(alg=row.alg, kid=row.kid, key=key, registry=REGISTRIES[row.alg], headers=headers)

    def sign(self, claims: dict[str, Any], typ: str = ID_TOKEN_TYPE) -> str:
        return jwt.encode(self.headers[typ], claims, self.key, registry=self.registry)


@dataclass(frozen=True)
class KeyInfo:
    """A key as the admin API lists it (never its private part)."""

    kid: str
    alg: str
    state: str  # active | retired
    created_at: datetime


@dataclass(frozen=True)
class _Prepared:
    """One refresh's view of the table, replaced whole (readers never see half of one)."""

    signers: dict[str, Signer]  # alg -> the active key
    verifying: dict[str, KeySet]  # alg -> its published public keys
    public: KeySet
    jwks: KeySetSerialization
    loaded_at: float  # the services' clock


class KeyService:
    def __init__(self, db: Database, retention: int, clock: Clock | None = None) -> None:
        self.db = db
        self.retention = retention
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._prepared: _Prepared | None = None
        self._tried_at = float("-inf")  # the last re-read for freshness (``_fresher``)

    # -- the table ---------------------------------------------------------------------------
    def ensure_key(self, alg: str = "RS256") -> str:
        """The kid of ``alg``'s active key, made now if there is none. Raises key.invalid_alg."""
        _check(alg)
        return self._active_kid(alg) or self._create_first(alg)

    def _active_kid(self, alg: str) -> str | None:
        with self.db.transaction() as session:
            return session.scalar(select(SigningKey.kid).where(SigningKey.alg == alg, SigningKey.active.is_(True)))

    def _create_first(self, alg: str) -> str:
        """Insert ``alg``'s first key. When another worker inserted one since we looked, the
        unique index refuses ours and theirs is the answer."""
        try:
            with self.db.transaction() as session:
                key = _new_key(alg)
                session.add(key)
        except IntegrityError:
            kid = self._active_kid(alg)
            if kid is None:
                raise
            return kid
        self._prepared = None
        return key.kid

    def rotate(self, alg: str = "RS256", ctx: RequestContext | None = None) -> str:
        """Make a new active key for ``alg``; the one it replaces is retired but stays published.
        Other algorithms' keys are untouched. Audited as ``admin.key.rotate`` when ``ctx`` says
        who asked. Raises key.invalid_alg."""
        _check(alg)
        for attempt in range(1, ROTATE_ATTEMPTS + 1):
            try:
                with self.db.transaction() as session:
                    # concurrent rotations of one algorithm queue on its active row (PostgreSQL;
                    # SQLite runs one writer at a time): each then retires the one before it
                    current = select(SigningKey.kid).where(SigningKey.alg == alg, SigningKey.active.is_(True))
                    session.execute(current.with_for_update())
                    session.execute(
                        update(SigningKey)
                        .where(SigningKey.alg == alg, SigningKey.active.is_(True))
                        .values(active=False, retired_at=self.clock.now())
                    )
                    key = _new_key(alg)
                    session.add(key)
                    session.flush()
                    if ctx is not None:
                        audit.record(session, "admin.key.rotate", ctx, kid=key.kid, alg=alg)
                break
            except IntegrityError:  # the algorithm had no key, and another worker made one meanwhile
                if attempt == ROTATE_ATTEMPTS:
                    raise
        self._prepared = None
        return key.kid

    def all_keys(self) -> list[KeyInfo]:
        """Every key still in the table, newest first."""
        with self.db.transaction() as session:
            rows = session.execute(
                select(SigningKey.kid, SigningKey.alg, SigningKey.active, SigningKey.created_at).order_by(
                    SigningKey.created_at.desc()
                )
            ).all()
        return [KeyInfo(kid, alg, "active" if active else "retired", _aware(at)) for kid, alg, active, at in rows]

    # -- signing -----------------------------------------------------------------------------
    def signer(self, alg: str) -> Signer:
        """The prepared active key of ``alg`` (made on first use)."""
        found = self._current().signers.get(alg)
        if found is None:
            self.ensure_key(alg)
            found = self._load().signers[alg]
        return found

    # -- verifying ---------------------------------------------------------------------------
    def decode(self, value: str, algorithms: Collection[str] = JWT_ALGORITHMS) -> jwt.Token:
        """A JWT we signed, its signature checked with a published key of the algorithm its
        header names, which must be one of ``algorithms``. Claims are the caller's to check.

        Raises joserfc's JoseError (bad header, algorithm not accepted, unknown kid, bad
        signature, payload not a JSON object)."""
        alg = _header_alg(value)
        if alg not in algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{alg}' is not accepted")
        prepared = self._current()
        try:
            return _decode(value, alg, prepared)
        except InvalidKeyIdError:
            fresher = self._fresher(prepared)
            if fresher is prepared:
                raise
            return _decode(value, alg, fresher)

    def public_keys(self) -> KeySet:
        """Every published key (active, or retired within the retention), all algorithms."""
        return self._current().public

    def jwks(self) -> KeySetSerialization:
        """The JWKS document (RFC 7517 5): each key with kid, use ``sig`` and alg; at most a
        second old, so clients find a key as soon as any worker signs with it."""
        return self._fresher(self._current()).jwks

    # -- the per-process view ----------------------------------------------------------------
    def _current(self) -> _Prepared:
        prepared = self._prepared
        if prepared is None or not 0 <= self.clock.time() - prepared.loaded_at < CACHE_SECONDS:
            return self._load(newer_than=prepared)
        return prepared

    def _fresher(self, prepared: _Prepared) -> _Prepared:
        """``prepared`` re-read unless it (or the last try) is less than ``FRESH_SECONDS`` old.
        A database that cannot answer leaves ``prepared`` as it is: this re-read is for
        freshness, and an outage must not take the JWKS or valid tokens down with it."""
        now = self.clock.time()
        if 0 <= now - max(prepared.loaded_at, self._tried_at) < FRESH_SECONDS:
            return prepared
        self._tried_at = now
        try:
            return self._load(newer_than=prepared)
        except (OperationalError, InterfaceError):
            self.db.remove()
            return prepared

    def _load(self, newer_than: _Prepared | None = None) -> _Prepared:
        """Read the table and prepare every key, unless another thread just did."""
        with self._lock:
            current = self._prepared
            if current is not None and current is not newer_than and newer_than is not None:
                return current
            cutoff = self.clock.now() - timedelta(seconds=self.retention)
            rows = list(self.db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))
            self.db.session.rollback()  # end the read transaction; nothing to keep open
            published = [r for r in rows if r.alg in KEY_TYPES and _published(r, cutoff)]
            # a key that is still active keeps its prepared signer (no import of it again)
            kept = {s.kid: s for s in current.signers.values()} if current is not None else {}
            signers = {r.alg: kept.get(r.kid) or Signer.of(r) for r in reversed(published) if r.active}
            by_alg: dict[str, list[Any]] = {}
            for row in published:
                by_alg.setdefault(row.alg, []).append(KEY_TYPES[row.alg].import_key(row.public_jwk))
            public = KeySet([key for keys in by_alg.values() for key in keys])
            self._prepared = _Prepared(
                signers=signers,
                verifying={alg: KeySet(keys) for alg, keys in by_alg.items()},
                public=public,
                jwks=public.as_dict(private=False),
                loaded_at=self.clock.time(),
            )
            return self._prepared


def _check(alg: str) -> None:
    if alg not in JWT_ALGORITHMS:
        raise invalid("key.invalid_alg", f"alg must be one of {', '.join(JWT_ALGORITHMS)}")


def _new_key(alg: str) -> SigningKey:
    kid = new_token(12)
    parameters: KeyParameters = {"kid": kid, "use": "sig", "alg": alg}
    key: PrivateKey
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=parameters)
    elif alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters=parameters)
    else:
        key = RSAKey.generate_key(2048, parameters=parameters)
    return SigningKey(
        kid=kid,
        alg=alg,
        private_pem=key.as_pem(private=True).decode(),
        public_jwk=key.as_dict(private=False),
        active=True,
    )


def _decode(value: str, alg: str, prepared: _Prepared) -> jwt.Token:
    keys = prepared.verifying.get(alg)
    if keys is None:
        raise InvalidKeyIdError(f"No key for algorithm '{alg}'")
    return jwt.decode(value, keys, registry=REGISTRIES[alg])


def _header_alg(value: str) -> str:
    """The ``alg`` of a compact JWS's header (RFC 7515 7.1), read before any key is chosen."""
    try:
        header = json_b64decode(value.split(".", 1)[0].encode("ascii"))
    except (ValueError, TypeError) as exc:  # binascii.Error and UnicodeError are ValueErrors
        raise DecodeError("Invalid header") from exc
    alg = header.get("alg") if isinstance(header, dict) else None
    if not isinstance(alg, str):
        raise MissingAlgorithmError()
    return alg


def _published(row: SigningKey, cutoff: datetime) -> bool:
    return row.active or (row.retired_at is not None and _aware(row.retired_at) > cutoff)


def _params(row: SigningKey) -> KeyParameters:
    return {"kid": row.kid, "use": "sig", "alg": row.alg}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
