"""How Gatehouse talks to upstream identity providers over HTTP: one timeout for every call, and
every way a call can fail turned into a ``federation.*`` error, so a slow or broken upstream
answers ``federation.unavailable`` (503) instead of a hang or a 500.

The timeout is the outbound-delivery timeout (``GATEHOUSE_DELIVERY_TIMEOUT_MS``), set once when
the services are built (``set_timeout``); each kind of upstream reads it per call.
"""

from __future__ import annotations

from typing import Any

import requests

from idp.errors import IdpError, error

_timeout = {"seconds": 5.0}


def set_timeout(seconds: float) -> None:
    """Connect and read timeout, in seconds, of every call to an upstream."""
    _timeout["seconds"] = seconds


def timeout() -> float:
    return _timeout["seconds"]


def unavailable(url: str, reason: str) -> IdpError:
    return error("federation.unavailable", f"the identity provider did not answer ({reason})", url=url)


def invalid_response(message: str) -> IdpError:
    return error("federation.invalid_response", message)


def get_json(url: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET ``url`` and read a JSON object. Raises federation.unavailable (no answer in time, a
    5xx) and federation.invalid_response (a 4xx, not a JSON object)."""
    try:
        response = requests.get(url, headers={"Accept": "application/json", **(headers or {})}, timeout=timeout())
    except requests.RequestException as exc:
        raise unavailable(url, type(exc).__name__) from None
    return read_json(url, response)


def read_json(url: str, response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        raise unavailable(url, f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise invalid_response(f"the identity provider refused the request (HTTP {response.status_code})")
    try:
        body = response.json()
    except ValueError:
        raise invalid_response("the identity provider did not answer JSON") from None
    if not isinstance(body, dict):
        raise invalid_response("the identity provider did not answer a JSON object")
    return body
