"""Every Prometheus metric Gatehouse exports, and the few functions that move them.

One module holds the metric objects so that each family is defined once and counted in one
place: HTTP requests by the app's request hooks (``blueprints/ops.py``), one-time codes,
sign-ins and refusals by the audit log (``idp.audit.record`` calls ``observe_event`` for every
event it writes), SMS by country where the number is known, at delivery (``CountedSms``), store
outages where they are turned into a 503 (``blueprints/errors.py`` and the hosted pages'
``store_outage``).

Under gunicorn the workers are separate processes, so ``gunicorn.conf.py`` points
``PROMETHEUS_MULTIPROC_DIR`` at a folder of its own before any worker starts: every process then
keeps its samples in files there and ``exposition`` adds them up, whichever worker answers
``/metrics`` (the Prometheus Python client's multiprocess mode). Without that variable (the test
client, ``flask run``) the process's own default registry is exported.

Labels are bounded: ``endpoint`` is a Flask endpoint name (``unmatched`` for an address no route
takes), ``method`` one of the HTTP methods (``other`` for anything else), ``country`` a calling
code (``86``), never a number or an address.

Also here: what this request's audit events said about who acted (``request_facts``), which the
access log line reads (``client_id``, ``sub``) without the domain knowing about HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from sqlalchemy.exc import SQLAlchemyError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# ``*_created`` samples say when a process first counted; in multiprocess mode they do not
# exist at all, so the output is the same under gunicorn and the test client
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter(
    "gatehouse_http_requests",
    "HTTP requests answered, by Flask endpoint, method and status",
    ["endpoint", "method", "status"],
)
HTTP_DURATION = Histogram(
    "gatehouse_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response, by Flask endpoint",
    ["endpoint"],
)
OTP_SENT = Counter(
    "gatehouse_otp_sent",
    "One-time codes asked for, by channel (sms, email) and result (sent, refused, failed)",
    ["channel", "result"],
)
OTP_SENT_BY_COUNTRY = Counter(
    "gatehouse_otp_sent_by_country",
    "SMS codes sent, by the country calling code of the number (86, 1, 44, ...)",
    ["country"],
)
LOGINS = Counter(
    "gatehouse_logins",
    "Sign-in attempts (first step by method, second step as mfa_<factor>), by result",
    ["method", "result"],
)
RATE_LIMITED = Counter(
    "gatehouse_rate_limited",
    "Requests refused by a limit, by rule (the send limits, the send quota, the sign-in captcha and lock)",
    ["rule"],
)
STORE_ERRORS = Counter(
    "gatehouse_store_errors",
    "Requests answered 503 because a store was unavailable, by store (redis, database)",
    ["store"],
)
# OpenID Connect Back-Channel Logout 1.0: logout tokens sent, by result (delivered, failed)
LOGOUT_DELIVERIES = Counter(
    "gatehouse_logout_deliveries",
    "Back-channel logout tokens POSTed to applications, by result (delivered, failed)",
    ["result"],
)

# the families above, as Prometheus names them in the exposition (counters get ``_total``)
FAMILIES = (
    "gatehouse_http_requests_total",
    "gatehouse_http_request_duration_seconds",
    "gatehouse_otp_sent_total",
    "gatehouse_otp_sent_by_country_total",
    "gatehouse_logins_total",
    "gatehouse_rate_limited_total",
    "gatehouse_store_errors_total",
    "gatehouse_logout_deliveries_total",
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

# audit ``rule`` details and the brute-force events -> the ``rule`` label
_BRUTE_FORCE_RULES = {"login.captcha_required": "login_captcha", "login.locked": "login_lock"}


# -- HTTP ----------------------------------------------------------------------------------
def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request (the app's after-request hook)."""
    name = endpoint or UNMATCHED
    HTTP_REQUESTS.labels(name, method if method in METHODS else "other", str(status)).inc()
    HTTP_DURATION.labels(name).observe(max(seconds, 0.0))


# -- audit events --------------------------------------------------------------------------
def observe_event(
    type_: str, result: str, details: Mapping[str, Any], *, client_id: str | None, sub: str | None
) -> None:
    """Count what one audit event says (``idp.audit.record`` calls this for every event), and
    note who acted for this request's log line."""
    note(client_id=client_id, sub=sub)
    if type_ == "otp.send":
        _otp_send(result, details)
    elif type_ in ("login.success", "login.failure", "login.federated"):  # federated: a success through an upstream
        LOGINS.labels(str(details.get("method") or "unknown"), _result(result)).inc()
    elif type_ in ("mfa.success", "mfa.failure"):
        LOGINS.labels(f"mfa_{details.get('factor') or 'unknown'}", _result(result)).inc()
    elif type_ in _BRUTE_FORCE_RULES:
        RATE_LIMITED.labels(_BRUTE_FORCE_RULES[type_]).inc()
    elif type_ in ("logout.delivered", "logout.delivery_failed"):
        LOGOUT_DELIVERIES.labels("delivered" if type_ == "logout.delivered" else "failed").inc()


def _otp_send(result: str, details: Mapping[str, Any]) -> None:
    channel = str(details.get("channel") or "unknown")
    if result == "success":
        OTP_SENT.labels(channel, "sent").inc()
        return
    # a refused send names the send limit that refused it; the global quota is its own code
    rule = details.get("rule") or ("quota" if details.get("reason") == "otp.quota_exhausted" else None)
    if rule:
        OTP_SENT.labels(channel, "refused").inc()
        RATE_LIMITED.labels(str(rule)).inc()
    else:  # the provider did not take it
        OTP_SENT.labels(channel, "failed").inc()


def _result(result: str) -> str:
    return "success" if result == "success" else "failure"


# -- SMS by country -------------------------------------------------------------------------
class _Addressed(Protocol):
    @property
    def to(self) -> str: ...


class _Delivers(Protocol):
    def deliver(self, message: Any, /) -> None: ...


class CountedSms:
    """The SMS sender, counting each message it delivered by the number's calling code (the
    number itself never reaches a label). ``idp.services`` wraps the configured sender with it:
    the audit event of a send does not hold the number, the delivery does."""

    def __init__(self, inner: _Delivers, country_of: Callable[[str], str]) -> None:
        self.inner, self.country_of = inner, country_of

    def deliver(self, message: _Addressed, /) -> None:
        self.inner.deliver(message)  # a DeliveryError is not a sent message: nothing counted
        try:
            country = self.country_of(message.to)
        except Exception:  # the message is out: a number the counter cannot read must not fail the send
            country = "unknown"
        OTP_SENT_BY_COUNTRY.labels(country).inc()


# -- stores --------------------------------------------------------------------------------
def store_of(exc: BaseException | None) -> str:
    """``redis`` or ``database``: the store whose failure ``exc`` is, or caused."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, redis.RedisError):
            return "redis"
        if isinstance(exc, SQLAlchemyError):
            return "database"
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return "unknown"


def observe_store_error(exc: BaseException) -> None:
    """One request answered 503 because of ``exc`` (a store error, or ``store.unavailable``
    raised from one)."""
    STORE_ERRORS.labels(store_of(exc)).inc()


# -- exposition ----------------------------------------------------------------------------
def exposition() -> tuple[bytes, str]:
    """The text format (Prometheus "Exposition formats") and its content type: every
    worker's samples in multiprocess mode, else this process's."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# -- who acted, for the request's log line -------------------------------------------------
@dataclass
class RequestFacts:
    client_id: str | None = None
    sub: str | None = None


_facts: ContextVar[RequestFacts | None] = ContextVar("gatehouse_request_facts", default=None)


def begin_request() -> RequestFacts:
    """Fresh facts for a new request (threads are reused: nothing carries over)."""
    facts = RequestFacts()
    _facts.set(facts)
    return facts


def request_facts() -> RequestFacts:
    return _facts.get() or RequestFacts()


def note(*, client_id: str | None = None, sub: str | None = None) -> None:
    """Remember the application and the person this request concerns, when known."""
    facts = _facts.get()
    if facts is None:
        return
    if client_id:
        facts.client_id = client_id
    if sub:
        facts.sub = sub
