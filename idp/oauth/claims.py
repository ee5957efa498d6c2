"""Scopes and claims: what Gatehouse can grant and release, in one place.

- Scopes (OpenID Connect Core 1.0, 5.4): a grant carries only supported scopes. ``admin`` is
  an application's own scope (the admin API accepts ``client_credentials`` tokens that carry
  it); a person's grant never does.
- Claims (OIDC Core 5.1): ``claims_for`` is the one function that says what a user's claims
  are, for userinfo, for the ID token (claims asked for by name) and for the faces that
  render userinfo.
- The ``claims`` request parameter (OIDC Core 5.5): its ``userinfo`` and ``id_token`` members
  name claims to release whatever the scopes say, for the life of the grant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC
from typing import Any, TypeAlias

from idp.errors import invalid
from idp.models import Application
from idp.models.users import PROFILE_CLAIM_COLUMNS, Person

USER_SCOPES = ("openid", "profile", "email", "phone", "offline_access")
CLIENT_SCOPES = ("admin",)
SUPPORTED_SCOPES = (*USER_SCOPES, *CLIENT_SCOPES)

PROFILE_CLAIMS = ("name", "preferred_username", *PROFILE_CLAIM_COLUMNS, "locale", "updated_at")
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": PROFILE_CLAIMS,
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
}
# each releasable user claim and the scope that releases it
CLAIM_SCOPE = {claim: scope for scope, claims in SCOPE_CLAIMS.items() for claim in claims}
# OIDC Core 2 and 3.1.3.6: what every ID token says about the authentication
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "azp", "at_hash")
CLAIMS_SUPPORTED = [*ID_TOKEN_CLAIMS, *CLAIM_SCOPE]
CLAIMS_MEMBERS = ("userinfo", "id_token")
# a private access-token claim: the claims the grant asked userinfo to release by name
USERINFO_CLAIMS = "userinfo_claims"

# claims by name, as released in userinfo and ID tokens (JSON values)
Claims: TypeAlias = dict[str, Any]
# OIDC Core 5.5: the ``claims`` request parameter as the names each member asks for,
# ``{"userinfo": [...], "id_token": [...]}``; kept with the grant (authorization code, refresh token)
ClaimsRequest: TypeAlias = dict[str, list[str]]


def granted_scope(client: Application, requested: str | None, *, within: Iterable[str] = USER_SCOPES) -> str:
    """The scopes a grant gets: those asked for (all the application may have when none are,
    RFC 6749 3.3), kept only when supported ``within`` this kind of grant and allowed to the
    application. Unknown scopes are ignored (OIDC Core 3.1.2.1); the caller decides whether
    getting fewer than asked is an error."""
    supported = set(within)
    allowed = [scope for scope in client.scopes if scope in supported]
    if not requested or not requested.split():
        return " ".join(allowed)
    return " ".join(scope for scope in dict.fromkeys(requested.split()) if scope in allowed)


def claims_for(user: Person, scopes: Iterable[str], requested: Iterable[str] = ()) -> Claims:
    """OIDC Core 5.3.2: ``sub`` and the claims the ``scopes`` release (5.4), plus the claims
    ``requested`` by name (5.5); a claim without a value is left out (5.3.2)."""
    names = {claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ())} | set(requested)
    values = _values(user)
    return {"sub": user.sub, **{k: v for k, v in values.items() if k in names and v is not None}}


def _values(user: Person) -> Claims:
    updated = user.updated_at
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)  # stored as UTC; SQLite drops the zone
    return {
        "name": user.name,
        "preferred_username": user.username,
        **{claim: getattr(user, claim) for claim in PROFILE_CLAIM_COLUMNS},
        "locale": user.locale,
        "updated_at": int(updated.timestamp()) if updated else None,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "phone_number": user.phone_number,
        "phone_number_verified": bool(user.phone_verified),
    }


def parse_claims_request(raw: str | None, releasable: Iterable[str]) -> ClaimsRequest | None:
    """The ``claims`` authorization request parameter (OIDC Core 5.5) as the names each member
    asks for: ``{"userinfo": [...], "id_token": [...]}``, or None when nothing is asked.

    Only names of claims a scope in ``releasable`` (what the application may have) could
    release are kept; ``essential`` and ``value(s)`` are checked for shape, and a claim is
    released whether or not it is essential. Raises oauth.invalid_claims for a malformed value.
    """
    if raw is None or not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise invalid("oauth.invalid_claims", "The 'claims' parameter is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise invalid("oauth.invalid_claims", "The 'claims' parameter must be a JSON object.")
    scopes = set(releasable)
    out: ClaimsRequest = {}
    for member in CLAIMS_MEMBERS:
        entries = data.get(member)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise invalid("oauth.invalid_claims", f"The '{member}' member of 'claims' must be a JSON object.")
        for spec in entries.values():
            _check_spec(member, spec)
        names = sorted(name for name in entries if CLAIM_SCOPE.get(name) in scopes)
        if names:
            out[member] = names
    return out or None


def _check_spec(member: str, spec: object) -> None:
    """OIDC Core 5.5.1: each claim is ``null`` or an object with ``essential`` (a boolean),
    ``value`` or ``values`` (an array). (The message never repeats the caller's text.)"""
    where = f"A claim of 'claims.{member}'"
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise invalid("oauth.invalid_claims", f"{where} must be null or a JSON object.")
    if "essential" in spec and not isinstance(spec["essential"], bool):
        raise invalid("oauth.invalid_claims", f"{where}: 'essential' must be true or false.")
    if "values" in spec and not isinstance(spec["values"], list):
        raise invalid("oauth.invalid_claims", f"{where}: 'values' must be an array.")


def scopes_of_claims(claims: ClaimsRequest | None) -> list[str]:
    """The scopes whose claims a ``claims`` request names: what a person consents to."""
    names = {name for member in (claims or {}).values() for name in member}
    return sorted({CLAIM_SCOPE[name] for name in names if name in CLAIM_SCOPE})
