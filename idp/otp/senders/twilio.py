"""SMS delivery through Twilio's Programmable Messaging REST API.

``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields ``To``,
``From`` and ``Body``, authenticated with HTTP Basic (Account SID, Auth Token). Twilio answers
201 with the Message resource (``{"sid": "SM...", "status": "queued", ...}``) or a 4xx/5xx
with ``{"code": 21211, "message": "...", "more_info": "...", "status": 400}``.

``base_url`` is configurable so the adapter can be pointed at a regional edge or a local
stand-in; it defaults to https://api.twilio.com.
"""

from __future__ import annotations

from urllib.parse import quote

from idp.otp.senders.base import DeliveryError, Message
from idp.otp.senders.http import ProviderHttp


class TwilioSmsSender:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str,
        timeout: float,
    ) -> None:
        if not (account_sid and auth_token and from_number):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are required")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.timeout = timeout
        # The SID is quoted so a stray character in the setting cannot change the URL path.
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        self.http = ProviderHttp("Twilio", timeout)

    def deliver(self, message: Message) -> None:
        reply = self.http.post(
            self.url,
            # Twilio's API takes application/x-www-form-urlencoded, not JSON
            data={"To": message.to, "From": self.from_number, "Body": message.text},
            auth=(self.account_sid, self.auth_token),
        )
        if reply.status in (200, 201):
            return
        # Twilio's numeric error code (21211 invalid To, 21608 unverified trial number, 20003
        # bad credentials...) is what an operator looks up; its free-text message is left
        # out because it quotes the phone number.
        code = reply.body.get("code") if isinstance(reply.body, dict) else None
        detail = f", Twilio error {code}" if code is not None else ""
        raise DeliveryError(f"Twilio refused the message (HTTP {reply.status}{detail})")

    def close(self) -> None:
        """Release pooled connections (tests, or a worker shutting down)."""
        self.http.close()
