"""What an application's registration may hold: application types, login methods, MFA
policies, grants, and the check of every registration field (redirect URIs kept exactly as
given; the upstream identity providers it offers; where its logout tokens go)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.errors import invalid
from idp.models import IdentityProvider
from idp.settings import JWT_ALGORITHMS

APP_TYPES = ("web", "spa", "native", "m2m")
LOGIN_METHODS = ("password", "sms_otp", "email_otp", "passkey")
# an application registered without ``login_methods``: passkeys are asked for by name, since
# they work only where the issuer is on a host name (see ``PasskeyService``)
DEFAULT_LOGIN_METHODS = ("password", "sms_otp", "email_otp")
MFA_POLICIES = ("off", "optional", "required")
OTP_SMS_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/sms"
OTP_EMAIL_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/email"
USER_GRANTS = ["authorization_code", "refresh_token", OTP_SMS_GRANT, OTP_EMAIL_GRANT]
SUPPORTED_GRANTS = (*USER_GRANTS, "client_credentials")


# the registration fields ``validated`` checks and returns (besides ``type`` and ``client_id``)
REGISTRATION_FIELDS = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "scopes",
    "login_methods",
    "mfa",
    "remember_device_days",
    "auto_signup",
    "first_party",
    "access_token_alg",
    "id_token_signed_response_alg",
    "identity_provider_ids",
    "backchannel_logout_uri",
)


def validated(data: dict[str, Any], app_type: str, *, require_https: bool = False) -> dict[str, Any]:
    """An application's registration fields (``REGISTRATION_FIELDS``) with their defaults, checked.

    Raises client.invalid_login_methods, client.invalid_mfa, client.invalid_remember_device_days,
    client.invalid_grant_types, client.invalid_alg, client.invalid_backchannel_logout_uri.
    """
    methods = list(data.get("login_methods") or DEFAULT_LOGIN_METHODS)
    if not set(methods) <= set(LOGIN_METHODS):
        raise invalid("client.invalid_login_methods", f"login_methods are {', '.join(LOGIN_METHODS)}")
    mfa = data.get("mfa", "off")
    if mfa not in MFA_POLICIES:
        raise invalid("client.invalid_mfa", f"mfa must be one of {', '.join(MFA_POLICIES)}")
    remember_days = data.get("remember_device_days") or 0
    if isinstance(remember_days, bool) or not isinstance(remember_days, int) or not 0 <= remember_days <= 365:
        raise invalid("client.invalid_remember_device_days")
    default_grants = ["client_credentials"] if app_type == "m2m" else USER_GRANTS
    grants = list(data.get("grant_types") or default_grants)
    if not set(grants) <= set(SUPPORTED_GRANTS):
        raise invalid("client.invalid_grant_types")
    access_alg, id_alg = data.get("access_token_alg"), data.get("id_token_signed_response_alg") or "RS256"
    if access_alg is not None and access_alg not in JWT_ALGORITHMS:
        raise invalid("client.invalid_alg", f"access_token_alg must be null or one of {', '.join(JWT_ALGORITHMS)}")
    if id_alg not in JWT_ALGORITHMS:
        raise invalid("client.invalid_alg", f"id_token_signed_response_alg must be one of {', '.join(JWT_ALGORITHMS)}")
    return {
        "name": data.get("name") or "Application",
        "redirect_uris": list(data.get("redirect_uris") or []),
        "post_logout_redirect_uris": list(data.get("post_logout_redirect_uris") or []),
        "grant_types": grants,
        "scopes": list(data.get("scopes") or ["openid", "profile", "email", "phone"]),
        "login_methods": methods,
        "mfa": mfa,
        "remember_device_days": remember_days,
        "auto_signup": bool(data.get("auto_signup", False)),
        "first_party": bool(data.get("first_party", True)),
        "access_token_alg": access_alg,
        "id_token_signed_response_alg": id_alg,
        "identity_provider_ids": identity_provider_ids_of(data.get("identity_provider_ids")),
        "backchannel_logout_uri": backchannel_logout_uri(data.get("backchannel_logout_uri"), require_https),
    }


# -- the upstream identity providers an application offers ----------------------------------
def identity_provider_ids_of(value: Any) -> list[str]:
    """Ids in the order given, each once. Raises federation.unknown_provider (not a list of ids)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(i, str) and i for i in value):
        raise invalid("federation.unknown_provider", "identity_provider_ids must be a list of provider ids")
    return list(dict.fromkeys(value))


def require_identity_providers(session: Session, ids: list[str]) -> None:
    """Raises federation.unknown_provider naming the first id no provider has."""
    if not ids:
        return
    known = set(session.scalars(select(IdentityProvider.id).where(IdentityProvider.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        raise invalid("federation.unknown_provider", f"unknown identity provider {missing[0]!r}")


# -- end of the upstream identity providers an application offers ---------------------------


def backchannel_logout_uri(value: Any, require_https: bool) -> str | None:
    """OpenID Connect Back-Channel Logout 1.0, 2.2: an absolute URI, no fragment; None or ""
    registers none. Logout tokens are bearer proofs of a sign-out, so production sends them
    over https only (as OAuth 2.0 Security BCP 2.6 asks of every endpoint). Raises
    client.invalid_backchannel_logout_uri."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 500 or any(c.isspace() or ord(c) < 32 for c in value):
        raise invalid("client.invalid_backchannel_logout_uri", name="backchannel_logout_uri")
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port  # an unclosed IPv6 literal or a bad port raises
    except ValueError:
        host = None
    schemes = ("https",) if require_https else ("http", "https")
    if not host or parts.scheme not in schemes or "#" in value:
        message = "backchannel_logout_uri must be an absolute https URI without a fragment"
        raise invalid(
            "client.invalid_backchannel_logout_uri", message if require_https else None, name="backchannel_logout_uri"
        )
    return value
