"""Request-scoped helpers shared by the blueprints (the domain never sees Flask)."""

from __future__ import annotations

from flask import current_app, request

from idp.context import RequestContext
from idp.services import Services


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
    )


def json_body() -> object:
    """The JSON body, or None when it is missing or not JSON (callers answer 400)."""
    return request.get_json(silent=True)
