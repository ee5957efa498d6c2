"""Request-scoped helpers shared by the blueprints (the domain never sees Flask)."""

from __future__ import annotations

from typing import TypeVar

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from idp.context import RequestContext
from idp.services import Services
from idp.sessions import SsoSession


def init_app(app: Flask) -> None:
    app.after_request(cache_policy)


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
        user_agent=request.headers.get("User-Agent", ""),
        locale=request.accept_languages.best_match(["en", "zh"]) or "en",
        client_id=client_id,
        now=services().clock.now(),
    )


def json_body() -> object:
    """The JSON body, or None when it is missing or not JSON (callers answer 400)."""
    return request.get_json(silent=True)


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
