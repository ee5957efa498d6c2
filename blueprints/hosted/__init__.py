"""Hosted pages (SPEC 4.6): login, sign-up, reset, consent, logout, account, errors.

``init_app`` installs what every page needs: Flask-Babel (English, Simplified Chinese) and
the security headers (CSP without inline script, ``frame-ancestors 'none'``).

SKELETON — the pages are filled in by issue 3's hosted-pages work.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request
from flask_babel import Babel

bp = Blueprint("hosted", __name__)

LOCALES = ("en", "zh_Hans")


def select_locale() -> str:
    """``ui_locales`` (OIDC) first, then Accept-Language; Chinese variants map to zh_Hans."""
    wanted = (request.args.get("ui_locales") or "").split()
    for tag in wanted:
        if tag.lower().startswith("zh"):
            return "zh_Hans"
        if tag.lower().startswith("en"):
            return "en"
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-SG"])
    return "zh_Hans" if best and best.startswith("zh") else "en"


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def security_headers(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP.format(form_action="https: http:"))
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


@bp.get("/login")
def login():  # placeholder until the pages land
    return "login", 501


@bp.get("/consent")
def consent():  # placeholder until the pages land
    return "consent", 501


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.after_request(security_headers)
    app.register_blueprint(bp)
