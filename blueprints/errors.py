"""Error routing: the only Kind -> HTTP status table, and every error to its surface.

Each JSON surface (blueprint) registers a renderer for ``IdpError``; anything without one gets
the generic JSON shape. Store outages that escape a service (a Redis or database error in a
read) become 503 here, never a 500. HTTP errors that no view raised (an address no route
matches, a method the route does not take, a body over the size limit, an unexpected failure)
answer in the format of the face whose address was asked: JSON in that face's shape, or the
hosted error page for the pages. A JSON client never gets an HTML error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from idp import metrics
from idp.errors import ErrorResponse, IdpError, Kind, error, invalid, store_unavailable
from idp.store import OUTAGE_ERRORS

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
_url_prefixes: dict[str, str] = {}  # a path prefix -> the face that owns every address under it
_pages: set[str] = set()  # endpoints of a JSON face that answer HTML (the authorization page)
_page_errors: list[Callable[[HTTPException], object]] = []  # the hosted pages' error page


def register_renderer(blueprint_name: str, renderer: Renderer, *, url_prefixes: tuple[str, ...] = ()) -> None:
    """``blueprint_name`` is a blueprint ("ciam") or one endpoint of it ("ciam.signup").
    ``url_prefixes`` are the paths the face owns whole ("/admin/api/"): an unknown address
    under one answers 404 in this face's shape (the longest prefix wins)."""
    _renderers[blueprint_name] = renderer
    for prefix in url_prefixes:
        _url_prefixes[prefix] = blueprint_name


def register_pages(*endpoints: str) -> None:
    """Endpoints of a JSON face that answer a browser with HTML pages."""
    _pages.update(endpoints)


def register_page_errors(handler: Callable[[HTTPException], object]) -> None:
    """How an HTTP error reads on a page (the hosted error page)."""
    _page_errors[:] = [handler]


def generic(exc: IdpError) -> ErrorResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return STATUS[exc.kind], {"error": exc.code, "message": exc.message}, headers


def render(exc: IdpError, endpoint: str | None = None):
    if exc.code == "store.unavailable":  # every JSON face's 503 for a store outage passes here
        metrics.observe_store_error(exc)
    # an endpoint ("ciam.change_user_password") may refine its blueprint's renderer
    endpoint = endpoint or request.endpoint or ""
    renderer = _renderers.get(endpoint) or _renderers.get(endpoint.rpartition(".")[0], generic)
    status, body, headers = renderer(exc)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def http_error(exc: HTTPException):
    """An HTTP error in the format of the face that owns the address (see the module text)."""
    endpoint = _routed_endpoint(exc)
    if endpoint is None or endpoint in _pages or endpoint.rpartition(".")[0] not in _renderers:
        if _page_errors and (endpoint is not None or _wants_html()):
            return _page_errors[0](exc)
        if endpoint is not None:
            return exc
    status = exc.code or 500
    if status == 404:
        refusal = error("request.not_found")
    elif status == 405:
        refusal = invalid("request.method_not_allowed")
    elif status == 413:
        refusal = invalid("request.too_large")
    elif status >= 500:  # Flask has logged the exception behind it
        refusal = error("request.failed")
    else:
        refusal = invalid("request.invalid", exc.description)
    response = render(refusal, endpoint or "")
    response.status_code = status
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _routed_endpoint(exc: HTTPException) -> str | None:
    """The endpoint the address names: the matched one; for a method the route does not take,
    the route under a method it does take (a face's, before a page's); for an unknown
    address, the face owning its prefix."""
    if request.url_rule is not None:
        return request.endpoint
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        adapter = current_app.create_url_adapter(request)
        found = []
        for method in exc.valid_methods:
            try:
                endpoint, _args = adapter.match(method=method) if adapter else ("", {})
            except HTTPException:
                continue
            found.append(str(endpoint))
        faces = [e for e in found if e not in _pages and e.rpartition(".")[0] in _renderers]
        pages = [e for e in found if e not in faces]
        if faces and (not pages or not _wants_html()):
            return faces[0]
        if pages:
            return pages[0]
    owners = [prefix for prefix in _url_prefixes if request.path.startswith(prefix)]
    return _url_prefixes[max(owners, key=len)] + "." if owners else None


def _wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def init_app(app: Flask) -> None:
    app.register_error_handler(IdpError, render)
    app.register_error_handler(HTTPException, http_error)

    def outage(exc: Exception):
        log.warning("store unavailable: %s", type(exc).__name__)
        refusal = store_unavailable("a backing store")
        refusal.__cause__ = exc  # render counts it under the store that failed
        return render(refusal)

    for outage_error in OUTAGE_ERRORS:  # Redis, a Redis Cluster included
        app.register_error_handler(outage_error, outage)
    app.register_error_handler(OperationalError, outage)
    app.register_error_handler(InterfaceError, outage)
