"""ZITADEL dialect (ZITADEL auth API v1, "Add One-Time-Password (OTP) SMS" and its siblings):
the ``/auth/v1/users/me`` shapes.

The dialect translates; it never decides. Requests are parsed into pydantic models, the
blueprint makes one core call, and the result is rendered in ZITADEL's JSON (protobuf JSON
mapping: 64-bit integers as strings, timestamps as RFC 3339 with milliseconds and ``Z``,
lowerCamelCase names). Domain errors map through one table to
``{"code": <gRPC code>, "message", "details": [ErrorDetail]}`` with the HTTP status
grpc-gateway gives that code.

``resourceOwner`` is the organisation owning the user. Gatehouse has one organisation per
deployment and no setting names it, so its id is derived from the issuer: a stable decimal
string shaped like ZITADEL's snowflake ids (the same on every instance of a deployment).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import IntEnum
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import ErrorDetails

from idp.dialects.common import parse_json
from idp.errors import ErrorResponse, IdpError, Kind
from idp.factors import TotpSetup
from idp.models import Factor, Passkey, User


class Code(IntEnum):
    """gRPC status codes (google.rpc.Code)."""

    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


# grpc-gateway's runtime.HTTPStatusFromCode
HTTP_STATUS: dict[Code, int] = {
    Code.INVALID_ARGUMENT: 400,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.UNAUTHENTICATED: 401,
}

# domain code -> (gRPC code, HTTP status override or None). The vendor document leaves these
# open; four are fixed for integrators, who test for them: no/bad bearer 16 (UNAUTHENTICATED),
# unverified phone/email 9 (FAILED_PRECONDITION, 400), a second otp_sms 6 (ALREADY_EXISTS,
# 409), and a locked/disabled user 412 with code 9 (the account is not in a state to act).
ERRORS: dict[str, tuple[Code, int | None]] = {
    "bearer.invalid_token": (Code.UNAUTHENTICATED, None),
    "bearer.insufficient_scope": (Code.PERMISSION_DENIED, None),
    "request.invalid": (Code.INVALID_ARGUMENT, None),
    "factor.contact_not_verified": (Code.FAILED_PRECONDITION, None),
    "factor.exists": (Code.ALREADY_EXISTS, None),
    "factor.not_found": (Code.NOT_FOUND, None),
    "passkey.not_found": (Code.NOT_FOUND, None),
    "passkey.exists": (Code.ALREADY_EXISTS, None),
    "passkey.invalid_name": (Code.INVALID_ARGUMENT, None),
    "passkey.invalid_challenge": (Code.NOT_FOUND, None),
    "passkey.registration_failed": (Code.INVALID_ARGUMENT, None),
    # a refused passkey is the person's proof failing, not the bearer's: no WWW-Authenticate
    "passkey.authentication_failed": (Code.PERMISSION_DENIED, None),
    "passkey.sign_count_regressed": (Code.PERMISSION_DENIED, None),
    "totp.wrong_code": (Code.INVALID_ARGUMENT, None),
    "otp.unknown_token": (Code.NOT_FOUND, None),
    "otp.wrong_code": (Code.INVALID_ARGUMENT, None),
    "otp.expired_code": (Code.INVALID_ARGUMENT, None),
    "otp.too_many_failures": (Code.INVALID_ARGUMENT, None),
    "otp.mismatch": (Code.INVALID_ARGUMENT, None),
    "otp.rate_limited": (Code.RESOURCE_EXHAUSTED, None),
    "otp.quota_exhausted": (Code.RESOURCE_EXHAUSTED, None),
    "otp.delivery_failed": (Code.UNAVAILABLE, None),
    "contact.malformed_phone": (Code.INVALID_ARGUMENT, None),
    "account.not_found": (Code.NOT_FOUND, None),
    "account.abnormal_status": (Code.FAILED_PRECONDITION, 412),
    "account.locked": (Code.FAILED_PRECONDITION, 412),
    "login.captcha_required": (Code.FAILED_PRECONDITION, None),
    "account.phone_taken": (Code.ALREADY_EXISTS, None),
    "phone.not_changed": (Code.FAILED_PRECONDITION, None),
    "phone.not_pending": (Code.FAILED_PRECONDITION, None),
    "phone.not_found": (Code.NOT_FOUND, None),
    "store.unavailable": (Code.UNAVAILABLE, None),
    # the HTTP layer's own refusals, as grpc-gateway's routing errors (a wrong method is
    # UNIMPLEMENTED; the status stays 405 so that the Allow header means what it says)
    "request.not_found": (Code.NOT_FOUND, 404),
    "request.method_not_allowed": (Code.UNIMPLEMENTED, 405),
    "request.too_large": (Code.RESOURCE_EXHAUSTED, 413),
    "request.failed": (Code.INTERNAL, 500),
}

# when a code has no entry, its kind decides
BY_KIND: dict[Kind, tuple[Code, int | None]] = {
    Kind.INVALID_INPUT: (Code.INVALID_ARGUMENT, None),
    Kind.UNAUTHENTICATED: (Code.UNAUTHENTICATED, None),
    Kind.FORBIDDEN: (Code.PERMISSION_DENIED, None),
    Kind.NOT_FOUND: (Code.NOT_FOUND, None),
    Kind.WRONG_CODE: (Code.INVALID_ARGUMENT, None),
    Kind.CONFLICT: (Code.ALREADY_EXISTS, None),
    Kind.RATE_LIMITED: (Code.RESOURCE_EXHAUSTED, None),
    Kind.QUOTA_EXHAUSTED: (Code.RESOURCE_EXHAUSTED, None),
    Kind.FAILED_PRECONDITION: (Code.FAILED_PRECONDITION, None),
    Kind.CAPTCHA_REQUIRED: (Code.FAILED_PRECONDITION, None),
    Kind.USER_STATUS: (Code.FAILED_PRECONDITION, 412),
    Kind.DELIVERY_FAILED: (Code.UNAVAILABLE, None),
    Kind.UNAVAILABLE: (Code.UNAVAILABLE, None),
}

ERROR_DETAIL_TYPE = "type.googleapis.com/zitadel.v1.ErrorDetail"


def render_error(exc: IdpError) -> ErrorResponse:
    """(status, body, headers) in ZITADEL's shape for any domain error.

    Like ZITADEL, ``message`` ends with the error id in parentheses and ``details`` carries
    the id (our stable dotted code) and the bare message.
    """
    code, status = ERRORS.get(exc.code) or BY_KIND[exc.kind]
    text = exc.message or exc.code
    body = {
        "code": int(code),
        "message": f"{text} ({exc.code})",
        "details": [{"@type": ERROR_DETAIL_TYPE, "id": exc.code, "message": text}],
    }
    headers: dict[str, str] = {}
    if code is Code.UNAUTHENTICATED:  # RFC 6750 3.1
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif exc.code == "bearer.insufficient_scope":
        headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{exc.details.get("scope", "")}"'
    if exc.retry_after is not None and code is Code.RESOURCE_EXHAUSTED:
        headers["Retry-After"] = str(exc.retry_after)
    return status or HTTP_STATUS[code], body, headers


# -- requests --------------------------------------------------------------------------------
class _Request(BaseModel):
    # grpc-gateway discards unknown fields (ZITADEL's gateway is built that way)
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class EmptyRequest(_Request):
    """``AddMyAuthFactorOTPSMSRequest`` and friends: ``{}``."""


class CodeRequest(_Request):
    """``VerifyMyAuthFactorOTPRequest`` / ``VerifyMyPhoneRequest``: ``{"code": "123456"}``."""

    code: str = Field(min_length=1, max_length=200)


class SetPhoneRequest(_Request):
    """``SetMyPhoneRequest``: ``{"phone": "+8613612345678"}``."""

    phone: str = Field(min_length=1, max_length=50)


def wording(model: type[BaseModel], field: str, problem: ErrorDetails) -> str:
    """ZITADEL's validation wording: ``invalid CodeRequest.Code: ...``."""
    return f"invalid {model.__name__.removesuffix('Request')}Request.{field.title()}: {problem['msg']}"


R = TypeVar("R", bound=_Request)


def parse(model: type[R], payload: object) -> R:
    """A request model from a JSON body (a missing body is ``{}``, as grpc-gateway reads it).

    Raises request.invalid naming the field, in ZITADEL's validation wording."""
    return parse_json(model, {} if payload is None else payload, wording)


# -- responses -------------------------------------------------------------------------------
FACTOR_FIELD = {"otp_sms": "otpSms", "otp_email": "otpEmail", "totp": "otp"}
FACTOR_STATE = {"ready": "AUTH_FACTOR_STATE_READY", "not_ready": "AUTH_FACTOR_STATE_NOT_READY"}


@cache
def resource_owner(issuer: str) -> str:
    """The organisation id of this deployment, derived from the issuer (see module doc)."""
    digest = hashlib.sha256(f"gatehouse-org:{issuer}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 10)


def timestamp(value: datetime | None) -> str:
    """RFC 3339 UTC with milliseconds and ``Z`` (protobuf JSON ``Timestamp``, as in ZITADEL's
    "Add One-Time-Password (OTP) SMS" sample)."""
    value = value or datetime.now(UTC)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)  # SQLite is naive UTC
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def object_details(user: User, issuer: str, *, created: datetime | None = None) -> dict[str, Any]:
    """``zitadel.v1.ObjectDetails`` after a change to ``user``: its sequence (a string: uint64),
    the change's time as both dates (ZITADEL's ``ToObjectDetails`` does the same) unless
    ``created`` gives the object's creation, and the owning organisation."""
    changed = timestamp(user.updated_at)
    return {
        "sequence": str(user.sequence),
        "creationDate": timestamp(created) if created else changed,
        "changeDate": changed,
        "resourceOwner": resource_owner(issuer),
    }


def render_details(user: User, issuer: str) -> dict[str, Any]:
    """Every mutation's answer: ``{"details": ObjectDetails}``."""
    return {"details": object_details(user, issuer)}


def render_factors(user: User, factors: list[Factor], issuer: str) -> dict[str, Any]:
    """``ListMyAuthFactorsResponse`` (with grpc-gateway's ``ListDetails``)."""
    result = [
        {FACTOR_FIELD[f.type]: {}, "state": FACTOR_STATE.get(f.state, "AUTH_FACTOR_STATE_UNSPECIFIED")}
        for f in factors
        if f.type in FACTOR_FIELD
    ]
    return {
        "details": {
            "totalResult": str(len(result)),
            "processedSequence": str(user.sequence),
            "viewTimestamp": timestamp(None),
        },
        "result": result,
    }


def render_passwordless(user: User, passkeys: list[Passkey]) -> dict[str, Any]:
    """``ListMyPasswordlessResponse``: each passkey as a ``WebAuthNToken`` (id, state, name);
    every kept passkey is verified, so ready."""
    return {
        "details": {
            "totalResult": str(len(passkeys)),
            "processedSequence": str(user.sequence),
            "viewTimestamp": timestamp(None),
        },
        "result": [{"id": p.id, "name": p.name, "state": FACTOR_STATE["ready"]} for p in passkeys],
    }


def render_totp_setup(user: User, setup: TotpSetup, issuer: str) -> dict[str, Any]:
    """``AddMyAuthFactorOTPResponse``: the otpauth URI, the secret for manual entry, details."""
    return {"url": setup.uri, "secret": setup.secret, "details": object_details(user, issuer)}


def render_phone(phone: str | None, verified: bool, user: User, issuer: str) -> dict[str, Any]:
    """``GetMyPhoneResponse``. A user without a phone answers ``"phone": {}`` (empty message)."""
    body: dict[str, Any] = {"details": object_details(user, issuer, created=user.created_at)}
    body["phone"] = {"phone": phone, "isPhoneVerified": bool(verified)} if phone else {}
    return body
