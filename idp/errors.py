"""Typed domain errors with stable dotted codes.

Services raise ``IdpError``; each surface maps ``code`` (or, failing that, ``kind``) to its
own wire shape with one table (``idp/dialects/*.py``, ``blueprints/hosted/errors.py``), so a
rule never answers differently on two faces. ``Kind`` says what sort of failure it is, which is
all the HTTP layer needs to pick a status when a dialect has no specific mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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


def invalid(code: str, message: str = "", **details: Any) -> IdpError:
    return IdpError(code, Kind.INVALID_INPUT, message, details)


def store_unavailable(what: str) -> IdpError:
    return IdpError("store.unavailable", Kind.UNAVAILABLE, f"{what} is unavailable", {})
