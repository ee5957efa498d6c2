"""Error routing: the only Kind -> HTTP status table, and every error to its surface.

Each surface (blueprint) may register a renderer for ``IdpError``; anything without one gets
the generic JSON shape. Store outages that escape a service (a Redis or database error in a
read) become 503 here, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from flask import Flask, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError

from idp.errors import ErrorResponse, IdpError, Kind, store_unavailable

log = logging.getLogger("gatehouse")

STATUS: dict[Kind, int] = {
    Kind.INVALID_INPUT: 400,
    Kind.UNAUTHENTICATED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.WRONG_CODE: 400,
    Kind.CONFLICT: 409,
    Kind.RATE_LIMITED: 429,
    Kind.QUOTA_EXHAUSTED: 429,
    Kind.CAPTCHA_REQUIRED: 400,
    Kind.FAILED_PRECONDITION: 400,
    Kind.USER_STATUS: 403,
    Kind.DELIVERY_FAILED: 503,
    Kind.UNAVAILABLE: 503,
}

Renderer = Callable[[IdpError], ErrorResponse]
_renderers: dict[str, Renderer] = {}


def register_renderer(blueprint_name: str, renderer: Renderer) -> None:
    """``blueprint_name`` is a blueprint ("ciam") or one endpoint of it ("ciam.signup")."""
    _renderers[blueprint_name] = renderer


def generic(exc: IdpError) -> ErrorResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return STATUS[exc.kind], {"error": exc.code, "message": exc.message}, headers


def render(exc: IdpError):
    # an endpoint ("ciam.change_user_password") may refine its blueprint's renderer
    renderer = _renderers.get(request.endpoint or "") or _renderers.get(request.blueprint or "", generic)
    status, body, headers = renderer(exc)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(IdpError, render)

    def outage(exc: Exception):
        log.warning("store unavailable: %s", type(exc).__name__)
        return render(store_unavailable("a backing store"))

    app.register_error_handler(redis.RedisError, outage)
    app.register_error_handler(OperationalError, outage)
    app.register_error_handler(InterfaceError, outage)
