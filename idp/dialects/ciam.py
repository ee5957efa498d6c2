"""Tencent CIAM dialect (seeds 000 and 001): request models and the one error table.

The dialect translates; it never decides. Each domain error code maps to the exact
``{"error", "error_description"}`` pair the seeds show.
"""

from __future__ import annotations

from typing import Literal

from authlib.oauth2.base import OAuth2Error, invalid_error_characters
from pydantic import BaseModel, ConfigDict, ValidationError

from idp.errors import IdpError, Kind, invalid

SMS_RATE_DESCRIPTIONS = {
    "target_interval": "SMS rate limit exceeded for same phone number",
    "target_daily": "SMS rate limit exceeded for same phone number",
    "ip": "SMS rate limit exceeded for this client address",
    "client": "SMS rate limit exceeded for this application",
    "prefix": "SMS rate limit exceeded for this number range",
    "country": "SMS rate limit exceeded for this country",
}

# domain code -> (HTTP status, error, error_description or None)
ERRORS: dict[str, tuple[int, str, str | None]] = {
    "contact.malformed_phone": (400, "malformed_phone_number", None),
    "contact.malformed_email": (400, "malformed_email", None),
    "contact.blocked_email": (400, "invalid_email", None),
    "account.email_taken": (400, "email_is_used", None),
    "account.phone_taken": (400, "phone_number_is_used", None),
    "otp.delivery_failed": (503, "temporarily_unavailable", "Failed to send OTP. Please try again later."),
    "otp.invalid_auth_source": (400, "invalid_auth_source", "Auth source and application not associated"),
    "otp.auth_source_required": (400, "invalid_request", "Missing 'auth_source_id' in request."),
    "otp.invalid_usage": (400, "invalid_request", "Unsupported 'usage'."),
    "otp.unknown_token": (400, "invalid_grant", "Unknown or expired otp_token"),
    "otp.wrong_code": (400, "invalid_grant", "Unknown or expired OTP"),
    "otp.expired_code": (400, "invalid_grant", "Unknown or expired OTP"),
    "otp.too_many_failures": (400, "invalid_grant", "Unknown or expired OTP"),
    "otp.mismatch": (400, "invalid_request", "Mismatched OTP token and OTP sending parameters"),
    "account.user_not_found": (400, "invalid_grant", "User not found"),
    "account.abnormal_status": (400, "invalid_grant", "Abnormal user status"),
    "client.unauthenticated": (401, "invalid_client", "Client authentication failed."),
    "store.unavailable": (503, "temporarily_unavailable", "Service temporarily unavailable. Please try again later."),
}

# when a code has no entry, its kind decides
BY_KIND: dict[Kind, tuple[int, str]] = {
    Kind.INVALID_INPUT: (400, "invalid_request"),
    Kind.UNAUTHENTICATED: (401, "invalid_client"),
    Kind.FORBIDDEN: (403, "access_denied"),
    Kind.NOT_FOUND: (400, "invalid_grant"),
    Kind.WRONG_CODE: (400, "invalid_grant"),
    Kind.CONFLICT: (400, "invalid_request"),
    Kind.RATE_LIMITED: (400, "sms_rate_limit_exceeded"),
    Kind.QUOTA_EXHAUSTED: (400, "invalid_request"),
    Kind.USER_STATUS: (400, "invalid_grant"),
    Kind.DELIVERY_FAILED: (503, "temporarily_unavailable"),
    Kind.UNAVAILABLE: (503, "temporarily_unavailable"),
}


def render_error(exc: IdpError) -> tuple[int, dict, dict]:
    """(status, body, headers) in the CIAM shape for any domain error."""
    headers: dict[str, str] = {}
    if exc.code == "otp.quota_exhausted":
        status, body = 400, {"error": f"insufficient_{exc.details.get('channel', 'sms')}_quota"}
    elif exc.code == "otp.rate_limited":
        channel = exc.details.get("channel", "sms")
        description = SMS_RATE_DESCRIPTIONS.get(exc.details.get("rule", ""), "SMS rate limit exceeded")
        if channel == "email":
            description = description.replace("SMS", "Email").replace("phone number", "email address")
        status, body = 400, {"error": "sms_rate_limit_exceeded", "error_description": description}
    elif exc.code in ERRORS:
        status, error, description = ERRORS[exc.code]
        body = {"error": error}
        if description:
            body["error_description"] = description
    else:
        status, error = BY_KIND[exc.kind]
        body = {"error": error, "error_description": exc.message}
    if exc.retry_after is not None and exc.kind in (Kind.RATE_LIMITED, Kind.QUOTA_EXHAUSTED):
        headers["Retry-After"] = str(exc.retry_after)
    return status, body, headers


def oauth_error(exc: IdpError) -> OAuth2Error:
    """The same mapping as an Authlib error, for use inside grants."""
    status, body, _ = render_error(exc)
    description = body.get("error_description")
    if description:  # RFC 6749 5.2 allows only a subset of ASCII; Authlib raises on anything else
        description = "".join(c for c in description if not invalid_error_characters(c))
    return OAuth2Error(description=description, status_code=status, error=body["error"])


class OtpSendRequest(BaseModel):
    """Seed 001 request body. Unknown fields are ignored, as the vendor does."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    usage: Literal["login", "signup", "update_userinfo", "reset_password"] = "login"
    phone_number: str | None = None
    email: str | None = None
    auth_source_id: str | None = None

    @property
    def channel(self) -> str:
        return "sms" if self.phone_number else "email"

    @property
    def target(self) -> str:
        return self.phone_number or self.email or ""


def parse_otp_send(payload: object) -> OtpSendRequest:
    """Raises request.invalid with a message naming the problem."""
    if not isinstance(payload, dict):
        raise invalid("request.invalid", "The request body must be a JSON object.")
    try:
        request = OtpSendRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise invalid("request.invalid", f"Invalid '{field}': {first['msg']}.") from exc
    if bool(request.phone_number) == bool(request.email):
        raise invalid("request.invalid", "Exactly one of 'phone_number' and 'email' is required.")
    return request
