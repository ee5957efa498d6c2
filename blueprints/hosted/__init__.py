"""Hosted pages: login, MFA, sign-up, reset, consent, logout, account, errors. Server-rendered,
usable without JavaScript, in English and Simplified Chinese.

``init_app`` installs what every page needs: Flask-Babel (English, Simplified Chinese) and
the security headers (CSP without inline script, ``frame-ancestors 'none'``). The pages live
in one module per area; ``base`` holds what they share.
"""

from __future__ import annotations

from flask import Flask

from blueprints.errors import register_page_errors
from blueprints.hosted import (  # noqa: F401 (routes)
    account,
    account_security,
    consent,
    errors,
    federated,
    login,
    mfa,
    recovery,
    signup,
)
from blueprints.hosted.base import LOCALES, bp, html_lang, page_url, select_locale, switch_locale_url

__all__ = ["LOCALES", "bp", "init_app", "select_locale"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def security_headers(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP.format(form_action="https: http:"))
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def init_app(app: Flask) -> None:
    from flask_babel import Babel

    Babel(app, locale_selector=select_locale)
    # the Flask session holds CSRF secrets and otp_token handles: same cookie rules as gh_sso
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = app.extensions["gatehouse"].settings.issuer.startswith("https://")
    app.jinja_env.globals.update(html_lang=html_lang, page_url=page_url, switch_locale_url=switch_locale_url)
    app.after_request(security_headers)
    # the error page for an address no route matches (when a browser asks) and for the
    # pages outside this blueprint; the JSON faces answer in their own shape (blueprints/errors.py)
    register_page_errors(errors.http_error)
    app.register_blueprint(bp)
