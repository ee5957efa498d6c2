"""The admin console's rules: its built-in OpenID Connect client, who may use it, what its
pages show and the actions an administrator takes there.

The console (``/admin``) is a first-party relying party of Gatehouse itself: people sign in
through the hosted pages (authorization code + PKCE) and only those whose ``roles`` hold
``admin`` get in. Its application is registered like any other (so the authorize and token
endpoints treat it as they treat every client) under the reserved ``client_id``
``gatehouse-console``; its secret is derived from the instance's secret key, so it is never
stored in clear and never needs showing.

Every action is a domain command called with a ``RequestContext`` whose ``actor`` is the
administrator's ``sub``: the audit events they write say who did it.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select

from idp import audit
from idp.accounts.self_service import SelfService
from idp.admin import shapes
from idp.admin.service import AdminServices, UserRecord, delete_user, list_sessions, user_record
from idp.context import RequestContext
from idp.db import Database
from idp.errors import error
from idp.factors.passkeys import PasskeyService
from idp.federation.links import LinkView
from idp.flows.federated import FederatedSignIn
from idp.models import Application, AuditEvent, AuthSource, IdentityProvider, Passkey, RefreshToken, User
from idp.oauth.keys import KeyInfo, KeyService
from idp.oauth.registration import LOGIN_METHODS
from idp.otp.service import OtpService
from idp.sessions.store import SsoSession

CONSOLE_CLIENT_ID = "gatehouse-console"
CONSOLE_NAME = "Gatehouse admin console"
CALLBACK_PATH = "/admin/callback"
ADMIN_ROLE = "admin"
PAGE_SIZE = 20
RECENT_EVENTS = 20
SEARCH_MAX = 100


class ConsoleServices(AdminServices, Protocol):
    """What the console uses of ``idp.services.Services``."""

    @property
    def db(self) -> Database: ...

    @property
    def otp(self) -> OtpService: ...

    @property
    def self_service(self) -> SelfService: ...

    @property
    def keys(self) -> KeyService: ...

    @property
    def passkeys(self) -> PasskeyService: ...

    @property
    def federation(self) -> FederatedSignIn: ...


# -- the console's own client -----------------------------------------------------------------
def console_secret(secret_key: str) -> str:
    """The console client's secret: an HMAC of the instance's secret key, so every worker knows
    it and no table holds it in clear."""
    return hmac.new(secret_key.encode(), b"gatehouse-console-client", hashlib.sha256).hexdigest()


def redirect_uri(issuer: str) -> str:
    return issuer.rstrip("/") + CALLBACK_PATH


def mfa_policy(production: bool) -> str:
    """A second factor is required in production; optional in development and tests."""
    return "required" if production else "optional"


def ensure_console_client(services: ConsoleServices) -> Application:
    """The console's application, created on first use and brought in line with the settings
    (issuer, secret key, profile) when they changed since. Idempotent."""
    settings = services.settings
    wanted_uri = redirect_uri(settings.issuer)
    secret = console_secret(settings.secret_key)
    mfa = mfa_policy(settings.production)
    app = services.clients.by_client_id(CONSOLE_CLIENT_ID)
    if app is not None and app.redirect_uris == [wanted_uri] and app.mfa == mfa and app.check_client_secret(secret):
        return app
    with services.db.transaction() as session:
        row = session.scalar(select(Application).where(Application.client_id == CONSOLE_CLIENT_ID))
        if row is None:
            row = Application(
                client_id=CONSOLE_CLIENT_ID,
                name=CONSOLE_NAME,
                type="web",
                grant_types=["authorization_code"],
                scopes=["openid", "profile"],
                login_methods=list(LOGIN_METHODS),
                remember_device_days=0,
                auto_signup=False,
                first_party=True,
                post_logout_redirect_uris=[],
                id_token_signed_response_alg="RS256",
            )
            row.auth_sources = list(session.scalars(select(AuthSource).order_by(AuthSource.created_at)))
            session.add(row)
        row.redirect_uris = [wanted_uri]
        row.post_logout_redirect_uris = [settings.issuer.rstrip("/") + "/admin/signed-out"]
        row.mfa = mfa
        row.set_secret(secret)
    services.clients.forget(CONSOLE_CLIENT_ID)
    found = services.clients.by_client_id(CONSOLE_CLIENT_ID)
    if found is None:  # pragma: no cover - written just above
        raise RuntimeError("the console application was not saved")
    return found


def administrator(services: ConsoleServices, sub: str | None) -> User | None:
    """The user ``sub`` if they may use the console now: exists, active, holds ``admin``.
    Asked on every console request, so taking the role away ends access at once."""
    user = services.users.by_sub(sub) if sub else None
    if user is None or not user.is_active or ADMIN_ROLE not in (user.roles or []):
        return None
    return user


# -- dashboard --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dashboard:
    users: int
    users_locked: int
    users_disabled: int
    applications: int
    sms_sent_today: int
    sms_quota: int
    email_sent_today: int
    email_quota: int
    failed_sign_ins_24h: int
    locks_24h: int


def dashboard(services: ConsoleServices) -> Dashboard:
    """Counts for the operator's first page. Codes sent today are the global quota's own
    counters (so they match what the quota refuses); failures and locks are audit events."""
    session = services.db.session
    by_status: dict[str, int] = {
        status: int(count) for status, count in session.execute(select(User.status, func.count()).group_by(User.status))
    }
    since = services.clock.now() - timedelta(hours=24)
    now = int(services.clock.time())
    limits = services.settings.limits

    def events(type_: str) -> int:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.type == type_, AuditEvent.at >= since)
        return int(session.scalar(query.where(AuditEvent.result == "failure")) or 0)

    return Dashboard(
        users=sum(by_status.values()),
        users_locked=by_status.get("locked", 0),
        users_disabled=by_status.get("disabled", 0),
        applications=int(
            session.scalar(
                select(func.count()).select_from(Application).where(Application.client_id != CONSOLE_CLIENT_ID)
            )
            or 0
        ),
        sms_sent_today=services.otp.limiter.quota_used("sms", now),
        sms_quota=limits.sms_daily_quota,
        email_sent_today=services.otp.limiter.quota_used("email", now),
        email_quota=limits.email_daily_quota,
        failed_sign_ins_24h=events("login.failure"),
        locks_24h=events("login.locked"),
    )


# -- users ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserPage:
    users: builtins.list[User]
    next_after: int | None  # the cursor of the next page (a user's row id), None on the last


def search_users(
    services: ConsoleServices, q: str = "", *, after: int | None = None, limit: int = PAGE_SIZE
) -> UserPage:
    """Users whose username, email or phone number starts with ``q`` (every user when it is
    empty), oldest first, ``limit`` at a time. A phone number may be typed without its ``+``."""
    limit = max(1, min(limit, SEARCH_MAX))
    query = select(User).order_by(User.id)
    q = q.strip()
    if q:
        pattern = _escape_like(q) + "%"
        conditions = [
            User.username.like(pattern, escape="\\"),
            User.email.like(_escape_like(q.lower()) + "%", escape="\\"),
            User.phone_number.like(pattern, escape="\\"),
        ]
        if q.isdigit():
            conditions.append(User.phone_number.like("+" + pattern, escape="\\"))
        query = query.where(or_(*conditions))
    if after is not None:
        query = query.where(User.id > after)
    rows = list(services.db.session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return UserPage(rows, rows[-1].id if more else None)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class UserDetail:
    record: UserRecord
    events: builtins.list[AuditEvent]
    sessions: builtins.list[SsoSession]
    refresh_tokens: int  # live ones: neither rotated, revoked nor expired
    passkeys: builtins.list[Passkey]
    links: builtins.list[LinkView] = field(default_factory=list)  # linked identity providers


def user_detail(services: ConsoleServices, sub: str) -> UserDetail:
    """A user with their temporary lock, factors, SSO sessions, live refresh tokens and latest
    audit events. Raises account.not_found, store.unavailable."""
    record = user_record(services, sub)
    events = audit.search(services.db, audit.AuditQuery(sub=sub, limit=RECENT_EVENTS)).events
    live = (
        select(func.count())
        .select_from(RefreshToken)
        .where(
            RefreshToken.sub == sub,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.rotated_at.is_(None),
            RefreshToken.expires_at > services.clock.now(),
        )
    )
    tokens = int(services.db.session.scalar(live) or 0)
    return UserDetail(
        record,
        events,
        list_sessions(services, sub),
        tokens,
        services.passkeys.list(sub),
        services.federation.links_of(sub),
    )


# -- audit log --------------------------------------------------------------------------------
# the console's own query parameters, not filters: the page language
CONSOLE_PARAMETERS = frozenset({"ui_locales"})


def search_audit(services: ConsoleServices, args: Mapping[str, str]) -> audit.AuditPage:
    """The audit log page for the query string ``args``: the admin API's filters and cursor
    (``sub``, ``type``, ``client_id``, ``result``, ``since``, ``until``, ``limit``,
    ``before_id``), newest first, ``PAGE_SIZE`` at a time unless ``limit`` says otherwise.
    Raises request.invalid naming the bad parameter (an unknown one too, as the API does)."""
    filters = {name: value for name, value in args.items() if name not in CONSOLE_PARAMETERS}
    query = shapes.parse_audit_query(filters)
    if not filters.get("limit", "").strip():
        query = replace(query, limit=PAGE_SIZE)
    return audit.search(services.db, query)


# -- signing keys -----------------------------------------------------------------------------
SIGNING_ALGS = ("RS256", "ES256", "EdDSA")


def signing_keys(services: ConsoleServices) -> builtins.list[KeyInfo]:
    """Every signing key, newest first: the active one of each algorithm and those retired but
    still published in the JWKS."""
    return services.keys.all_keys()


def rotate_key(services: ConsoleServices, alg: str, ctx: RequestContext) -> str:
    """A new active key for ``alg``; the old one is retired and stays published. Returns the
    new ``kid``. Raises admin.forbidden without an administrator, key.invalid_alg."""
    if not ctx.actor:
        raise error("admin.forbidden", "an administrator must be named")
    return services.keys.rotate(alg, ctx)


# -- identity providers -----------------------------------------------------------------------
PROVIDERS_PAGE = 100


def identity_providers(services: ConsoleServices) -> builtins.list[IdentityProvider]:
    """Every registered upstream identity provider, by name: an instance has a handful, so the
    console lists them all (the admin API pages through them by ``id``)."""
    found: builtins.list[IdentityProvider] = []
    after: str | None = None
    while True:
        page = services.identity_providers.after(after, PROVIDERS_PAGE)
        found.extend(page)
        if len(page) < PROVIDERS_PAGE:
            return sorted(found, key=lambda p: (p.name.casefold(), p.id))
        after = page[-1].id


def offering(services: ConsoleServices, provider_id: str) -> builtins.list[Application]:
    """The applications whose login page offers the provider (what keeps it from deletion)."""
    return [a for a in services.clients.list_applications() if provider_id in (a.identity_provider_ids or [])]


# -- actions ----------------------------------------------------------------------------------
ACTIONS = ("lock", "unlock", "disable", "sign_out_everywhere", "reset_factors", "delete")


def act(services: ConsoleServices, action: str, sub: str, ctx: RequestContext) -> Any:
    """Run one of ``ACTIONS`` on ``sub``; ``ctx.actor`` must name the administrator.

    lock: the account is locked until an administrator unlocks it (no sign-in, no tokens);
    unlock: active again, a temporary lock of the brute-force policy lifted too; disable: the
    account is disabled; sign_out_everywhere: every SSO session, refresh token and remembered
    device of the person ends; reset_factors: every second factor (and the recovery codes)
    goes, so the person enrols again; delete: the person and everything of theirs goes (SSO
    sessions, refresh tokens, factors, ...). An administrator may not lock, disable or delete
    their own account.

    Raises account.not_found, admin.forbidden, store.unavailable, request.invalid.
    """
    if not ctx.actor:
        raise error("admin.forbidden", "an administrator must be named")
    if services.users.by_sub(sub) is None:
        raise error("account.not_found")
    if sub == ctx.actor and action in ("lock", "disable"):
        # an administrator who locks themselves out leaves nobody to unlock them
        raise error("admin.forbidden", "you cannot lock or disable your own account")
    if sub == ctx.actor and action == "delete":
        # the last administrator deleting themselves would leave the console without one
        raise error("admin.forbidden", "you cannot delete your own account")
    match action:
        case "lock":
            return services.users.update(sub, {"status": "locked"}, ctx)
        case "unlock":
            return services.users.update(sub, {"status": "active"}, ctx)
        case "disable":
            return services.users.update(sub, {"status": "disabled"}, ctx)
        case "sign_out_everywhere":
            return services.self_service.sign_out_everywhere(sub, ctx)
        case "reset_factors":
            return services.factors.remove_all(sub, ctx)
        case "delete":
            return delete_user(services, sub, ctx)
    raise error("request.invalid", f"unknown action {action}")
