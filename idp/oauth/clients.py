"""Applications (OAuth clients) and auth sources: lookup, authentication, registration."""

from __future__ import annotations

import base64
import binascii
import functools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import audit
from idp.context import Headers, RequestContext
from idp.crypto import new_token
from idp.db import Database
from idp.errors import error, invalid
from idp.models import Application, AuthSource
from idp.models.clients import PUBLIC_TYPES
from idp.oauth.registration import (
    APP_TYPES,
    LOGIN_METHODS,
    REGISTRATION_FIELDS,
    require_identity_providers,
    validated,
)

ACCOUNT_CLIENT_ID = "gatehouse-account"  # reserved: Gatehouse's own pages (account_client)


class ClientService:
    """Applications are read on every token and send request and change rarely, so each process
    keeps them for ``cache_ttl`` seconds (the ORM load costs ~0.8 ms, see bench/RESULTS.md).
    A change made through this service is seen at once here and within ``cache_ttl`` elsewhere,
    but for the client secret, which every process checks against the stored one each time.
    """

    def __init__(self, db: Database, cache_ttl: float = 10.0, *, require_https: bool = False) -> None:
        self.db = db
        self.cache_ttl = cache_ttl
        self.require_https = require_https  # production: back-channel logout URIs are https
        self._cache: dict[str, tuple[float, Application]] = {}
        self._account: tuple[float, Application] | None = None
        self._secret_hash = select(Application.client_secret_hash).where(
            Application.client_id == bindparam("client_id")
        )

    def by_client_id(self, client_id: str | None) -> Application | None:
        """A detached, read-only Application (its auth sources loaded), or None."""
        if not client_id or len(client_id) > 128 or "\x00" in client_id:
            return None
        cached = self._cache.get(client_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        session = self.db.session
        app = session.scalar(select(Application).where(Application.client_id == client_id))
        if app is not None:
            # shared across requests and threads, so tied to no session (a rollback in one
            # request must not expire it under another)
            for obj in (app, *app.auth_sources):
                session.expunge(obj)
            if not app.is_public:
                # one indexed single-column read per client authentication, not a round trip
                # to every process on each change: the secret is the one field that must be
                # current everywhere the moment it is rotated
                app.read_secret_hash_from(functools.partial(self._stored_secret_hash, client_id))
            self._cache[client_id] = (time.monotonic() + self.cache_ttl, app)
        return app

    def _stored_secret_hash(self, client_id: str) -> str | None:
        # a Core read on the request's connection: no ORM entity involved
        hashed: str | None = self.db.session.connection().scalar(self._secret_hash, {"client_id": client_id})
        return hashed

    def account_client(self) -> Application:
        """The built-in first-party client of Gatehouse's own pages (a person who opens /login
        or /account directly, with no application asking): every login method, every auth
        source. It lives in memory only and cannot be used at the token endpoint."""
        if self._account and self._account[0] > time.monotonic():
            return self._account[1]
        session = self.db.session
        sources = list(session.scalars(select(AuthSource).order_by(AuthSource.created_at)))
        for source in sources:
            session.expunge(source)
        client = Application(
            client_id=ACCOUNT_CLIENT_ID,
            name="Gatehouse",
            type="web",
            redirect_uris=[],
            post_logout_redirect_uris=[],
            grant_types=[],
            scopes=["openid", "profile"],
            login_methods=list(LOGIN_METHODS),
            mfa="optional",
            auto_signup=False,
            first_party=True,
            auth_sources=sources,
        )
        self._account = (time.monotonic() + self.cache_ttl, client)
        return client

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)

    def authenticate_basic(self, headers: Headers) -> Application:
        """HTTP Basic ``base64(url_encode(id):url_encode(secret))`` (RFC 6749 2.3.1; the form
        Tencent CIAM, "Send OTP Verification Code" shows, fixed for integrators on every JSON face).

        Public clients send an empty secret. Raises client.unauthenticated.
        """
        credentials = basic_credentials(headers.get("Authorization"))
        client = self.by_client_id(credentials[0]) if credentials else None
        if client is not None and credentials is not None:
            _client_id, secret = credentials
            if client.is_public and not secret:
                return client
            if not client.is_public and client.check_client_secret(secret or ""):
                return client
        raise error("client.unauthenticated")

    # -- registration -----------------------------------------------------------------
    def create_application(self, data: dict[str, Any], ctx: RequestContext) -> tuple[Application, str | None]:
        """Register an application; returns it and its secret (shown once, stored hashed).

        ``client_id``/``client_secret`` may be given to migrate an app from another IdP.
        Raises client.invalid_* and client.exists.
        """
        app_type = data.get("type", "web")
        if app_type not in APP_TYPES:
            raise invalid("client.invalid_type", f"type must be one of {', '.join(APP_TYPES)}")
        fields = validated(data, app_type, require_https=self.require_https)
        if data.get("client_id") == ACCOUNT_CLIENT_ID:
            raise error("client.exists", "client_id is reserved")
        secret = None if app_type in PUBLIC_TYPES else (data.get("client_secret") or new_token(32))
        app = Application(client_id=data.get("client_id") or new_token(16), type=app_type, **fields)
        app.set_secret(secret)
        try:
            with self.db.transaction() as session:
                app.auth_sources = self._auth_sources(session, data.get("auth_source_ids") or [])
                require_identity_providers(session, app.identity_provider_ids)
                session.add(app)
                audit.record(session, "admin.application.create", ctx, client_id=app.client_id)
        except IntegrityError as exc:
            raise error("client.exists") from exc
        self.forget(app.client_id)
        return app, secret

    def get_application(self, client_id: str) -> Application:
        """The stored application (fresh, not the cache). Raises client.not_found."""
        app = self.db.session.scalar(select(Application).where(Application.client_id == client_id))
        if app is None:
            raise error("client.not_found")
        return app

    def update_application(self, client_id: str, data: dict[str, Any], ctx: RequestContext) -> Application:
        """Change any registration field but ``type`` (and ``client_id``), validated as at
        creation against the application's whole new registration.

        Raises client.not_found, client.invalid_*, client.unknown_auth_source.
        """
        if "type" in data or "client_id" in data or "client_secret" in data:
            raise invalid("request.invalid", "type, client_id and client_secret cannot be changed")
        with self.db.transaction() as session:
            app = session.scalar(select(Application).where(Application.client_id == client_id))
            if app is None:
                raise error("client.not_found")
            current = {name: getattr(app, name) for name in REGISTRATION_FIELDS}
            fields = validated({**current, **data}, app.type, require_https=self.require_https)
            for name, value in fields.items():
                setattr(app, name, value)
            if "auth_source_ids" in data:
                app.auth_sources = self._auth_sources(session, data.get("auth_source_ids") or [])
            if "identity_provider_ids" in data:
                require_identity_providers(session, app.identity_provider_ids)
            audit.record(session, "admin.application.update", ctx, client_id=client_id, fields=sorted(data))
        self.forget(client_id)
        return self.get_application(client_id)

    def rotate_secret(self, client_id: str, ctx: RequestContext) -> str:
        """A new secret for a confidential application; the old one stops working at once, in
        every process (``Application.read_secret_hash_from``).

        Raises client.not_found, client.invalid_type (a public client has no secret).
        """
        secret = new_token(32)
        with self.db.transaction() as session:
            app = session.scalar(select(Application).where(Application.client_id == client_id))
            if app is None:
                raise error("client.not_found")
            if app.is_public:
                raise invalid("client.invalid_type", "a public client has no secret")
            app.set_secret(secret)
            audit.record(session, "admin.application.rotate_secret", ctx, client_id=client_id)
        self.forget(client_id)
        return secret

    def delete_application(self, client_id: str, ctx: RequestContext, *, revoke: Callable[[Session, str], int]) -> None:
        """Remove the application; ``revoke(session, client_id)`` revokes its refresh tokens in
        the same unit of work. Raises client.not_found."""
        with self.db.transaction() as session:
            app = session.scalar(select(Application).where(Application.client_id == client_id))
            if app is None:
                raise error("client.not_found")
            revoked = revoke(session, client_id)
            session.delete(app)
            audit.record(session, "admin.application.delete", ctx, client_id=client_id, refresh_tokens_revoked=revoked)
        self.forget(client_id)

    @staticmethod
    def _auth_sources(session: Session, ids: list[str]) -> list[AuthSource]:
        sources = list(session.scalars(select(AuthSource).where(AuthSource.id.in_(ids)))) if ids else []
        missing = set(ids) - {s.id for s in sources}
        if missing:
            raise invalid("client.unknown_auth_source", f"unknown auth sources: {sorted(missing)}")
        return sources

    def create_auth_source(self, data: dict[str, Any], ctx: RequestContext) -> AuthSource:
        """Raises auth_source.invalid_* and auth_source.exists."""
        kind = data.get("kind")
        if kind not in ("sms", "email"):
            raise invalid("auth_source.invalid_kind")
        # `is None`, not `or`: an explicit 0 is a bad value to refuse, not "use the default"
        length, ttl = _int_field(data, "code_length", 6), _int_field(data, "code_ttl", 60)
        if length is None or not 4 <= length <= 10:
            raise invalid("auth_source.invalid_code_length")
        if ttl is None or not 30 <= ttl <= 900:
            raise invalid("auth_source.invalid_code_ttl")
        source = AuthSource(
            id=data.get("id") or new_token(12),
            kind=kind,
            name=data.get("name") or kind,
            code_length=length,
            code_ttl=ttl,
            template=data.get("template"),
        )
        try:
            with self.db.transaction() as session:
                session.add(source)
                audit.record(session, "admin.auth_source.create", ctx, auth_source_id=source.id)
        except IntegrityError as exc:
            raise error("auth_source.exists") from exc
        return source

    def get_auth_source(self, source_id: str) -> AuthSource:
        """Raises auth_source.not_found."""
        source = self.db.session.get(AuthSource, source_id)
        if source is None:
            raise error("auth_source.not_found")
        return source

    def update_auth_source(self, source_id: str, data: dict[str, Any], ctx: RequestContext) -> AuthSource:
        """Change ``name``, ``code_length``, ``code_ttl`` or ``template`` (not ``kind``: the
        applications using it chose a channel). Raises auth_source.not_found,
        auth_source.invalid_*."""
        if "kind" in data or "id" in data:
            raise invalid("request.invalid", "kind and id cannot be changed")
        with self.db.transaction() as session:
            source = session.get(AuthSource, source_id)
            if source is None:
                raise error("auth_source.not_found")
            length = _int_field(data, "code_length", source.code_length)
            ttl = _int_field(data, "code_ttl", source.code_ttl)
            if length is None or not 4 <= length <= 10:
                raise invalid("auth_source.invalid_code_length")
            if ttl is None or not 30 <= ttl <= 900:
                raise invalid("auth_source.invalid_code_ttl")
            source.code_length, source.code_ttl = length, ttl
            if data.get("name"):
                source.name = data["name"]
            if "template" in data:
                source.template = data["template"]
            audit.record(session, "admin.auth_source.update", ctx, auth_source_id=source_id, fields=sorted(data))
        self._forget_all()  # cached applications carry their auth sources
        return self.get_auth_source(source_id)

    def delete_auth_source(self, source_id: str, ctx: RequestContext) -> None:
        """Refused while an application still uses it (detach it there first), so no
        application silently loses a way to sign in. Raises auth_source.not_found,
        auth_source.in_use."""
        with self.db.transaction() as session:
            source = session.get(AuthSource, source_id)
            if source is None:
                raise error("auth_source.not_found")
            users = list(
                session.scalars(
                    select(Application.client_id).where(Application.auth_sources.any(AuthSource.id == source_id))
                )
            )
            if users:
                raise error("auth_source.in_use", f"used by applications {', '.join(sorted(users))}")
            session.delete(source)
            audit.record(session, "admin.auth_source.delete", ctx, auth_source_id=source_id)
        self._forget_all()

    def _forget_all(self) -> None:
        self._cache.clear()
        self._account = None

    def list_auth_sources(self) -> list[AuthSource]:
        return list(self.db.session.scalars(select(AuthSource).order_by(AuthSource.created_at)))

    def list_applications(self) -> list[Application]:
        return list(self.db.session.scalars(select(Application).order_by(Application.id)))

    def applications_after(self, after: str | None, limit: int) -> list[Application]:
        """Up to ``limit`` applications in ``client_id`` order, those after ``after``: a cursor
        that still holds when the application it names is deleted between two pages."""
        query = select(Application).order_by(Application.client_id).limit(limit)
        if after is not None:
            query = query.where(Application.client_id > after)
        return list(self.db.session.scalars(query))

    def auth_sources_after(self, after: str | None, limit: int) -> list[AuthSource]:
        """Up to ``limit`` auth sources in ``id`` order, those after ``after``."""
        query = select(AuthSource).order_by(AuthSource.id).limit(limit)
        if after is not None:
            query = query.where(AuthSource.id > after)
        return list(self.db.session.scalars(query))


def basic_credentials(authorization: str | None) -> tuple[str, str | None] | None:
    """``(client_id, secret)`` of an HTTP Basic ``Authorization`` value (RFC 7617), each part
    form-urlencoded first as RFC 6749 2.3.1 asks; the secret is None without a colon.

    None when there is no Basic header, and for any malformed one: whitespace only, not
    base64, bytes that are not UTF-8, characters outside ASCII, an empty client_id. Every
    client authentication (the JSON faces' and the OAuth endpoints') reads the header here,
    so a malformed one is always invalid_client, never an error."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip().encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return None
    raw_id, colon, raw_secret = decoded.partition(":")
    client_id = unquote(raw_id)
    if not client_id:
        return None
    return client_id, unquote(raw_secret) if colon else None


def client_secret_basic(query_client: Callable[[str], Application | None], oauth_request: Any) -> Application | None:
    """Authlib's ``client_secret_basic`` method (RFC 6749 2.3.1) for the token, revocation and
    introspection endpoints, reading the header with ``basic_credentials``: a malformed header
    authenticates nobody, and the endpoint answers invalid_client."""
    client_id, secret = basic_credentials(oauth_request.headers.get("Authorization")) or ("", None)
    if not secret:
        return None
    client = query_client(client_id)
    return client if client is not None and client.check_client_secret(secret) else None


def _int_field(data: dict[str, Any], name: str, default: int) -> int | None:
    """``data[name]`` as an integer, ``default`` when absent; None when it is not an integer."""
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None
