"""Request-scoped helpers shared by the blueprints (the domain never sees Flask)."""

from __future__ import annotations

from typing import TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from idp import inputs
from idp.context import RequestContext
from idp.services import Services
from idp.sessions import SsoSession

# the largest request body any route reads (JSON or form); a larger one answers 413 in the
# route's own format (blueprints/errors.py) before anything reads it
MAX_BODY_BYTES = 1024 * 1024


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.before_request(check_parameters)
    app.after_request(cache_policy)


def check_parameters() -> None:
    """Header values, query, path and form parameters pass the same text rules as JSON strings
    (idp/inputs.py) before any view reads them; a refusal is ``request.invalid`` in the route's format. A body
    announced as too large is refused first, before client authentication or any header check
    (413, RFC 9110 15.5.14)."""
    if request.routing_exception is not None:  # an unknown address or method is answered first
        return
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    inputs.check_parameters((name, [value]) for name, value in request.headers.items())
    inputs.check_parameters(request.args.lists())
    inputs.check_parameters(
        (name, [value]) for name, value in (request.view_args or {}).items() if isinstance(value, str)
    )
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in FORM_TYPES:
        inputs.check_parameters(request.form.lists())


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def cache_policy(response: Response) -> Response:
    """One rule for every answer: ``no-store`` (RFC 9111 5.2.2.5) unless its view said how long
    it may be cached (the discovery document and JWKS; static files). Tokens, codes, CSRF
    tokens and personal data never wait in a cache, and no view has to remember it."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def services() -> Services:
    return current_app.extensions["gatehouse"]


def request_context(client_id: str | None = None) -> RequestContext:
    # request.remote_addr is already the real client when GATEHOUSE_TRUSTED_PROXIES is set:
    # app.py installs ProxyFix with exactly that many X-Forwarded-For hops.
    return RequestContext(
        ip=request.remote_addr or "0.0.0.0",  # noqa: S104
        user_agent=user_agent(),
        locale=request.accept_languages.best_match(["en", "zh"]) or "en",
        client_id=client_id,
        now=services().clock.now(),
    )


def user_agent() -> str:
    """The User-Agent as recorded with audit events and remembered devices: without control
    characters (a test client can send U+0000, which PostgreSQL text cannot hold), at most 512."""
    return "".join(c for c in request.headers.get("User-Agent", "")[:512] if c >= " " and c != "\x7f")


def json_body() -> object:
    """The JSON body (``Content-Type: application/json``), or None when it is missing or not
    JSON (callers answer 400). Too deep, or holding text no face can use: request.invalid."""
    if not request.is_json:
        return None
    return inputs.read_json(request.get_data(cache=True))


# -- the SSO session cookie ---------------------------------------------------------------
# A random id only (the session lives in Redis), HttpOnly, SameSite=Lax, Secure when the
# issuer is https (OWASP Session Management Cheat Sheet).
SESSION_COOKIE = "gh_sso"


def current_sso_session() -> SsoSession | None:
    """The signed-in browser's SSO session, or None (no cookie, expired, signed out)."""
    return services().sessions.get(request.cookies.get(SESSION_COOKIE))


R = TypeVar("R", bound=Response)  # a redirect is werkzeug's Response, a rendered page Flask's


def set_sso_cookie(response: R, session: SsoSession) -> R:
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=services().settings.session_ttl,
        httponly=True,
        samesite="Lax",
        secure=services().settings.issuer.startswith("https://"),
        path="/",
    )
    return response


def clear_sso_cookie(response: R) -> R:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
    return response
