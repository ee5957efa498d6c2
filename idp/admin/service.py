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
from typing import Protocol

from idp.accounts.users import UserService
from idp.context import RequestContext
from idp.errors import IdpError, Kind, error
from idp.factors import FactorService
from idp.guard.bruteforce import BruteForceGuard
from idp.models import Factor, User
from idp.oauth.bearer import BearerServices, authenticate_bearer
from idp.oauth.clients import ClientService
from idp.oauth.tokens import RefreshTokenStore

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


def _existing_user(services: AdminServices, sub: str) -> User:
    user = services.users.by_sub(sub)
    if user is None:
        raise error("account.not_found")
    return user


def _unauthenticated(message: str) -> IdpError:
    return error("admin.unauthenticated", message)


def _forbidden(message: str) -> IdpError:
    return error("admin.forbidden", message)
