"""Tencent CloudBase dialect (CloudBase "User Login API", the ``/auth/v1`` HTTP API): request
models, renderers, errors.

The dialect translates; it never decides. Codes, tokens, sign-in, sign-up and reset rules live
in ``VerificationService``, ``LoginFlow``, ``CaptchaService`` and the OAuth grants.

Wire details the "User Login API" document leaves open, chosen here (field names are those of
Tencent's ``@cloudbase/oauth`` SDK):

- Every call but ``GET /auth/v1/user/me`` (Bearer) identifies the application with HTTP Basic
  ``base64(url_encode(client_id):url_encode(client_secret))``, an empty secret for public
  clients (fixed for integrators: the SDK and scripts send it so); a ``client_id`` in the body
  is ignored. Bodies are JSON; unknown fields are ignored.
- ``POST /verification`` ``{phone_number | email, target?: ANY|USER|NOT_USER, usage?}`` →
  ``{verification_id, expires_in, is_user}``. ``usage`` is the SDK's ``SIGN_IN``, ``REGISTER``,
  ``PASSWORD_RESET``, ``EMAIL_ADDRESS_CHANGE``, ``PHONE_NUMBER_CHANGE``; without it a
  ``NOT_USER`` code is a sign-up code and any other a sign-in code. ``USER`` for an unknown
  contact is 404 ``not_found``; ``NOT_USER`` for a registered one 409 ``already_exists``.
  ``phone_number`` may be ``+86 13612345678``, E.164 or national.
- ``POST /verification/verify`` ``{verification_id, verification_code}`` →
  ``{verification_token, expires_in: 600}``.
- ``POST /signin``: ``{username, password}`` or ``{verification_token}`` → the token response
  ``{token_type, access_token, refresh_token, expires_in, sub}`` (the document's order). A solved
  captcha travels in ``x-captcha-token`` (or the SDK's ``?captcha_token=``). An application
  whose MFA policy asks for a second factor gets 400 ``two_factor_required`` (the hosted pages
  and the OIDC flow carry MFA; this face has no second-factor step).
- ``POST /signup`` ``{verification_token, phone_number?|email?, username?, password?, name?,
  locale?}`` → the token response (CloudBase signs the new user in).
- ``POST /reset`` ``{verification_token, new_password, phone_number?|email?}`` → ``{}``.
- ``POST /token`` ``{grant_type, ...}``: ``refresh_token`` (rotated, reuse revokes the family),
  ``authorization_code``, ``client_credentials`` through the OAuth server, ``password`` as
  ``/signin``; answered in the token-response shape (+ ``scope``, ``id_token`` when issued).
- ``GET /user/me`` → ``{sub, name, username, email, email_verified, phone_number, locale}``
  (absent values omitted; ``phone_number`` in CloudBase's ``+86 13612345678`` form).
- ``POST /captcha/data`` → ``{token, data, expires_in}`` (``data``: a PNG ``data:`` URI);
  ``POST /captcha/data/verify`` ``{token, key}`` → ``{captcha_token, expires_in}``.
- Every response carries ``X-Request-Id`` (the request's, when it is a plain token, else a UUID4),
  as every face's does (blueprints/ops.py).

Errors: ``{"error", "error_code", "error_description"}``; ``error_code`` is the gRPC status number
of the error's nature (CloudBase's ``error`` strings are gRPC names plus named errors):

| HTTP | error                          | error_code | when                                       |
| ---- | ------------------------------ | ---------- | ------------------------------------------ |
| 400  | invalid_argument               | 3          | bad input, unknown/used verification_token |
| 400  | not_found                      | 5          | unknown or expired verification_id         |
| 400  | invalid_verification_code      | 3          | wrong, expired or exhausted code           |
| 400  | invalid_username_or_password   | 16         | wrong username or password                 |
| 400  | captcha_required               | 9          | too many failures: solve a captcha         |
| 400  | captcha_invalid                | 3          | wrong answer / unknown captcha token       |
| 400  | password_not_set               | 9          | the user has no password                   |
| 400  | invalid_status                 | 9          | the account is locked (too many failures,  |
|      |                                |            | temporary) or disabled                     |
| 400  | invalid_password               | 3          | the new password breaks the policy         |
| 400  | two_factor_required            | 9          | the application requires MFA               |
| 400  | invalid_grant, invalid_request…| 3          | OAuth errors of ``/token`` (RFC 6749 5.2)  |
| 401  | unauthenticated                | 16         | client or bearer authentication failed     |
| 403  | permission_denied              | 7          | not allowed (e.g. token lacks ``openid``)  |
| 404  | not_found                      | 5          | no user for the contact                    |
| 404  | not_found                      | 5          | no such endpoint under ``/auth/v1``        |
| 405  | unimplemented                  | 12         | the endpoint does not take the method      |
| 409  | already_exists                 | 6          | phone, email or username already used      |
| 413  | invalid_argument               | 3          | the body is over the size limit            |
| 429  | resource_exhausted             | 8          | send limits, quota, captcha images per IP; |
|      |                                |            | ``Retry-After``                            |
| 500  | internal                       | 13         | an unexpected failure (never a store outage)|
| 501  | unimplemented                  | 12         | login method disabled for the application  |
| 503  | unavailable                    | 14         | delivery failed, Redis or database down    |
"""

from __future__ import annotations

from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

from idp.accounts.profile import check_username
from idp.dialects.common import parse_json
from idp.errors import ErrorResponse, IdpError, Kind, error, invalid
from idp.flows.provider_tokens import ProviderGrant
from idp.flows.verification import Issued, Sent
from idp.guard.captcha import CaptchaChallenge
from idp.models import User
from idp.oauth.issuer import TokenResponse

# gRPC status numbers
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 3, 5, 6, 7
RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 8, 9, 12, 13, 14, 16

_BAD_CODE = (400, "invalid_verification_code", INVALID_ARGUMENT)
_INVALID_PASSWORD = (400, "invalid_password", INVALID_ARGUMENT)
_INVALID_STATUS = (400, "invalid_status", FAILED_PRECONDITION)
_DISABLED = (501, "unimplemented", UNIMPLEMENTED)
_TAKEN = (409, "already_exists", ALREADY_EXISTS)

# domain code -> (HTTP status, error, error_code)
ERRORS: dict[str, tuple[int, str, int]] = {
    "verification.invalid_token": (400, "invalid_argument", INVALID_ARGUMENT),
    "otp.unknown_token": (400, "not_found", NOT_FOUND),
    "otp.wrong_code": _BAD_CODE,
    "otp.expired_code": _BAD_CODE,
    "otp.too_many_failures": _BAD_CODE,
    "otp.mismatch": (400, "invalid_argument", INVALID_ARGUMENT),
    "login.invalid_credentials": (400, "invalid_username_or_password", UNAUTHENTICATED),
    "login.captcha_required": (400, "captcha_required", FAILED_PRECONDITION),
    "captcha.wrong_answer": (400, "captcha_invalid", INVALID_ARGUMENT),
    "captcha.unknown_token": (400, "captcha_invalid", INVALID_ARGUMENT),
    "password.not_set": (400, "password_not_set", FAILED_PRECONDITION),
    "password.too_short": _INVALID_PASSWORD,
    "password.too_long": _INVALID_PASSWORD,
    "password.too_common": _INVALID_PASSWORD,
    "account.abnormal_status": _INVALID_STATUS,
    "account.locked": _INVALID_STATUS,
    "mfa.required": (400, "two_factor_required", FAILED_PRECONDITION),
    "login.method_disabled": _DISABLED,
    "otp.auth_source_required": _DISABLED,
    "otp.invalid_auth_source": _DISABLED,
    "account.user_not_found": (404, "not_found", NOT_FOUND),
    "account.not_found": (404, "not_found", NOT_FOUND),
    "account.phone_taken": _TAKEN,
    "account.email_taken": _TAKEN,
    "account.username_taken": _TAKEN,
    "client.unauthenticated": (401, "unauthenticated", UNAUTHENTICATED),
    # signing in through another identity provider (the "Third-party login" calls)
    "federation.invalid_provider_token": (400, "invalid_argument", INVALID_ARGUMENT),
    "federation.redirect_uri_mismatch": (400, "invalid_argument", INVALID_ARGUMENT),
    "federation.invalid_response": (400, "invalid_argument", INVALID_ARGUMENT),
    "federation.denied": (403, "permission_denied", PERMISSION_DENIED),
    "federation.not_offered": (403, "permission_denied", PERMISSION_DENIED),
    "federation.link_required": _TAKEN,
    "bearer.invalid_token": (401, "unauthenticated", UNAUTHENTICATED),
    "bearer.insufficient_scope": (403, "permission_denied", PERMISSION_DENIED),
    # the HTTP layer's own refusals: an unknown address, a method the route does not take, a
    # body over the size limit, an unexpected failure
    "request.not_found": (404, "not_found", NOT_FOUND),
    "request.method_not_allowed": (405, "unimplemented", UNIMPLEMENTED),
    "request.too_large": (413, "invalid_argument", INVALID_ARGUMENT),
    "request.failed": (500, "internal", INTERNAL),
}

# when a code has no entry, its kind decides
BY_KIND: dict[Kind, tuple[int, str, int]] = {
    Kind.INVALID_INPUT: (400, "invalid_argument", INVALID_ARGUMENT),
    Kind.UNAUTHENTICATED: (401, "unauthenticated", UNAUTHENTICATED),
    Kind.FORBIDDEN: (403, "permission_denied", PERMISSION_DENIED),
    Kind.NOT_FOUND: (404, "not_found", NOT_FOUND),
    Kind.WRONG_CODE: (400, "invalid_argument", INVALID_ARGUMENT),
    Kind.CONFLICT: (409, "already_exists", ALREADY_EXISTS),
    Kind.RATE_LIMITED: (429, "resource_exhausted", RESOURCE_EXHAUSTED),
    Kind.QUOTA_EXHAUSTED: (429, "resource_exhausted", RESOURCE_EXHAUSTED),
    Kind.FAILED_PRECONDITION: (400, "failed_precondition", FAILED_PRECONDITION),
    Kind.CAPTCHA_REQUIRED: (400, "captcha_required", FAILED_PRECONDITION),
    Kind.USER_STATUS: _INVALID_STATUS,
    Kind.DELIVERY_FAILED: (503, "unavailable", UNAVAILABLE),
    Kind.UNAVAILABLE: (503, "unavailable", UNAVAILABLE),
}

# RFC 6749 5.2 errors of POST /token (Authlib's), under their own names
OAUTH_CODES = {
    "invalid_client": UNAUTHENTICATED,
    "unauthorized_client": PERMISSION_DENIED,
    "unsupported_grant_type": UNIMPLEMENTED,
    "access_denied": PERMISSION_DENIED,
}

DESCRIPTIONS = {
    "login.invalid_credentials": "Incorrect username or password.",
    "login.captcha_required": "Too many login attempts: a captcha is required.",
    "password.not_set": "The user has not set a password.",
    "account.abnormal_status": "The account is locked or disabled.",
    "account.locked": "Account locked due to too many retries, please try again later.",
    "captcha.rate_limited": "Too many captchas requested from this address, please try again later.",
    "login.method_disabled": "This login method is not enabled for the application.",
    "verification.invalid_token": "The verification_token is invalid, used or expired.",
}


def render_error(exc: IdpError) -> ErrorResponse:
    """(status, body, headers) in the CloudBase shape for any domain error."""
    headers: dict[str, str] = {}
    if exc.code == "oauth.error":  # an Authlib error of POST /token, passed through by name
        name = exc.details["error"]
        status, error_code = exc.details["status"], OAUTH_CODES.get(name, INVALID_ARGUMENT)
    else:
        status, name, error_code = ERRORS.get(exc.code) or BY_KIND[exc.kind]
    if exc.code == "bearer.invalid_token":
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if exc.retry_after is not None and status == 429:
        headers["Retry-After"] = str(exc.retry_after)
    description = DESCRIPTIONS.get(exc.code) or exc.message or name
    return status, {"error": name, "error_code": error_code, "error_description": description}, headers


def oauth_failure(name: str, description: str | None, status: int) -> IdpError:
    """An Authlib error of ``POST /token`` (RFC 6749 5.2), carried to this face's renderer by name."""
    return error("oauth.error", description or name, error=name, status=status)


def two_factor_required() -> IdpError:
    return error("mfa.required")


# -- bodies --------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


USAGES = {
    "SIGN_IN": "login",
    "REGISTER": "signup",
    "PASSWORD_RESET": "reset_password",
    "EMAIL_ADDRESS_CHANGE": "update_userinfo",
    "PHONE_NUMBER_CHANGE": "update_userinfo",
}


class _Contact(_Body):
    phone_number: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=320)

    def one_contact(self) -> tuple[str, str]:
        """(channel, raw target). Raises request.invalid unless exactly one is given."""
        if bool(self.phone_number) == bool(self.email):
            raise invalid("request.invalid", "Exactly one of 'phone_number' and 'email' is required.")
        return ("sms", self.phone_number) if self.phone_number else ("email", self.email or "")


class VerificationRequest(_Contact):
    target: Literal["ANY", "USER", "NOT_USER"] = "ANY"
    usage: Literal["SIGN_IN", "REGISTER", "PASSWORD_RESET", "EMAIL_ADDRESS_CHANGE", "PHONE_NUMBER_CHANGE"] | None = None

    @property
    def otp_usage(self) -> str:
        if self.usage:
            return USAGES[self.usage]
        return "signup" if self.target == "NOT_USER" else "login"


class VerifyRequest(_Body):
    verification_id: str = Field(min_length=1, max_length=256)
    verification_code: str = Field(min_length=1, max_length=32)


class SigninRequest(_Body):
    """CloudBase "User Login API": exactly one of username + password, or verification_token."""

    username: str | None = None
    password: str | None = Field(default=None, max_length=4096)
    verification_token: str | None = Field(default=None, max_length=256)

    def mode(self) -> Literal["password", "verification_token"]:
        """Raises request.invalid for both modes, neither, or a username the document's rules
        refuse (2-48 characters: letters, digits, ``-_.:+@``, starting with a letter or digit)."""
        by_password = self.username is not None or self.password is not None
        if by_password == bool(self.verification_token):
            raise invalid(
                "request.invalid", "Give either 'username' and 'password', or 'verification_token' (exactly one)."
            )
        if not by_password:
            return "verification_token"
        if not self.username or not self.password:
            raise invalid("request.invalid", "Both 'username' and 'password' are required.")
        check_username(self.username)
        return "password"


class SignupRequest(_Contact):
    verification_token: str = Field(min_length=1, max_length=256)
    username: str | None = None
    password: str | None = Field(default=None, max_length=4096)
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=16)

    @property
    def contact(self) -> str | None:
        if self.phone_number and self.email:
            raise invalid("request.invalid", "Only one of 'phone_number' and 'email' can be given.")
        return self.phone_number or self.email

    @property
    def profile(self) -> dict[str, str | None]:
        return {"name": self.name, "locale": self.locale}


class ResetRequest(_Contact):
    verification_token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(max_length=4096)

    @property
    def contact(self) -> str | None:
        if self.phone_number and self.email:
            raise invalid("request.invalid", "Only one of 'phone_number' and 'email' can be given.")
        return self.phone_number or self.email


class ProviderUriRequest(_Body):
    """``/provider/uri`` (CloudBase HTTP API, "Generate the provider redirect URI"): query
    parameters in the SDKs' GET, or the same names in a JSON body."""

    provider_id: str = Field(min_length=1, max_length=64)
    redirect_uri: str | None = Field(default=None, max_length=2048)
    state: str | None = Field(default=None, max_length=512)
    scope: str | None = Field(default=None, max_length=512)  # the provider's registered scopes are asked
    response_type: Literal["code"] = "code"


class ProviderTokenRequest(_Body):
    """``POST /provider/token`` ("Grant a provider token"): the code the provider sent to
    ``provider_redirect_uri``. A provider's own access or ID token is not taken in exchange:
    Gatehouse only trusts what it fetched from the provider itself."""

    provider_id: str = Field(min_length=1, max_length=64)
    provider_code: str = Field(min_length=1, max_length=2048)
    provider_redirect_uri: str | None = Field(default=None, max_length=2048)


class SigninWithProviderRequest(_Body):
    """``POST /signin/with/provider`` ("Sign in with a provider token")."""

    provider_token: str = Field(min_length=1, max_length=256)
    force_disable_sign_up: bool = False
    sync_profile: bool = False


class TokenRequest(BaseModel):
    """``POST /token``: the OAuth parameters, passed to the OAuth server as they are."""

    model_config = ConfigDict(extra="allow")

    grant_type: Literal["refresh_token", "password", "client_credentials", "authorization_code"]
    username: str | None = None
    password: str | None = None

    def oauth_params(self, client_id: str) -> dict[str, Any]:
        """The body as the token endpoint reads it; the Basic-authenticated client names itself
        (a public client's ``client_id:`` header carries no secret for Authlib to read)."""
        params = {k: v for k, v in self.model_dump().items() if v is not None and k != "client_secret"}
        return {**params, "client_id": client_id}


class CaptchaVerifyRequest(_Body):
    token: str = Field(min_length=1, max_length=256)
    key: str = Field(min_length=1, max_length=16)


parse = parse_json  # the shared reader (idp/dialects/common.py)


# -- results -------------------------------------------------------------------------------
def render_sent(sent: Sent) -> dict[str, Any]:
    return {"verification_id": sent.verification_id, "expires_in": sent.expires_in, "is_user": sent.is_user}


def render_verified(issued: Issued) -> dict[str, Any]:
    return {"verification_token": issued.verification_token, "expires_in": issued.expires_in}


def render_provider_uri(uri: str) -> dict[str, Any]:
    return {"uri": uri}


def render_provider_token(grant: ProviderGrant) -> dict[str, Any]:
    """``provider_profile`` as the "Grant a provider token" answer names its members."""
    person = grant.person
    profile: dict[str, Any] = {"provider_id": grant.provider_id, "sub": person.subject}
    optional = (("name", person.name), ("picture", person.picture), ("email", person.email))
    profile.update({name: value for name, value in optional if value})
    return {"provider_token": grant.provider_token, "expires_in": grant.expires_in, "provider_profile": profile}


def render_token(token: TokenResponse, sub: str) -> dict[str, Any]:
    """The "User Login API" order: token_type, access_token, refresh_token, expires_in, sub;
    then what the OAuth server added (``scope``, ``id_token``) when a client asked ``/token``
    for it."""
    body: dict[str, Any] = {"token_type": token.get("token_type", "Bearer"), "access_token": token["access_token"]}
    if token.get("refresh_token"):
        body["refresh_token"] = token["refresh_token"]
    body.update(expires_in=token["expires_in"], sub=sub)
    return body


def render_token_extras(token: TokenResponse, sub: str) -> dict[str, Any]:
    body = render_token(token, sub)
    body.update({k: token[k] for k in ("scope", "id_token") if token.get(k)})
    return body


def cloudbase_phone(e164: str | None) -> str | None:
    """``+8613612345678`` → ``+86 13612345678`` (how CloudBase writes numbers)."""
    if not e164:
        return None
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return f"+{number.country_code} {number.national_number}"


def render_user(user: User) -> dict[str, Any]:
    info = {
        "sub": user.sub,
        "name": user.name,
        "username": user.username,
        "email": user.email,
        "email_verified": bool(user.email_verified) if user.email else None,
        "phone_number": cloudbase_phone(user.phone_number),
        "locale": user.locale,
    }
    return {k: v for k, v in info.items() if v is not None}


def render_captcha(challenge: CaptchaChallenge) -> dict[str, Any]:
    return {"token": challenge.token, "data": challenge.image_data_uri, "expires_in": challenge.expires_in}


def render_captcha_token(captcha_token: str, expires_in: int) -> dict[str, Any]:
    return {"captcha_token": captcha_token, "expires_in": expires_in}
