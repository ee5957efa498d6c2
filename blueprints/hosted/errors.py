"""The HTML face of ``IdpError``: the one table that turns a domain error code into a message
on a field or a full error page.

Errors about what someone typed go next to the field (``attach``); errors about the whole
request (store down, locked account, expired sign-in, method not offered) get a full error
page. The handlers are the blueprint's own, so the JSON surfaces keep their JSON.
"""

from __future__ import annotations

import logging
import math
from typing import Any, NamedTuple

import redis
from flask import render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from blueprints.errors import STATUS
from blueprints.hosted.base import bp
from idp import metrics
from idp.errors import IdpError, Kind

log = logging.getLogger("gatehouse")


class WholePage(NamedTuple):
    """An error about the whole request: its own page (``hosted/error.html``)."""

    title: Any
    message: Any  # a message, or a function of the error giving one


def rate_limited(retry_after: int | None):
    return _l("Too many codes requested. You can request a new code in %(seconds)s s", seconds=retry_after or 60)


def locked(retry_after: int | None):
    """A temporary lock after too many failures (``account.locked``): when to try again, in
    whole minutes rounded up. A lock set by an administrator is ``account.abnormal_status``
    and keeps the "Account unavailable" page."""
    minutes = max(1, math.ceil((retry_after or 60) / 60))
    if minutes == 1:
        return _l("Too many failed attempts. Try again in 1 minute.")
    return _l("Too many failed attempts. Try again in %(minutes)s minutes.", minutes=minutes)


def _captcha_rate_limited(exc: IdpError):
    """Images drawn for one IP (``BruteForceGuard.new_captcha``)."""
    return _l("Too many images requested. Try again in %(seconds)s s.", seconds=exc.retry_after or 60)


EXPIRED_CODE = _l("This code has expired. Request a new one.")
WRONG_CREDENTIALS = _l("The username or password is incorrect.")
CHECK_INPUT = _l("Check what you entered and try again.")
NOT_SENT = _l("We could not send the code. Try again in a moment.")
CAPTCHA_DUE = _l("For your security, type the characters in the image.")
ACCOUNT_UNAVAILABLE = WholePage(
    _l("Account unavailable"), _l("This account is locked or disabled. Contact the service's support.")
)
UNAVAILABLE = WholePage(
    _l("Temporarily unavailable"), _l("We are having trouble right now. Please try again in a few minutes.")
)
# code -> (field the message belongs to, message); field None = the form as a whole
FIELD_ERRORS: dict[str, tuple[str | None, Any]] = {
    "login.invalid_credentials": ("password", WRONG_CREDENTIALS),
    # the brute-force policy (idp/guard/bruteforce.py): the captcha block of the sign-in pages
    "login.captcha_required": ("captcha", CAPTCHA_DUE),
    "captcha.wrong_answer": ("captcha", _l("That was not what the image showed. Try this new image.")),
    "captcha.unknown_token": ("captcha", _l("That image has expired. Type the characters in this new one.")),
    "otp.wrong_code": ("code", _l("That code is not right. Check it and try again.")),
    "otp.expired_code": ("code", EXPIRED_CODE),
    "otp.unknown_token": ("code", EXPIRED_CODE),
    "otp.mismatch": ("code", EXPIRED_CODE),
    "otp.too_many_failures": ("code", _l("Too many wrong codes. Request a new one.")),
    "otp.quota_exhausted": (None, _l("We cannot send more codes right now. Try again later.")),
    "otp.delivery_failed": (None, NOT_SENT),
    "contact.malformed_phone": ("phone_number", _l("Enter a valid phone number.")),
    "contact.malformed_email": ("email", _l("Enter a valid email address.")),
    "contact.blocked_email": ("email", _l("This email address is not accepted.")),
    "account.phone_taken": ("phone_number", _l("This phone number is already registered.")),
    "account.email_taken": ("email", _l("This email address is already registered.")),
    "account.username_taken": ("username", _l("This username is taken.")),
    "password.too_short": ("password", _l("Use at least 8 characters.")),
    "password.too_long": ("password", _l("Use at most 256 characters.")),
    "password.too_common": ("password", _l("This password is too common. Choose another one.")),
    "password.mismatch": ("current_password", _l("Your current password is not right.")),
    "password.not_set": ("current_password", _l("You have no password yet. Use “Forgot password” to set one.")),
    "account.invalid_username": ("username", _l("Use 2 to 48 letters, digits or -_.:+@.")),
    "account.invalid_name": ("name", _l("Use at most 200 characters.")),
    "account.user_not_found": ("code", _l("No account uses this phone number or email address.")),
    "totp.wrong_code": ("code", _l("That code is not right. Check the time on your device and try again.")),
    "recovery.wrong_code": ("code", _l("That recovery code is not right, or it was used before.")),
    "factor.contact_not_verified": (None, _l("Add and verify the phone number or email address first.")),
    "factor.exists": (None, _l("This is already turned on.")),
    "factor.not_found": (None, _l("This is not turned on.")),
    # passkeys: about the ceremony as a whole, so on the form (no field holds a passkey)
    "passkey.invalid_challenge": (None, _l("This passkey request has expired. Please try again.")),
    "passkey.registration_failed": (None, _l("This passkey could not be set up. Please try again.")),
    "passkey.authentication_failed": (None, _l("This passkey was not accepted. Try another way to sign in.")),
    "passkey.sign_count_regressed": (
        None,
        _l("This passkey was not accepted because it may have been copied. Use another way to sign in."),
    ),
    "passkey.exists": (None, _l("This passkey is already set up.")),
    "passkey.not_found": (None, _l("This passkey is not set up any more.")),
    "passkey.invalid_name": ("name", _l("Use at most 64 characters.")),
    "device.not_found": (None, _l("This device is not remembered any more.")),
    "mfa.target_mismatch": (None, CHECK_INPUT),
    # a temporary lock: a message on the form the person can retry later, saying when
    "account.locked": (None, lambda exc: locked(exc.retry_after)),
    "captcha.rate_limited": (None, _captcha_rate_limited),
    # sign in with another identity provider: back on the login or account page, with why
    "federation.denied": (None, _l("You did not finish signing in there. Try again, or choose another way.")),
    "federation.invalid_response": (
        None,
        _l("We could not confirm who signed in there. Try again, or choose another way."),
    ),
    "federation.not_offered": (None, _l("This way of signing in is not available for this application.")),
    "federation.last_way_in": (
        None,
        _l("This is your only way to sign in. Set a password or add a passkey before you unlink it."),
    ),
    "federation.link_not_found": (None, _l("This account is not linked any more.")),
}
# whole-page errors: code -> page
PAGES: dict[str, WholePage] = {
    "authz.expired": WholePage(_l("This sign-in has expired"), _l("Go back to the application and start again.")),
    "mfa.invalid_state_token": WholePage(
        _l("This sign-in has expired"),
        _l("For your security, the second step must be finished within a few minutes. Please sign in again."),
    ),
    "login.method_disabled": WholePage(
        _l("Not available"), _l("This way of signing in is not available for this application.")
    ),
    "federation.invalid_state": WholePage(
        _l("This sign-in has expired"), _l("Go back to the application and start again.")
    ),
    "federation.unavailable": WholePage(
        _l("Temporarily unavailable"),
        _l("The other sign-in service did not answer. Try again in a few minutes, or choose another way."),
    ),
    # raised outside a form (a page that has none): the page still says when
    "account.locked": WholePage(ACCOUNT_UNAVAILABLE.title, lambda exc: locked(exc.retry_after)),
}
# when a code has no entry, its kind decides: a message on the form, or a whole page
BY_KIND: dict[Kind, Any] = {
    Kind.INVALID_INPUT: CHECK_INPUT,
    Kind.UNAUTHENTICATED: WRONG_CREDENTIALS,
    Kind.FORBIDDEN: WholePage(_l("Not allowed"), _l("This action is not allowed for this application.")),
    Kind.NOT_FOUND: _l("This request has expired. Please start again."),
    Kind.WRONG_CODE: _l("That code is not right. Check it and try again."),
    Kind.CONFLICT: _l("This is already in use."),
    Kind.RATE_LIMITED: lambda exc: rate_limited(exc.retry_after),
    Kind.QUOTA_EXHAUSTED: lambda exc: rate_limited(exc.retry_after),
    Kind.CAPTCHA_REQUIRED: CAPTCHA_DUE,
    Kind.FAILED_PRECONDITION: CHECK_INPUT,
    Kind.USER_STATUS: ACCOUNT_UNAVAILABLE,
    Kind.DELIVERY_FAILED: NOT_SENT,
    Kind.UNAVAILABLE: UNAVAILABLE,
}
BAD_REQUEST = WholePage(_l("Bad request"), _l("Something in this request was not right. Please go back and try again."))
HTTP_PAGES: dict[int, WholePage] = {
    400: BAD_REQUEST,
    403: WholePage(_l("Not allowed"), _l("You are not allowed to open this page.")),
    404: WholePage(_l("Page not found"), _l("There is no page at this address.")),
    405: BAD_REQUEST,
    503: UNAVAILABLE,
}
# a page's status where the kind's would mislead: an expired captcha image is a field error
# on a page that is there (a new image comes with it), not a 404
PAGE_STATUS = {"captcha.unknown_token": 400}
CSRF_MESSAGE = _l("This form has expired. Please submit it again.")


def _text(message: Any, exc: IdpError):
    return message(exc) if callable(message) else message


def full_page(exc: IdpError) -> bool:
    """Whether ``exc`` is about the whole request rather than something typed into a form."""
    if exc.code in FIELD_ERRORS:
        return False
    return exc.code in PAGES or isinstance(BY_KIND[exc.kind], WholePage)


def describe(exc: IdpError):
    """(field name or None, message) for an error shown on the form.
    Errors about the whole request are re-raised for the error page."""
    if full_page(exc):
        raise exc
    name, message = FIELD_ERRORS.get(exc.code) or (None, BY_KIND[exc.kind])
    return name, _text(message, exc)


def page_for(exc: IdpError) -> tuple[Any, Any]:
    """(title, message) of the error page for ``exc``."""
    page = PAGES.get(exc.code) or BY_KIND[exc.kind]
    if not isinstance(page, WholePage):  # a form's error raised where there is no form
        page = BAD_REQUEST
    return page.title, _text(page.message, exc)


def attach(form, exc: IdpError) -> int:
    """Put ``exc`` next to the field it concerns; returns the HTTP status to answer with."""
    name, message = describe(exc)
    field = getattr(form, name, None) if name else None
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors = [*form.form_errors, message]
    return PAGE_STATUS.get(exc.code) or STATUS[exc.kind]


def error_page(status: int, title, message, headers: dict | None = None):
    return (
        render_template("hosted/error.html", page=None, title=title, message=message, status=status),
        status,
        headers or {},
    )


@bp.errorhandler(IdpError)
def idp_error(exc: IdpError):
    if exc.code == "store.unavailable":
        metrics.observe_store_error(exc)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return error_page(STATUS[exc.kind], *page_for(exc), headers)


def store_outage(exc: Exception):
    log.warning("store unavailable: %s", type(exc).__name__)
    metrics.observe_store_error(exc)
    return error_page(503, *UNAVAILABLE)


for _outage in (redis.RedisError, OperationalError, InterfaceError):
    bp.register_error_handler(_outage, store_outage)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    status = exc.code or 500
    page = HTTP_PAGES.get(status, BAD_REQUEST)
    return error_page(status, page.title, page.message)
