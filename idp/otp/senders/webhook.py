"""SMS delivery through the operator's own HTTP endpoint (``GATEHOUSE_SMS_WEBHOOK_URL``).

The operator's gateway receives ``POST {"to": "+15551234567", "text": "...", "usage": "login"}``
as JSON and answers 2xx once it has accepted the message. Any other outcome (non-2xx,
redirect, refused connection, timeout) is a DeliveryError, so the caller can tell the user
delivery failed instead of making them wait for a code that never comes.
"""

from __future__ import annotations

from idp.otp.senders.base import DeliveryError, Message
from idp.otp.senders.http import ProviderHttp


class WebhookSmsSender:
    def __init__(self, url: str, timeout: float) -> None:
        if not url:
            raise ValueError("GATEHOUSE_SMS_WEBHOOK_URL is empty")
        self.url = url
        self.timeout = timeout
        self.http = ProviderHttp("SMS webhook", timeout)

    def deliver(self, message: Message) -> None:
        reply = self.http.post(self.url, json={"to": message.to, "text": message.text, "usage": message.usage})
        if not reply.ok:
            # The response body is not repeated: a gateway may echo the SMS text back.
            raise DeliveryError(f"SMS webhook answered HTTP {reply.status}")

    def close(self) -> None:
        """Release pooled connections (tests, or a worker shutting down)."""
        self.http.close()
