"""Domain errors as OAuth 2.0 token-endpoint errors (RFC 6749 5.2), for the standard grants.

A face with a contract of its own (Tencent CIAM's OTP grants) maps its grants' errors with its
own descriptions; everything else answers by the error's kind, with the domain's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.oauth2.base import OAuth2Error, invalid_error_characters

from idp.errors import ErrorResponse, IdpError, Kind, invalid

# domain code -> (HTTP status, error code), where the kind's answer would be wrong: a bearer
# token's failures are RFC 6750 3.1 errors, not the token endpoint's
ERRORS: dict[str, tuple[int, str]] = {
    "bearer.invalid_token": (401, "invalid_token"),
    "bearer.insufficient_scope": (403, "insufficient_scope"),
    # the HTTP layer's own refusals (server_error: RFC 6749 4.1.2.1)
    "request.not_found": (404, "invalid_request"),
    "request.method_not_allowed": (405, "invalid_request"),
    "request.too_large": (413, "invalid_request"),
    "request.failed": (500, "server_error"),
}
BEARER_ERRORS = ("invalid_token", "insufficient_scope")  # RFC 6750 3.1

# when a code has no entry, its kind decides: (HTTP status, RFC 6749 5.2 error code)
BY_KIND: dict[Kind, tuple[int, str]] = {
    Kind.INVALID_INPUT: (400, "invalid_request"),
    Kind.UNAUTHENTICATED: (401, "invalid_client"),
    Kind.FORBIDDEN: (400, "unauthorized_client"),
    Kind.NOT_FOUND: (400, "invalid_grant"),
    Kind.WRONG_CODE: (400, "invalid_grant"),
    Kind.CONFLICT: (400, "invalid_grant"),
    Kind.RATE_LIMITED: (429, "invalid_request"),
    Kind.QUOTA_EXHAUSTED: (429, "invalid_request"),
    Kind.CAPTCHA_REQUIRED: (400, "invalid_grant"),
    Kind.FAILED_PRECONDITION: (400, "invalid_grant"),
    Kind.USER_STATUS: (400, "invalid_grant"),
    Kind.DELIVERY_FAILED: (503, "temporarily_unavailable"),
    Kind.UNAVAILABLE: (503, "temporarily_unavailable"),
}


def safe_description(text: str | None) -> str | None:
    """RFC 6749 5.2 allows only printable ASCII but ``"`` and ``\\`` in ``error_description``
    (Authlib refuses anything else)."""
    if not text:
        return None
    return "".join(c for c in text if not invalid_error_characters(c)) or None


# request parameters Authlib repeats inside an error_description ("Redirect URI ... is not
# supported by client.", "response_type=... is not supported"); RFC 6749 4.1.2.1 and 5.2 allow
# only printable ASCII but " and \ there, and Authlib raises rather than answer otherwise
ECHOED_PARAMETERS = ("redirect_uri", "response_type", "grant_type", "post_logout_redirect_uri")


def check_echoed_parameters(params: Mapping[str, Any]) -> None:
    """Raises request.invalid, naming the parameter but not repeating it, when a parameter an
    error could echo holds characters an OAuth error may not carry (CR, LF, non-ASCII...)."""
    for name in ECHOED_PARAMETERS:
        value = params.get(name)
        if isinstance(value, str) and invalid_error_characters(value):
            raise invalid("request.invalid", f"The '{name}' parameter holds characters it may not contain.", name=name)


def oauth_error(exc: IdpError) -> OAuth2Error:
    """The OAuth error for ``exc``: status and code by its code or kind, its message as description."""
    status, error = ERRORS.get(exc.code) or BY_KIND[exc.kind]
    return OAuth2Error(description=safe_description(exc.message), status_code=status, error=error)


def render_error(exc: IdpError) -> ErrorResponse:
    """(status, body, headers) of a domain error that escapes an OAuth endpoint (a store outage
    at introspection, revocation or userinfo): the RFC 6749 5.2 shape."""
    status, error = ERRORS.get(exc.code) or BY_KIND[exc.kind]
    body: dict[str, Any] = {"error": error}
    description = safe_description(exc.message)
    if description:
        body["error_description"] = description
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    if error in BEARER_ERRORS:  # RFC 6750 3: the challenge says why
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return status, body, headers
