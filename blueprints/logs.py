"""The app's log lines: plain text (the default) or one JSON object per line
(``GATEHOUSE_LOG_FORMAT=json``), for a log shipper to index without parsing prose.

In JSON every record has ``ts`` (ISO-8601 UTC), ``level``, ``logger`` and ``event`` (the
message); inside a request also ``request_id`` (the ``X-Request-Id`` answered). Each request
adds one access line (``event: "request"``, logger ``gatehouse.access``) with ``method``,
``endpoint`` (the Flask endpoint name, ``unmatched`` when no route took the address),
``status``, ``duration_ms``, and ``client_id`` / ``sub`` when the request concerned an
application or a person (what its audit events named, idp/metrics.py ``request_facts``).

Never in a line: the query string, the body, a header (``Authorization``, cookies), or any code,
password, secret or token; an access line is built from the fields above only. Two libraries
would write what a request carried, and are held back: Authlib writes the tokens it issues at
DEBUG, so its logger stays at INFO; Werkzeug's development server (``flask run``) writes each
request line with its query string (``id_token_hint``, ``code``), so in JSON its logger only
passes warnings — the access line replaces it. gunicorn's own access log is its own
(``--access-logfile``, as the Makefile sets it), in gunicorn's format.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from flask import g, has_request_context

ACCESS = logging.getLogger("gatehouse.access")
APP = logging.getLogger("gatehouse")

# the access line's fields, in this order after ts/level/logger/event
ACCESS_FIELDS = ("request_id", "method", "endpoint", "status", "duration_ms", "client_id", "sub")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if "request_id" not in line and has_request_context():
            line["request_id"] = g.get("request_id")
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _is_ours(handler: logging.Handler) -> bool:
    return getattr(handler, "gatehouse", False)


def configure(log_format: str, stream: IO[str] | None = None) -> None:
    """Set up the process's logging once per app (idempotent: a second app replaces the
    handler the first installed). ``text`` leaves the host's logging as it is."""
    logging.getLogger("authlib").setLevel(logging.INFO)  # its DEBUG lines print issued tokens
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _is_ours(h)]:
        root.removeHandler(handler)
    if log_format != "json":
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.gatehouse = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if APP.level == logging.NOTSET:
        APP.setLevel(logging.INFO)  # the app's notices and access lines; other libraries: warnings
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its request lines carry query strings


def access(**fields: Any) -> None:
    """The request's access line (only the ``ACCESS_FIELDS``)."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info("request", extra={name: fields.get(name) for name in ACCESS_FIELDS})
