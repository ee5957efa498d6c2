"""Operating Gatehouse: liveness, readiness and metrics endpoints, and the hooks every request
passes through (``X-Request-Id``, the request metrics, the access log line).

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process serves; touches no store.
- ``GET /readyz``: 200 ``{"status": "ok"}`` when the database answers ``SELECT 1`` and Redis
  ``PING`` within 1 s each (idp/health.py), else 503 ``{"status": "unavailable", "failed":
  ["database", "redis"]}`` naming the ones that did not. Never cached.
- ``GET /metrics``: the Prometheus text format (idp/metrics.py); with
  ``GATEHOUSE_METRICS_TOKEN`` set, only for ``Authorization: Bearer <that token>`` (compared in
  constant time), else 401.
- Every response of every face carries ``X-Request-Id``: the caller's own when it is a plain
  token (letters, digits and ``._:-``, at most 128: it goes back into a header and into the
  logs unescaped), else a new UUID4. The access line carries the same id.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid

from flask import Blueprint, Flask, Response, g, jsonify, request

from blueprints import logs
from blueprints.errors import generic, register_renderer
from blueprints.web import services
from idp import health, metrics

bp = Blueprint("ops", __name__)
register_renderer("ops", generic)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(given: str | None) -> str:
    """The caller's id when it is a plain token (it goes back into a header), else a UUID4."""
    return given if given and _REQUEST_ID.fullmatch(given) else str(uuid.uuid4())


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    built = services()
    failed = health.readiness(built.db, built.redis)
    if failed:
        return jsonify(status="unavailable", failed=failed), 503
    return jsonify(status="ok"), 200


@bp.get("/metrics")
def metrics_page() -> Response:
    token = services().settings.metrics_token
    if token and not _bearer_matches(token):
        response = jsonify(error="unauthorized", message="a Bearer token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def _bearer_matches(expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # bytes on both sides: compare_digest refuses non-ASCII str, and the length of the
    # comparison never depends on where the first difference is
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


# -- every request -------------------------------------------------------------------------
def _begin() -> None:
    g.request_id = request_id(request.headers.get("X-Request-Id"))
    g.request_started = time.perf_counter()
    metrics.begin_request()


def _finish(response: Response) -> Response:
    rid = g.get("request_id") or request_id(request.headers.get("X-Request-Id"))
    response.headers["X-Request-Id"] = rid
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.endpoint or metrics.UNMATCHED
    metrics.observe_request(endpoint, request.method, response.status_code, seconds)
    facts = metrics.request_facts()
    logs.access(
        request_id=rid,
        method=request.method if request.method in metrics.METHODS else "other",
        endpoint=endpoint,
        status=response.status_code,
        duration_ms=round(seconds * 1000, 2),
        client_id=facts.client_id,
        sub=facts.sub,
    )
    return response


def init_app(app: Flask) -> None:
    """Before any other hook: the id and the clock start first, and the after-request side
    (run in reverse order) sees the final response."""
    logs.configure(app.extensions["gatehouse"].settings.log_format)
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)
    app.register_blueprint(bp)
