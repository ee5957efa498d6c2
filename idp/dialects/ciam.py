"""Tencent CIAM dialect: request models and error tables for ``POST /otp/send`` (Tencent CIAM,
"Send OTP Verification Code"), the OTP grants (Tencent CIAM, "OTP Authentication by SMS and
Email") and their siblings.

The dialect translates; it never decides. Each domain error code maps to the exact
``{"error", "error_description"}`` pair those documents show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict

from authlib.oauth2.base import OAuth2Error
from pydantic import BaseModel, ConfigDict

from idp.accounts.profile import CLAIMS
from idp.accounts.proofs import ContactCode
from idp.dialects.common import ProfileClaims, parse_json
from idp.errors import ErrorResponse, IdpError, Kind, invalid
from idp.models import User
from idp.oauth.bearer import claims_for
from idp.oauth.errors import safe_description
from idp.oauth.grants import OtpGrant
from idp.oauth.registration import OTP_EMAIL_GRANT, OTP_SMS_GRANT

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
    # the brute-force policy: a temporary lock is an abnormal status, as a locked user is; the
    # vendor documents name no captcha error, so it is an OAuth invalid_grant with its own
    # description
    "account.locked": (400, "invalid_grant", "Abnormal user status"),
    "login.captcha_required": (400, "invalid_grant", "Captcha required"),
    # an application whose login methods leave out this channel may not use its OTP grant
    # (RFC 6749 5.2: "not authorized to use this authorization grant type")
    "login.method_disabled": (400, "unauthorized_client", "The login method is not enabled for the application"),
    "client.unauthenticated": (401, "invalid_client", "Client authentication failed."),
    "store.unavailable": (503, "temporarily_unavailable", "Service temporarily unavailable. Please try again later."),
    # the HTTP layer's own refusals, in RFC 6749's vocabulary (server_error: 4.1.2.1)
    "request.not_found": (404, "invalid_request", "No such endpoint."),
    "request.method_not_allowed": (405, "invalid_request", "The endpoint does not take this method."),
    "request.too_large": (413, "invalid_request", "The request body is too large."),
    "request.failed": (500, "server_error", "The request could not be completed."),
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
    Kind.FAILED_PRECONDITION: (400, "invalid_request"),
    Kind.CAPTCHA_REQUIRED: (400, "invalid_grant"),
    Kind.USER_STATUS: (400, "invalid_grant"),
    Kind.DELIVERY_FAILED: (503, "temporarily_unavailable"),
    Kind.UNAVAILABLE: (503, "temporarily_unavailable"),
}


def render_error(exc: IdpError) -> ErrorResponse:
    """(status, body, headers) in the CIAM shape for any domain error."""
    headers: dict[str, str] = {}
    body: dict[str, Any]
    description: str | None
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
    return OAuth2Error(
        description=safe_description(body.get("error_description")), status_code=status, error=body["error"]
    )


class CiamOtpGrant(OtpGrant):
    """Tencent CIAM "OTP Authentication by SMS and Email": its error bodies, word for word."""

    oauth_error = staticmethod(oauth_error)


class OtpSmsGrant(CiamOtpGrant):
    GRANT_TYPE, CHANNEL, TARGET_PARAM = OTP_SMS_GRANT, "sms", "phone_number"


class OtpEmailGrant(CiamOtpGrant):
    GRANT_TYPE, CHANNEL, TARGET_PARAM = OTP_EMAIL_GRANT, "email", "email"


class OtpSendRequest(BaseModel):
    """The request body of Tencent CIAM, "Send OTP Verification Code". Unknown fields are
    ignored, as the vendor does."""

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
    request = parse_json(OtpSendRequest, payload)
    if bool(request.phone_number) == bool(request.email):
        raise invalid("request.invalid", "Exactly one of 'phone_number' and 'email' is required.")
    return request


# -- the siblings of /otp/send and the OTP grant --------------------------------------------
# Each endpoint answers some domain errors with its own vendor code (Tencent CIAM's "Modify
# User Password" and "Reset User Password" documents); everything else falls back to ERRORS.
_PASSWORD_POLICY = ("password.too_short", "password.too_long", "password.too_common")
_STATUS = (400, "abnormal_user_status", "Abnormal user status")
OPERATION_ERRORS: dict[str, dict[str, tuple[int, str, str | None]]] = {
    "change_user_password": {
        "password.mismatch": (400, "wrong_old_password", None),
        "password.same_as_old": (400, "duplicate_password", None),
        "password.not_set": (400, "password_not_set", "The user has no password."),
        "account.not_found": (400, "user_not_found", None),
        "account.abnormal_status": _STATUS,
        "account.locked": _STATUS,
        **{code: (400, "invalid_new_password", None) for code in _PASSWORD_POLICY},
    },
    "reset_user_password": {
        "account.user_not_found": (400, "user_not_found", None),
        "account.abnormal_status": _STATUS,
        "account.locked": _STATUS,
        **{code: (400, "invalid_new_password", None) for code in _PASSWORD_POLICY},
    },
    "signup": {
        "account.username_taken": (400, "username_is_used", None),
        **{code: (400, "invalid_password", None) for code in _PASSWORD_POLICY},
    },
    "update_userinfo": {
        "account.username_taken": (400, "username_is_used", None),
        "account.not_found": (400, "user_not_found", None),
        "account.abnormal_status": _STATUS,
        "account.locked": _STATUS,
    },
}

# RFC 6750 3.1: a bad bearer token is 401, a token without the needed scope 403
BEARER_ERRORS = {
    "bearer.invalid_token": (401, "invalid_token"),
    "bearer.insufficient_scope": (403, "insufficient_scope"),
}


def render_operation_error(operation: str) -> Callable[[IdpError], ErrorResponse]:
    """The renderer of one sibling endpoint: its own codes first, then the dialect's."""
    table = OPERATION_ERRORS.get(operation, {})

    def render(exc: IdpError) -> ErrorResponse:
        if exc.code in BEARER_ERRORS:
            status, error = BEARER_ERRORS[exc.code]
            challenge = f'Bearer error="{error}"'
            if exc.details.get("scope"):
                challenge += f', scope="{exc.details["scope"]}"'
            return status, {"error": error, "error_description": exc.message}, {"WWW-Authenticate": challenge}
        if exc.code in table:
            status, error, description = table[exc.code]
            body: dict[str, Any] = {"error": error}
            if description:
                body["error_description"] = description
            elif exc.message and error.startswith("invalid_"):
                body["error_description"] = exc.message  # say which rule the password broke
            return status, body, {}
        return render_error(exc)

    return render


class _Contacts(BaseModel):
    """Phone/email with their codes, under the vendor's names (``phone_number_otp_token``,
    ``email_otp``…); the bare ``otp_token``/``otp`` are accepted when one contact is given."""

    phone_number: str | None = None
    phone_number_otp_token: str | None = None
    phone_number_otp: str | None = None
    email: str | None = None
    email_otp_token: str | None = None
    email_otp: str | None = None
    otp_token: str | None = None
    otp: str | None = None

    def proofs(self, auth_source_id: str | None = None) -> list[ContactCode]:
        """Raises request.invalid naming the missing parameter."""
        given = [(c, f) for c, f in (("sms", "phone_number"), ("email", "email")) if getattr(self, f)]
        proofs = []
        for channel, field in given:
            token = getattr(self, f"{field}_otp_token") or (self.otp_token if len(given) == 1 else None)
            code = getattr(self, f"{field}_otp") or (self.otp if len(given) == 1 else None)
            for name, value in ((f"{field}_otp_token", token), (f"{field}_otp", code)):
                if not value:
                    raise invalid("request.invalid", f"Missing '{name}' in request.")
            proofs.append(ContactCode(channel, getattr(self, field), token, code, auth_source_id))
        return proofs


class SignupCommand(TypedDict):
    """Keyword arguments of ``SignUpFlow.sign_up`` (after the client and context)."""

    proof: ContactCode | None
    username: str | None
    password: str | None
    profile: dict[str, Any]


class ResetPasswordCommand(TypedDict):
    """Keyword arguments of ``SelfService.reset_password`` (after the client and context)."""

    proof: ContactCode
    new_password: str


class SignupRequest(_Contacts):
    """``POST /signup``: username + password, or a phone/email with its ``usage=signup`` code."""

    model_config = ConfigDict(extra="ignore")

    username: str | None = None
    password: str | None = None
    name: str | None = None
    locale: str | None = None
    auth_source_id: str | None = None

    def command(self) -> SignupCommand:
        """Keyword arguments of ``SignUpFlow.sign_up`` (after the client and context)."""
        proofs = self.proofs(self.auth_source_id)
        if len(proofs) > 1:
            raise invalid("request.invalid", "Only one of 'phone_number' and 'email' can be given.")
        if not proofs and not (self.username and self.password):
            raise invalid("request.invalid", "Missing 'username' and 'password', or 'phone_number' or 'email'.")
        profile = {k: getattr(self, k) for k in ("name", "locale") if getattr(self, k) is not None}
        return SignupCommand(
            proof=proofs[0] if proofs else None, username=self.username, password=self.password, profile=profile
        )


class ResetPasswordRequest(_Contacts):
    """``POST /reset_user_password``: ``password`` + a phone/email with its ``usage=reset_password`` code."""

    model_config = ConfigDict(extra="ignore")

    password: str
    auth_source_id: str | None = None

    def command(self) -> ResetPasswordCommand:
        """Keyword arguments of ``SelfService.reset_password`` (after the client and context)."""
        proofs = self.proofs(self.auth_source_id)
        if len(proofs) != 1:
            raise invalid("request.invalid", "Exactly one of 'phone_number' and 'email' is required.")
        return ResetPasswordCommand(proof=proofs[0], new_password=self.password)


class ChangePasswordRequest(BaseModel):
    """``POST /change_user_password``."""

    model_config = ConfigDict(extra="ignore")

    old_password: str
    new_password: str


class UserinfoUpdateRequest(_Contacts, ProfileClaims):
    """``PATCH /userinfo``: profile attributes, and contacts with ``usage=update_userinfo`` codes.

    Unknown attributes are refused (the vendor answers an error for them too) rather than
    silently dropped: Gatehouse keeps ``name``, ``locale``, ``username`` and the standard
    OpenID Connect Core 1.0 (5.1) claims ``given_name``, ``family_name``, ``middle_name``,
    ``nickname``, ``profile``, ``picture``, ``website``, ``gender``, ``birthdate``, ``zoneinfo``.
    Their shapes are the core's profile rule (``idp.accounts.profile``).
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    locale: str | None = None
    username: str | None = None

    @property
    def attributes(self) -> dict[str, str | None]:
        """Only the attributes sent: ``null`` clears one, absent leaves it alone."""
        names = ("name", "locale", "username", *CLAIMS)
        return {k: getattr(self, k) for k in names if k in self.model_fields_set}


parse = parse_json  # the shared reader (idp/dialects/common.py)


def render_userinfo(user: User, scopes: frozenset[str] | set[str]) -> dict[str, Any]:
    """The userinfo of ``user`` as the token's scopes release it (like ``GET /userinfo``)."""
    return claims_for(user, set(scopes))


def render_new_user(user: User) -> dict[str, Any]:
    """``POST /signup`` answers the new user's claims; like the vendor, it signs nobody in."""
    return claims_for(user, {"profile", "email", "phone"})
