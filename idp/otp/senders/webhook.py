"""SMS delivery through the operator's own HTTP endpoint (``GATEHOUSE_SMS_WEBHOOK_URL``).

The operator's gateway receives ``POST {"to": "+15551234567", "text": "...", "usage": "login"}``
as JSON and answers 2xx once it has accepted the message. Any other outcome (non-2xx,
redirect, refused connection, timeout) is a DeliveryError, so the caller can tell the user
delivery failed instead of making them wait for a code that never comes.
"""

from __future__ import annotations

import requests

from idp.otp.senders.base import DeliveryError, Message


class WebhookSmsSender:
    def __init__(self, url: str, timeout: float) -> None:
        if not url:
            raise ValueError("GATEHOUSE_SMS_WEBHOOK_URL is empty")
        self.url = url
        self.timeout = timeout
        # One Session per sender keeps the TCP/TLS connection alive between messages, which
        # saves a handshake per OTP; the Session's connection pool is safe to share between
        # threads for simple requests like these.
        self.session = requests.Session()

    def deliver(self, message: Message) -> None:
        status = self._post({"to": message.to, "text": message.text, "usage": message.usage})
        if not 200 <= status < 300:
            # The response body is not repeated: a gateway may echo the SMS text back.
            raise DeliveryError(f"SMS webhook answered HTTP {status}")

    def _post(self, payload: dict[str, str]) -> int:
        # The response lives only in this frame: a DeliveryError raised (and perhaps kept by
        # a logger) in ``deliver`` must not pin the pooled socket through a local variable.
        try:
            # ``timeout`` bounds the connect and each read, so a stalled gateway cannot hold
            # the request thread. Redirects are not followed: a 3xx would otherwise re-send
            # (as a GET, without the body) to a host nobody configured.
            with self.session.post(self.url, json=payload, timeout=self.timeout, allow_redirects=False) as response:
                return response.status_code
        except requests.RequestException as exc:
            # Only the exception class: requests' messages quote the URL, which may hold a
            # token in its query string.
            raise DeliveryError(f"SMS webhook unreachable ({type(exc).__name__})") from None

    def close(self) -> None:
        """Release pooled connections (tests, or a worker shutting down)."""
        self.session.close()
