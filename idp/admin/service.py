"""What an administrator may do that is more than one domain call: who is acting, a user's
whole record (profile, temporary lock, second factors), a user's factors.

Used by the admin API (``/admin/api/v1``). The single changes (create a user, enrol or
remove a factor, unlock) are the domain services' own commands, called with a
``RequestContext`` whose ``actor`` names the administrator, so every audit event they write
says who did it.

``services`` is the ``Services`` container (idp/services.py), as for
``idp.oauth.bearer.authenticate_bearer``; ``AdminServices`` says what is used of it.
"""

from __future__ import annotations

import builtins
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from sqlalchemy import delete

from idp import audit
from idp.accounts.self_service import SelfService
from idp.accounts.users import UserService
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError, Kind, error, invalid
from idp.factors import FactorService
from idp.federation.providers import IdentityProviders
from idp.guard.bruteforce import BruteForceGuard
from idp.models import (
    Application,
    AuthSource,
    Consent,
    Factor,
    FederatedLink,
    IdentityProvider,
    RecoveryCode,
    RememberedDevice,
    User,
)
from idp.models.users import USER_STATUSES
from idp.oauth.bearer import BearerServices, authenticate_bearer
from idp.oauth.clients import ClientService
from idp.oauth.tokens import RefreshTokenStore
from idp.sessions import SsoSessionStore, end_all_sessions
from idp.sessions.store import SsoSession

ADMIN_SCOPE = "admin"
BOOTSTRAP_ACTOR = "admin_token"  # the actor of requests made with GATEHOUSE_ADMIN_TOKEN


class AdminServices(BearerServices, Protocol):
    """What the admin commands use of ``idp.services.Services``."""

    @property
    def users(self) -> UserService: ...

    @property
    def clients(self) -> ClientService: ...

    @property
    def factors(self) -> FactorService: ...

    @property
    def bruteforce(self) -> BruteForceGuard: ...

    @property
    def refresh_tokens(self) -> RefreshTokenStore: ...

    @property
    def db(self) -> Database: ...

    @property
    def sessions(self) -> SsoSessionStore: ...

    @property
    def self_service(self) -> SelfService: ...

    @property
    def identity_providers(self) -> IdentityProviders: ...


def authenticate(services: AdminServices, authorization: str) -> str:
    """The actor an ``Authorization: Bearer`` header (RFC 6750 2.1) names.

    ``"admin_token"`` for the bootstrap ``GATEHOUSE_ADMIN_TOKEN`` (compared in constant time;
    an empty setting turns it off), else the ``client_id`` of the ``m2m`` application whose
    own access token — client_credentials, RFC 6749 4.4: its ``sub`` is the application
    (RFC 9068 2.2) — carries scope ``admin``. The application is looked up on every call, so
    one that is deleted, changes type or loses the ``admin`` scope stops being let in.

    Raises admin.unauthenticated (no bearer token, a wrong, expired or revoked one),
    admin.insufficient_scope (a valid token without scope ``admin``), admin.forbidden (a
    token of an application that is not ``m2m``, no longer exists or is no longer allowed the
    scope, or one issued on a person's behalf), store.unavailable.
    """
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise _unauthenticated("admin bearer token required")
    expected = services.settings.admin_token
    if expected and hmac.compare_digest(given.encode(), expected.encode()):
        return BOOTSTRAP_ACTOR
    try:
        grant = authenticate_bearer(services, authorization, scope=ADMIN_SCOPE)
    except IdpError as exc:
        if exc.kind is Kind.UNAUTHENTICATED:
            raise _unauthenticated(exc.message) from exc
        if exc.kind is Kind.FORBIDDEN:
            raise error("admin.insufficient_scope", scope=ADMIN_SCOPE) from exc
        raise
    app = services.clients.by_client_id(grant.client_id)
    if app is None or app.type != "m2m" or ADMIN_SCOPE not in (app.scopes or []):
        raise _forbidden(f"only an m2m application allowed the {ADMIN_SCOPE} scope may call the admin API")
    if grant.sub != app.client_id:
        raise _forbidden("the access token was issued on a person's behalf, not to the application")
    return app.client_id


@dataclass(frozen=True)
class UserRecord:
    """A user as an administrator sees them (``GET /admin/api/v1/users/<sub>``)."""

    user: User
    factors: builtins.list[Factor]
    locked_until: datetime | None  # when a temporary lock (brute-force policy) ends; None: not locked


def user_record(services: AdminServices, sub: str) -> UserRecord:
    """Raises account.not_found, store.unavailable (the lock is read from Redis)."""
    user = _existing_user(services, sub)
    seconds = services.bruteforce.locked_for(sub, sub=sub)
    # the lock's time left is whole seconds (a Redis TTL): so is the instant it ends
    locked_until = (services.clock.now() + timedelta(seconds=seconds)).replace(microsecond=0) if seconds else None
    return UserRecord(user=user, factors=services.factors.list(sub), locked_until=locked_until)


def list_factors(services: AdminServices, sub: str) -> builtins.list[Factor]:
    """Every factor of ``sub`` (ready or not). Raises account.not_found."""
    _existing_user(services, sub)
    return services.factors.list(sub)


def delete_application(services: AdminServices, client_id: str, ctx: RequestContext) -> None:
    """Remove an application; its refresh tokens (and their access tokens) are revoked in the
    same unit of work. Raises client.not_found."""
    services.clients.delete_application(client_id, ctx, revoke=services.refresh_tokens.revoke_client_in)


USER_LIMIT, USER_MAX_LIMIT = 50, 200  # every admin listing's page size: by default, at most


def page_size(limit: int | None) -> int:
    """``limit`` of an admin listing, ``USER_LIMIT`` when absent. Raises request.invalid."""
    size = USER_LIMIT if limit is None else limit
    if not 1 <= size <= USER_MAX_LIMIT:
        raise invalid("request.invalid", f"limit: expected an integer from 1 to {USER_MAX_LIMIT}")
    return size


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: builtins.list[T]
    next_after: str | None  # the cursor to continue after, or None on the last page


def page_applications(services: AdminServices, *, after: str | None, limit: int | None) -> Page[Application]:
    """A page of applications in ``client_id`` order (the console's own client included: it is
    registered like any other). Raises request.invalid (a bad limit)."""
    size = page_size(limit)
    found = services.clients.applications_after(after, size + 1)
    return Page(found[:size], found[size - 1].client_id if len(found) > size else None)


def page_auth_sources(services: AdminServices, *, after: str | None, limit: int | None) -> Page[AuthSource]:
    """A page of auth sources in ``id`` order. Raises request.invalid (a bad limit)."""
    size = page_size(limit)
    found = services.clients.auth_sources_after(after, size + 1)
    return Page(found[:size], found[size - 1].id if len(found) > size else None)


def page_identity_providers(services: AdminServices, *, after: str | None, limit: int | None) -> Page[IdentityProvider]:
    """A page of upstream identity providers in ``id`` order. Raises request.invalid (a bad limit)."""
    size = page_size(limit)
    found = services.identity_providers.after(after, size + 1)
    return Page(found[:size], found[size - 1].id if len(found) > size else None)


@dataclass(frozen=True)
class UserPage:
    users: builtins.list[User]
    next_after: str | None  # the ``sub`` to continue after, or None on the last page


def search_users(
    services: AdminServices,
    *,
    username: str | None,
    email: str | None,
    phone_number: str | None,
    q: str | None,
    status: str | None,
    after: str | None,
    limit: int | None,
) -> UserPage:
    """A page of users (oldest first, ``limit`` 50 by default, 200 at most).

    Raises request.invalid (a bad limit or status), contact.malformed_*.
    """
    size = page_size(limit)
    if status is not None and status not in USER_STATUSES:
        raise invalid("request.invalid", f"status: one of {', '.join(USER_STATUSES)}")
    found = services.users.search(
        username=username, email=email, phone_number=phone_number, q=q, status=status, after=after, limit=size + 1
    )
    more = len(found) > size
    return UserPage(users=found[:size], next_after=found[size - 1].sub if more else None)


def delete_user(services: AdminServices, sub: str, ctx: RequestContext) -> None:
    """Remove the person: in one unit of work their SSO sessions end (their applications are
    told, Back-Channel Logout 1.0; a Redis outage rolls everything back), their refresh
    tokens (and those grants' access tokens) are revoked and their factors, recovery codes,
    remembered devices, consents, links to upstream identity providers and the user row go.
    Audit events keep the bare ``sub``.
    Raises account.not_found, store.unavailable.
    """
    _existing_user(services, sub)
    with services.db.transaction() as session:
        ended = end_all_sessions(services.sessions, session, sub)
        revoked = services.refresh_tokens.revoke_all_in(session, sub)
        for model in (Factor, RecoveryCode, RememberedDevice, Consent, FederatedLink):
            session.execute(delete(model).where(model.sub == sub).execution_options(synchronize_session=False))
        session.execute(delete(User).where(User.sub == sub).execution_options(synchronize_session=False))
        audit.record(session, "admin.user.delete", ctx, sub=sub, sessions=ended, refresh_tokens_revoked=revoked)


def sign_out_everywhere(services: AdminServices, sub: str, ctx: RequestContext) -> int:
    """End every SSO session, refresh token and remembered device of ``sub`` (the person's
    own "sign out everywhere", audited with the administrator as actor). Returns the number
    of SSO sessions ended. Raises account.not_found, store.unavailable."""
    _existing_user(services, sub)
    return services.self_service.sign_out_everywhere(sub, ctx)


def list_sessions(services: AdminServices, sub: str) -> builtins.list[SsoSession]:
    """The SSO sessions of ``sub``, newest first. Raises account.not_found, store.unavailable."""
    _existing_user(services, sub)
    return sorted(services.sessions.list_for(sub), key=lambda s: s.created_at, reverse=True)


def _existing_user(services: AdminServices, sub: str) -> User:
    user = services.users.by_sub(sub)
    if user is None:
        raise error("account.not_found")
    return user


def _unauthenticated(message: str) -> IdpError:
    return error("admin.unauthenticated", message)


def _forbidden(message: str) -> IdpError:
    return error("admin.forbidden", message)
