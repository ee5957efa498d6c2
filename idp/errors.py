"""Typed domain errors with stable dotted codes, every code declared once (``AREAS``).

Services raise ``IdpError`` through ``error(code)`` (or ``invalid(code)`` for bad input), which
looks the code's ``Kind`` and default message up in the table below, so a raise site never
restates a kind and a code cannot be raised without being declared. Each face maps ``code``
(or, failing that, ``kind``) to its own wire shape with one table. ``Kind`` says what sort of
failure it is, which is all the HTTP layer needs to pick a status when a face has no specific
mapping. The table is grouped by area, as Ory Kratos groups its error ids: a code's area is the
part before its dot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias


class Kind(StrEnum):
    INVALID_INPUT = "invalid_input"
    UNAUTHENTICATED = "unauthenticated"  # client or bearer credentials missing/wrong
    FORBIDDEN = "forbidden"  # authenticated but not allowed
    NOT_FOUND = "not_found"  # unknown or expired token/handle/resource
    WRONG_CODE = "wrong_code"
    CONFLICT = "conflict"  # already used / already exists
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    CAPTCHA_REQUIRED = "captcha_required"  # repeated failures: prove a person is there
    FAILED_PRECONDITION = "failed_precondition"  # e.g. a factor needs a verified phone first
    USER_STATUS = "user_status"  # locked / disabled
    DELIVERY_FAILED = "delivery_failed"
    UNAVAILABLE = "unavailable"  # Redis or the database is down


@dataclass
class IdpError(Exception):
    code: str
    kind: Kind
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.code, self.message)

    @property
    def retry_after(self) -> int | None:
        value = self.details.get("retry_after")
        return int(value) if value is not None else None


# how a face answers an IdpError: (HTTP status, JSON body, headers); each face's renderer
ErrorResponse: TypeAlias = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class Declared:
    """What a code is: its kind, and the message it carries when the raise site gives none."""

    kind: Kind
    message: str


@dataclass(frozen=True)
class Area:
    """A group of codes sharing the part before the dot, and what that part of the product is."""

    about: str
    codes: Mapping[str, Declared]


# every code the domain raises, by area: what the area is, then each code's kind and default message
AREAS: dict[str, Area] = {
    "request": Area(
        "The shape of a call, before any rule: a body, parameter or header a face could not read.",
        {
            "request.invalid": Declared(Kind.INVALID_INPUT, "the request is not valid"),
            "request.missing": Declared(Kind.INVALID_INPUT, "a required parameter is missing"),
            "request.not_found": Declared(Kind.NOT_FOUND, "no such endpoint"),
            "request.method_not_allowed": Declared(Kind.INVALID_INPUT, "the endpoint does not take this method"),
            "request.too_large": Declared(Kind.INVALID_INPUT, "the request body is too large"),
            "request.failed": Declared(Kind.UNAVAILABLE, "the request could not be completed"),
        },
    ),
    "store": Area(
        "The backing stores (Redis, the SQL database): an outage answers 503 and changes nothing.",
        {
            "store.unavailable": Declared(Kind.UNAVAILABLE, "a backing store is unavailable"),
        },
    ),
    "contact": Area(
        "Phone numbers and email addresses as typed, parsed before anything is looked up.",
        {
            "contact.malformed_phone": Declared(Kind.INVALID_INPUT, "malformed phone number"),
            "contact.malformed_email": Declared(Kind.INVALID_INPUT, "malformed email address"),
            "contact.blocked_email": Declared(Kind.INVALID_INPUT, "email address is not accepted"),
        },
    ),
    "client": Area(
        "Applications: how a caller proves which one it is, and their registration.",
        {
            "client.unauthenticated": Declared(Kind.UNAUTHENTICATED, "client authentication failed"),
            "client.unknown": Declared(Kind.UNAUTHENTICATED, "unknown application"),
            "client.exists": Declared(Kind.CONFLICT, "client_id is already used"),
            "client.not_found": Declared(Kind.NOT_FOUND, "no such application"),
            "client.invalid_type": Declared(Kind.INVALID_INPUT, "invalid application type"),
            "client.invalid_login_methods": Declared(Kind.INVALID_INPUT, "invalid login methods"),
            "client.invalid_mfa": Declared(Kind.INVALID_INPUT, "invalid mfa policy"),
            "client.invalid_remember_device_days": Declared(
                Kind.INVALID_INPUT, "remember_device_days must be 0 to 365"
            ),
            "client.invalid_grant_types": Declared(Kind.INVALID_INPUT, "unsupported grant type"),
            "client.unknown_auth_source": Declared(Kind.INVALID_INPUT, "unknown auth sources"),
            "client.invalid_alg": Declared(Kind.INVALID_INPUT, "unsupported token signing algorithm"),
            # -- back-channel logout (OpenID Connect Back-Channel Logout 1.0, 2.2)
            "client.invalid_backchannel_logout_uri": Declared(
                Kind.INVALID_INPUT, "backchannel_logout_uri must be an absolute http(s) URI without a fragment"
            ),
            # -- end of back-channel logout
        },
    ),
    "auth_source": Area(
        "Auth sources (a channel with its code length and lifetime): their registration.",
        {
            "auth_source.exists": Declared(Kind.CONFLICT, "id is already used"),
            "auth_source.not_found": Declared(Kind.NOT_FOUND, "no such auth source"),
            "auth_source.in_use": Declared(Kind.CONFLICT, "an application still uses the auth source"),
            "auth_source.invalid_kind": Declared(Kind.INVALID_INPUT, "kind must be sms or email"),
            "auth_source.invalid_code_length": Declared(Kind.INVALID_INPUT, "code_length must be 4 to 10"),
            "auth_source.invalid_code_ttl": Declared(Kind.INVALID_INPUT, "code_ttl must be 30 to 900 seconds"),
        },
    ),
    "otp": Area(
        "One-time codes: sending (usage, limits, quota, delivery) and checking (budget, single use).",
        {
            "otp.invalid_usage": Declared(Kind.INVALID_INPUT, "unsupported usage"),
            "otp.auth_source_required": Declared(Kind.INVALID_INPUT, "auth_source_id is required for login"),
            "otp.invalid_auth_source": Declared(Kind.FORBIDDEN, "auth source and application not associated"),
            "otp.rate_limited": Declared(Kind.RATE_LIMITED, "rate limit exceeded"),
            "otp.quota_exhausted": Declared(Kind.QUOTA_EXHAUSTED, "quota exhausted"),
            "otp.delivery_failed": Declared(Kind.DELIVERY_FAILED, "Failed to send OTP. Please try again later."),
            "otp.unknown_token": Declared(Kind.NOT_FOUND, "unknown or expired otp_token"),
            "otp.mismatch": Declared(Kind.INVALID_INPUT, "otp_token was sent for other parameters"),
            "otp.wrong_code": Declared(Kind.WRONG_CODE, "wrong code"),
            "otp.expired_code": Declared(Kind.WRONG_CODE, "the code has expired"),
            "otp.too_many_failures": Declared(Kind.WRONG_CODE, "too many wrong codes"),
        },
    ),
    "captcha": Area(
        "Image captchas, which the brute-force policy asks for after repeated failures.",
        {
            "captcha.wrong_answer": Declared(Kind.WRONG_CODE, "wrong captcha answer"),
            "captcha.unknown_token": Declared(Kind.NOT_FOUND, "unknown, used or expired captcha token"),
            "captcha.rate_limited": Declared(Kind.RATE_LIMITED, "too many captchas requested"),
        },
    ),
    "login": Area(
        "Signing in with a first factor: credentials, the application's login methods, the captcha.",
        {
            "login.invalid_credentials": Declared(Kind.UNAUTHENTICATED, "wrong username or password"),
            "login.method_disabled": Declared(Kind.FORBIDDEN, "the login method is not enabled for this application"),
            "login.captcha_required": Declared(Kind.CAPTCHA_REQUIRED, "too many failed attempts: solve a captcha"),
        },
    ),
    "account": Area(
        "User accounts: lookup, status, unique contacts and usernames, the profile rule.",
        {
            "account.not_found": Declared(Kind.NOT_FOUND, "no such user"),
            "account.user_not_found": Declared(Kind.NOT_FOUND, "User not found"),  # no account uses the contact
            "account.abnormal_status": Declared(Kind.USER_STATUS, "Abnormal user status"),  # locked or disabled
            "account.locked": Declared(Kind.USER_STATUS, "Abnormal user status"),  # temporarily, after failures
            "account.phone_taken": Declared(Kind.CONFLICT, "phone_number is already used"),
            "account.email_taken": Declared(Kind.CONFLICT, "email is already used"),
            "account.username_taken": Declared(Kind.CONFLICT, "username is already used"),
            "account.conflict": Declared(Kind.CONFLICT, "user already exists"),
            "account.invalid_field": Declared(Kind.INVALID_INPUT, "this field cannot be changed"),
            "account.invalid_status_value": Declared(Kind.INVALID_INPUT, "unknown status"),
            "account.invalid_email_verified": Declared(Kind.INVALID_INPUT, "email_verified cannot be null"),
            "account.invalid_phone_verified": Declared(Kind.INVALID_INPUT, "phone_verified cannot be null"),
            "account.invalid_username": Declared(
                Kind.INVALID_INPUT, "username must be 2-48 letters, digits or -_.:+@, starting with a letter or digit"
            ),
            "account.invalid_name": Declared(Kind.INVALID_INPUT, "invalid name"),
            "account.invalid_given_name": Declared(Kind.INVALID_INPUT, "invalid given_name"),
            "account.invalid_family_name": Declared(Kind.INVALID_INPUT, "invalid family_name"),
            "account.invalid_middle_name": Declared(Kind.INVALID_INPUT, "invalid middle_name"),
            "account.invalid_nickname": Declared(Kind.INVALID_INPUT, "invalid nickname"),
            "account.invalid_gender": Declared(Kind.INVALID_INPUT, "invalid gender"),
            "account.invalid_locale": Declared(Kind.INVALID_INPUT, "locale must be a language tag such as zh-CN or en"),
            "account.invalid_profile": Declared(Kind.INVALID_INPUT, "invalid profile URL"),
            "account.invalid_picture": Declared(Kind.INVALID_INPUT, "invalid picture URL"),
            "account.invalid_website": Declared(Kind.INVALID_INPUT, "invalid website URL"),
            "account.invalid_birthdate": Declared(
                Kind.INVALID_INPUT, "birthdate must be a real date as YYYY-MM-DD, 0000-MM-DD or YYYY"
            ),
            "account.invalid_zoneinfo": Declared(
                Kind.INVALID_INPUT, "zoneinfo must be an IANA time zone such as Asia/Shanghai"
            ),
        },
    ),
    "password": Area(
        "Passwords: the policy a new one must meet, and the check of the current one.",
        {
            "password.too_short": Declared(Kind.INVALID_INPUT, "the password is too short"),
            "password.too_long": Declared(Kind.INVALID_INPUT, "the password is too long"),
            "password.too_common": Declared(Kind.INVALID_INPUT, "this password is too common; choose another"),
            "password.same_as_old": Declared(Kind.INVALID_INPUT, "the new password is the same as the current one"),
            "password.mismatch": Declared(Kind.WRONG_CODE, "the current password is wrong"),
            "password.not_set": Declared(Kind.FAILED_PRECONDITION, "password not set"),
        },
    ),
    "phone": Area(
        "A person's phone number, changed and verified with a code (ZITADEL auth API).",
        {
            "phone.not_found": Declared(Kind.NOT_FOUND, "the user has no phone number"),
            "phone.not_changed": Declared(Kind.FAILED_PRECONDITION, "the phone number is already verified"),
            "phone.not_pending": Declared(Kind.FAILED_PRECONDITION, "no phone number awaits verification"),
        },
    ),
    "signup": Area(
        "Creating an account.",
        {
            "signup.identifier_required": Declared(
                Kind.INVALID_INPUT, "a username and password, or a phone number or email with a code, are required"
            ),
        },
    ),
    "verification": Area(
        "Tencent CloudBase verification tokens: a checked code, spent once by a sign-in, sign-up or reset.",
        {
            "verification.invalid_token": Declared(Kind.INVALID_INPUT, "unknown, used or expired verification_token"),
        },
    ),
    "mfa": Area(
        "The second step of a sign-in: the state token between the steps and the factors it offers.",
        {
            "mfa.invalid_state_token": Declared(Kind.NOT_FOUND, "unknown, used or expired state token"),
            "mfa.invalid_channel": Declared(Kind.INVALID_INPUT, "channel must be sms or email"),
            "mfa.target_mismatch": Declared(Kind.INVALID_INPUT, "that is not the number of this account"),
            "mfa.factor_not_allowed": Declared(Kind.FAILED_PRECONDITION, "this factor cannot be used here"),
            "mfa.no_factor": Declared(Kind.FAILED_PRECONDITION, "no usable second factor"),
            "mfa.required": Declared(Kind.FAILED_PRECONDITION, "the application requires a second factor"),
        },
    ),
    "factor": Area(
        "Second factors: enrolling and removing them.",
        {
            "factor.not_found": Declared(Kind.NOT_FOUND, "no such factor"),
            "factor.exists": Declared(Kind.CONFLICT, "the factor is already set up"),
            "factor.invalid_type": Declared(Kind.INVALID_INPUT, "channel must be sms or email"),
            "factor.contact_not_verified": Declared(Kind.FAILED_PRECONDITION, "a verified contact is needed first"),
        },
    ),
    "passkey": Area(
        "Passkeys (Web Authentication Level 3): registering them, signing in with them, removing them.",
        {
            "passkey.invalid_challenge": Declared(Kind.NOT_FOUND, "unknown, used or expired passkey challenge"),
            "passkey.registration_failed": Declared(Kind.INVALID_INPUT, "the passkey could not be verified"),
            "passkey.authentication_failed": Declared(Kind.UNAUTHENTICATED, "the passkey could not be verified"),
            "passkey.sign_count_regressed": Declared(
                Kind.UNAUTHENTICATED, "the passkey's signature counter went back: the authenticator may be cloned"
            ),
            "passkey.exists": Declared(Kind.CONFLICT, "this passkey is already registered"),
            "passkey.not_found": Declared(Kind.NOT_FOUND, "no such passkey"),
            "passkey.invalid_name": Declared(Kind.INVALID_INPUT, "a passkey's name is at most 64 characters"),
        },
    ),
    "totp": Area(
        "Authenticator-app codes (RFC 6238).",
        {
            "totp.wrong_code": Declared(Kind.WRONG_CODE, "wrong code"),
        },
    ),
    "recovery": Area(
        "Recovery codes: single-use second factors for a lost device.",
        {
            "recovery.wrong_code": Declared(Kind.WRONG_CODE, "wrong recovery code"),
        },
    ),
    "device": Area(
        "Remembered devices, which skip the second step for a while.",
        {
            "device.not_found": Declared(Kind.NOT_FOUND, "no such device"),
        },
    ),
    "key": Area(
        "Token signing keys: one per algorithm (RS256, ES256, EdDSA), rotated on demand.",
        {
            "key.invalid_alg": Declared(Kind.INVALID_INPUT, "unsupported signing algorithm"),
        },
    ),
    "bearer": Area(
        "Bearer access tokens presented to an API (RFC 6750).",
        {
            "bearer.invalid_token": Declared(Kind.UNAUTHENTICATED, "The access token is invalid."),
            "bearer.insufficient_scope": Declared(Kind.FORBIDDEN, "The access token lacks the needed scope."),
        },
    ),
    "token": Area(
        "Refresh tokens: rotation and reuse detection (OAuth 2.0 Security BCP 4.14.2).",
        {
            "token.reused": Declared(Kind.CONFLICT, "The refresh token was already used."),
        },
    ),
    "oauth": Area(
        "OAuth 2.0 and OpenID Connect requests: the claims parameter (OpenID Connect Core 1.0 5.5), "
        "and the token endpoint's own errors (RFC 6749 5.2) carried through a face.",
        {
            "oauth.invalid_claims": Declared(Kind.INVALID_INPUT, "The 'claims' parameter is not valid."),
            "oauth.error": Declared(Kind.INVALID_INPUT, "invalid_request"),
        },
    ),
    "authz": Area(
        "A pending authorization request (OpenID Connect Core 1.0 3.1.2) the hosted pages work on.",
        {
            "authz.expired": Declared(Kind.NOT_FOUND, "the sign-in request expired; start again"),
        },
    ),
    "sso": Area(
        "SSO sessions and the one-time tickets that stand for them (Huawei OneAccess).",
        {
            "sso.invalid_session_token": Declared(Kind.NOT_FOUND, "unknown or ended session_token"),
            "sso.invalid_ticket": Declared(Kind.NOT_FOUND, "unknown, used or expired sso_ticket"),
        },
    ),
    "admin": Area(
        "Who may call the admin API.",
        {
            "admin.unauthenticated": Declared(Kind.UNAUTHENTICATED, "admin bearer token required"),
            "admin.insufficient_scope": Declared(Kind.FORBIDDEN, "The access token lacks the admin scope."),
            "admin.forbidden": Declared(Kind.FORBIDDEN, "not allowed to call the admin API"),
        },
    ),
    # -- sign in with another identity provider ------------------------------------------------
    "federation": Area(
        "Upstream identity providers (Gatehouse as a relying party): their registration, the "
        "sign-in through them, and the links between their people and ours.",
        {
            "federation.invalid_config": Declared(Kind.INVALID_INPUT, "invalid identity provider settings"),
            "federation.denied": Declared(Kind.FORBIDDEN, "the identity provider did not sign you in"),
            "federation.invalid_response": Declared(
                Kind.UNAUTHENTICATED, "the identity provider's answer could not be trusted"
            ),
            "federation.unavailable": Declared(Kind.UNAVAILABLE, "the identity provider is unavailable"),
            "federation.not_found": Declared(Kind.NOT_FOUND, "no such identity provider"),
            "federation.in_use": Declared(Kind.CONFLICT, "an application still offers the identity provider"),
            "federation.unknown_provider": Declared(Kind.INVALID_INPUT, "unknown identity providers"),
            "federation.not_offered": Declared(Kind.FORBIDDEN, "the application does not offer this identity provider"),
            "federation.invalid_state": Declared(Kind.NOT_FOUND, "unknown, used or expired sign-in; start again"),
            "federation.link_not_found": Declared(Kind.NOT_FOUND, "no such linked account"),
            "federation.link_required": Declared(
                Kind.CONFLICT,
                "an account already has this email address: sign in to it and link the identity provider there",
            ),
            "federation.redirect_uri_mismatch": Declared(
                Kind.INVALID_INPUT, "redirect_uri is not one of the application's registered redirect URIs"
            ),
            "federation.invalid_provider_token": Declared(
                Kind.INVALID_INPUT, "the provider_token is invalid, used or expired"
            ),
            "federation.last_way_in": Declared(
                Kind.FAILED_PRECONDITION, "this linked account is your only way to sign in"
            ),
        },
    ),
    # -- end of sign in with another identity provider -----------------------------------------
}

# every declared code, flat
CODES: dict[str, Declared] = {code: declared for area in AREAS.values() for code, declared in area.codes.items()}


def declared(code: str) -> Declared:
    """Raises LookupError for a code the table does not declare (a programming error)."""
    try:
        return CODES[code]
    except KeyError:
        raise LookupError(f"undeclared error code {code!r}: declare it in idp.errors.AREAS") from None


def error(code: str, message: str | None = None, **details: Any) -> IdpError:
    """The error ``code`` names, with its declared kind; ``message`` replaces the default."""
    entry = declared(code)
    return IdpError(code, entry.kind, entry.message if message is None else message, details)


def invalid(code: str, message: str | None = None, **details: Any) -> IdpError:
    """``error`` for a code declared as bad input (``Kind.INVALID_INPUT``)."""
    if declared(code).kind is not Kind.INVALID_INPUT:
        raise LookupError(f"{code!r} is not declared as invalid input")
    return error(code, message, **details)


def store_unavailable(what: str) -> IdpError:
    return error("store.unavailable", f"{what} is unavailable")
