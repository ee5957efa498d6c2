"""One POST to a delivery provider's HTTP API, shared by the webhook, Twilio and Tencent Cloud
SMS adapters.

What every provider call must do, in one place:

- a ``requests.Session`` per sender keeps the TCP/TLS connection alive between messages (one
  handshake per worker instead of one per OTP); its pool is safe to share between threads;
- ``timeout`` bounds the connect and each read, so a stalled provider cannot hold the
  request thread;
- redirects are never followed: a 3xx would re-send (as a GET, without the body, perhaps
  with the credentials) to a host nobody configured, so it is returned like any other status;
- a transport failure becomes a ``DeliveryError`` naming the provider and the exception class
  only: requests' messages quote the URL (which may hold a token in its query string) and the
  chained cause may carry the request, so both are dropped;
- the response is read and closed inside ``post``: only the status and the parsed body leave
  it, so a ``DeliveryError`` that a caller raises (and a logger keeps) never pins the pooled
  socket through a live ``Response``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from idp.otp.senders.base import DeliveryError


@dataclass(frozen=True)
class Reply:
    """What a provider answered: the HTTP status and the JSON body (None when the body is not
    JSON, e.g. a proxy's HTML error page, which must not turn into a traceback)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ProviderHttp:
    """The HTTP side of one sender: ``provider`` names it in errors ("Twilio")."""

    def __init__(self, provider: str, timeout: float) -> None:
        self.provider = provider
        self.timeout = timeout
        self.session = requests.Session()

    def post(self, url: str, **request: Any) -> Reply:
        """POST ``request`` (``json=``, ``data=``, ``headers=``, ``auth=``) to ``url``, bounded by
        the timeout and without following redirects; raise DeliveryError when it cannot."""
        try:
            with self.session.post(url, timeout=self.timeout, allow_redirects=False, **request) as response:
                return Reply(response.status_code, _json_or_none(response))
        except requests.RequestException as exc:
            raise DeliveryError(f"{self.provider} unreachable ({type(exc).__name__})") from None

    def close(self) -> None:
        """Release pooled connections (tests, or a worker shutting down)."""
        self.session.close()


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
