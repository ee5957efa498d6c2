"""The admin API's shapes (``/admin/api/v1``): request models and render functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic_core import ErrorDetails

from idp.accounts.profile import CLAIMS
from idp.admin.service import UserRecord
from idp.audit import DEFAULT_LIMIT, MAX_LIMIT, AuditQuery
from idp.dialects.common import ProfileClaims, parse_json
from idp.errors import invalid
from idp.federation.upstream import UpstreamConfig
from idp.models import Application, AuditEvent, AuthSource, Factor, IdentityProvider, User
from idp.oauth.keys import KeyInfo
from idp.sessions.store import SsoSession

# The standard profile claims a user may carry besides ``name`` and ``locale`` (OpenID Connect
# Core 1.0, 5.1). Their rules (URLs, dates, IANA time zones) are the accounts service's: the
# admin API passes them through and renders them.
PROFILE_CLAIMS = CLAIMS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


SigningAlg = Literal["RS256", "ES256", "EdDSA"]  # idp.settings.JWT_ALGORITHMS


class AuthSourceIn(_Strict):
    kind: Literal["sms", "email"]
    id: str | None = None
    name: str | None = None
    code_length: int = 6
    code_ttl: int = 60
    template: str | None = None


class AuthSourcePatch(_Strict):
    """``PATCH /auth-sources/<id>``: any field of ``AuthSourceIn`` but ``kind`` and ``id``."""

    name: str | None = None
    code_length: int | None = None
    code_ttl: int | None = None
    template: str | None = None


class ApplicationIn(_Strict):
    name: str
    type: Literal["web", "spa", "native", "m2m"] = "web"
    client_id: str | None = None
    client_secret: str | None = None  # to migrate an app from another IdP; else generated
    redirect_uris: list[str] = []
    post_logout_redirect_uris: list[str] = []
    grant_types: list[str] = []
    scopes: list[str] = []
    auth_source_ids: list[str] = []
    login_methods: list[Literal["password", "sms_otp", "email_otp", "passkey"]] = ["password", "sms_otp", "email_otp"]
    mfa: Literal["off", "optional", "required"] = "off"
    auto_signup: bool = False
    first_party: bool = True
    # signing algorithms: access tokens (null: GATEHOUSE_JWT_ALG), ID tokens (OpenID Connect
    # Dynamic Client Registration 1.0, 2)
    access_token_alg: SigningAlg | None = None
    id_token_signed_response_alg: SigningAlg = "RS256"
    identity_provider_ids: list[str] = []  # the upstream providers its login page offers
    # -- back-channel logout (OpenID Connect Back-Channel Logout 1.0, 2.2): null for none
    backchannel_logout_uri: str | None = None


class ApplicationPatch(_Strict):
    """``PATCH /applications/<client_id>``: any field of ``ApplicationIn`` but ``type``
    (``client_id`` and ``client_secret`` neither: ``POST .../secret`` replaces a secret)."""

    name: str | None = None
    redirect_uris: list[str] | None = None
    post_logout_redirect_uris: list[str] | None = None
    grant_types: list[str] | None = None
    scopes: list[str] | None = None
    auth_source_ids: list[str] | None = None
    login_methods: list[Literal["password", "sms_otp", "email_otp", "passkey"]] | None = None
    mfa: Literal["off", "optional", "required"] | None = None
    auto_signup: bool | None = None
    first_party: bool | None = None
    access_token_alg: SigningAlg | None = None
    id_token_signed_response_alg: SigningAlg | None = None
    identity_provider_ids: list[str] | None = None
    # -- back-channel logout: null removes it
    backchannel_logout_uri: str | None = None


class ApplicationSecretOut(BaseModel):
    """``POST /applications/<client_id>/secret``: the new secret, shown once."""

    client_id: str
    client_secret: str


class KeyRotateIn(_Strict):
    """``POST /keys/rotate``: the algorithm whose key is replaced (RS256 unless named)."""

    alg: SigningAlg = "RS256"


class _ProfileClaims(_Strict, ProfileClaims):
    """``PROFILE_CLAIMS``: strings or null; what a valid one is, the accounts service says."""


class UserIn(_ProfileClaims):
    username: str | None = None
    password: str | None = None
    email: str | None = None
    email_verified: bool = False
    phone_number: str | None = None
    phone_verified: bool = False
    status: Literal["active", "locked", "disabled"] = "active"
    name: str | None = None
    locale: str | None = None
    roles: list[Literal["admin"]] = []


class UserPatch(_ProfileClaims):
    username: str | None = None
    password: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    phone_number: str | None = None
    phone_verified: bool | None = None
    status: Literal["active", "locked", "disabled"] | None = None
    name: str | None = None
    locale: str | None = None
    roles: list[Literal["admin"]] | None = None


class FactorIn(_Strict):
    """``POST /users/<sub>/factors``: the factors an administrator may enrol for a person (a
    TOTP secret must be scanned by the person, so it is theirs to set up)."""

    type: Literal["otp_sms", "otp_email"]


def wording(model: type[BaseModel], field: str, problem: ErrorDetails) -> str:
    """The admin API's message for a bad field: ``name: Field required``."""
    return f"{field}: {problem['msg']}"


def parse(model: type[BaseModel], payload: object, *, partial: bool = False) -> dict[str, Any]:
    """Validate a JSON body. Raises request.invalid naming the first bad field."""
    return parse_json(model, payload, wording).model_dump(exclude_unset=partial)


def render_auth_source(source: AuthSource) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "name": source.name,
        "code_length": source.code_length,
        "code_ttl": source.code_ttl,
    }


def render_application(app: Application, secret: str | None = None, *, created: bool = False) -> dict[str, Any]:
    body = {
        "client_id": app.client_id,
        "name": app.name,
        "type": app.type,
        "redirect_uris": app.redirect_uris,
        "post_logout_redirect_uris": app.post_logout_redirect_uris,
        "grant_types": app.grant_types,
        "scopes": app.scopes,
        "auth_source_ids": [s.id for s in app.auth_sources],
        "login_methods": app.login_methods,
        "mfa": app.mfa,
        "auto_signup": app.auto_signup,
        "first_party": app.first_party,
        "access_token_alg": app.access_token_alg,
        "id_token_signed_response_alg": app.id_token_signed_response_alg,
        "identity_provider_ids": list(app.identity_provider_ids or []),
        # -- back-channel logout
        "backchannel_logout_uri": app.backchannel_logout_uri,
    }
    if created:  # the secret is shown once, at creation
        body["client_secret"] = secret
    return body


def render_secret(client_id: str, secret: str) -> dict[str, Any]:
    return ApplicationSecretOut(client_id=client_id, client_secret=secret).model_dump()


class SessionOut(BaseModel):
    """``GET /users/<sub>/sessions``: one SSO session (never its id's secret part: the id is
    the cookie value, so only a digest of it is shown)."""

    id: str
    created_at: str
    last_seen_at: str
    ip: str | None
    user_agent: str | None
    amr: list[str]


def render_session(session: SsoSession) -> dict[str, Any]:
    return SessionOut(
        id=session_label(session.id),
        created_at=_iso_epoch(session.created_at),
        last_seen_at=_iso_epoch(session.last_seen),
        ip=session.ip or None,
        user_agent=session.user_agent or None,
        amr=session.amr,
    ).model_dump()


def session_label(session_id: str) -> str:
    """A stable public name for a session: the cookie holds its id, which must not leak."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def _iso_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def render_key(key: KeyInfo) -> dict[str, Any]:
    """``{"kid", "alg", "state": "active"|"retired", "created_at"}``: never the key itself."""
    return {"kid": key.kid, "alg": key.alg, "state": key.state, "created_at": _iso(key.created_at)}


def render_unlock(sub: str, was_locked: bool) -> dict[str, Any]:
    """``POST /users/<sub>/unlock``: ``{"sub", "was_locked"}`` (200 either way: idempotent)."""
    return {"sub": sub, "was_locked": was_locked}


def render_user(user: User) -> dict[str, Any]:
    return {
        "sub": user.sub,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "phone_number": user.phone_number,
        "phone_verified": user.phone_verified,
        "status": user.status,
        "name": user.name,
        "locale": user.locale,
        **{claim: getattr(user, claim) for claim in PROFILE_CLAIMS},
        "roles": list(user.roles or []),
        "has_password": user.password_hash is not None,
        "sequence": user.sequence,
        "created_at": _iso(user.created_at),
    }


def render_user_record(record: UserRecord) -> dict[str, Any]:
    """``GET /users/<sub>``: the user, when a temporary lock ends (``locked_until``: ISO 8601
    UTC, or null) and their factors."""
    return {
        **render_user(record.user),
        "locked_until": _iso(record.locked_until),
        "factors": [render_factor(f) for f in record.factors],
    }


def render_factor(factor: Factor) -> dict[str, Any]:
    """``{"type": "otp_sms"|"otp_email"|"totp", "state": "ready"|"not_ready", "created_at"}``."""
    return {"type": factor.type, "state": factor.state, "created_at": _iso(factor.created_at)}


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC. SQLite hands stored timestamps back naive (they were written in UTC),
    so the same user must not read ``+00:00`` at creation and no offset afterwards."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


USER_FILTERS = ("username", "email", "phone_number", "q", "status", "after")


def parse_limit(value: str | None) -> int | None:
    """``limit`` of a user listing (its range is the admin service's). Raises request.invalid."""
    if value is None or not value.strip():
        return None
    return _int("limit", value.strip(), 0, 10**6)


# -- audit events (GET /admin/api/v1/audit-events) -------------------------------------------

AUDIT_FILTERS = ("sub", "type", "client_id", "result", "since", "until", "limit", "before_id")
_EPOCH = re.compile(r"\d{1,12}(\.\d{1,6})?")


def parse_audit_query(args: Mapping[str, str]) -> AuditQuery:
    """The query string of ``GET /audit-events``. An unknown parameter (a typo such as
    ``user=``) is refused rather than ignored: ignoring it would list every event.

    Raises request.invalid naming the parameter.
    """
    unknown = sorted(set(args) - set(AUDIT_FILTERS))
    if unknown:
        raise invalid("request.invalid", f"{unknown[0]}: unknown filter; use {', '.join(AUDIT_FILTERS)}")
    text = {name: args[name].strip() for name in AUDIT_FILTERS if args.get(name, "").strip()}
    return AuditQuery(
        sub=text.get("sub"),
        type=_type_pattern(text.get("type")),
        client_id=text.get("client_id"),
        result=text.get("result"),
        since=_instant("since", text.get("since")),
        until=_instant("until", text.get("until")),
        limit=_int("limit", text.get("limit"), 1, MAX_LIMIT) or DEFAULT_LIMIT,
        before_id=_int("before_id", text.get("before_id"), 1, 2**63 - 1),
    )


def _type_pattern(value: str | None) -> str | None:
    if value is not None and "*" in value[:-1]:
        raise invalid("request.invalid", "type: '*' may only end the pattern (login.*)")
    return value


def _instant(name: str, value: str | None) -> datetime | None:
    """ISO 8601 (``2026-12-06T07:00:00Z``, an offset, or naive meaning UTC) or epoch seconds."""
    if value is None:
        return None
    try:
        if _EPOCH.fullmatch(value):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise invalid("request.invalid", f"{name}: expected ISO 8601 or epoch seconds") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _int(name: str, value: str | None, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 19 and low <= int(value) <= high):
        raise invalid("request.invalid", f"{name}: expected an integer from {low} to {high}")
    return int(value)


def render_audit_event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "at": _iso_z(event.at),
        "sub": event.sub,
        "client_id": event.client_id,
        "actor": event.actor,
        "ip": event.ip,
        "user_agent": event.user_agent or None,
        "result": event.result,
        "details": event.details or {},
    }


def _iso_z(value: datetime) -> str:
    """``2026-12-06T07:00:00.123456Z``: UTC, fixed width, sorts as text."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- identity providers (sign in with another identity provider) -------------------------------
ProviderKind = Literal["oidc", "oauth2", "github", "google", "apple", "wechat"]  # registry.KINDS


class IdentityProviderIn(_Strict):
    """``POST /identity-providers``. ``oidc`` needs ``issuer`` (its discovery document gives
    the rest); ``oauth2`` needs the three endpoints and ``claim_mapping`` (``sub`` at least;
    also ``email``, ``email_verified``, ``name``, ``picture``); the presets fill those in.
    ``client_secret`` is write-only: sealed at rest, never answered."""

    name: str
    kind: ProviderKind
    client_id: str
    client_secret: str | None = None
    scopes: list[str] = []
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    claim_mapping: dict[str, str] = {}
    options: dict[str, str] = {}


class IdentityProviderPatch(_Strict):
    """``PATCH /identity-providers/<id>``: any field of ``IdentityProviderIn`` but ``kind``;
    ``client_secret`` replaces the secret."""

    name: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] | None = None
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    claim_mapping: dict[str, str] | None = None
    options: dict[str, str] | None = None


class IdentityProviderOut(BaseModel):
    """A registered provider as in effect (its kind's defaults filled in); never the secret.
    ``redirect_uri`` is the callback to register with the upstream."""

    id: str
    redirect_uri: str
    name: str
    kind: str
    client_id: str
    scopes: list[str]
    issuer: str | None
    authorization_endpoint: str | None
    token_endpoint: str | None
    userinfo_endpoint: str | None
    jwks_uri: str | None
    claim_mapping: dict[str, str]
    options: dict[str, str]
    created_at: str | None


def render_identity_provider(provider: IdentityProvider, config: UpstreamConfig, redirect_uri: str) -> dict[str, Any]:
    return IdentityProviderOut(
        id=provider.id,
        redirect_uri=redirect_uri,
        name=config.name,
        kind=config.kind,
        client_id=config.client_id,
        scopes=list(config.scopes),
        issuer=config.issuer,
        authorization_endpoint=config.authorization_endpoint,
        token_endpoint=config.token_endpoint,
        userinfo_endpoint=config.userinfo_endpoint,
        jwks_uri=config.jwks_uri,
        claim_mapping=dict(config.claim_mapping),
        options=dict(config.options),
        created_at=_iso(provider.created_at),
    ).model_dump()


# -- end of identity providers --------------------------------------------------------------------
