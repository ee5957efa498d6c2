"""SMS delivery through Twilio's Programmable Messaging REST API.

``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields ``To``,
``From`` and ``Body``, authenticated with HTTP Basic (Account SID, Auth Token). Twilio answers
201 with the Message resource (``{"sid": "SM...", "status": "queued", ...}``) or a 4xx/5xx
with ``{"code": 21211, "message": "...", "more_info": "...", "status": 400}``.

``base_url`` is configurable so the adapter can be pointed at a regional edge or a local
stand-in; it defaults to https://api.twilio.com.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from idp.otp.senders.base import DeliveryError, Message


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
        # Keep-alive across messages: one TLS handshake with Twilio instead of one per OTP.
        self.session = requests.Session()

    def deliver(self, message: Message) -> None:
        status, body = self._post({"To": message.to, "From": self.from_number, "Body": message.text})
        if status in (200, 201):
            return
        # Twilio's numeric error code (21211 invalid To, 21608 unverified trial number, 20003
        # bad credentials...) is what an operator looks up; its free-text message is left
        # out because it quotes the phone number.
        code = body.get("code") if isinstance(body, dict) else None
        detail = f", Twilio error {code}" if code is not None else ""
        raise DeliveryError(f"Twilio refused the message (HTTP {status}{detail})")

    def _post(self, form: dict[str, str]) -> tuple[int, Any]:
        # The response lives only in this frame: a DeliveryError raised (and perhaps kept by
        # a logger) in ``deliver`` must not pin the pooled socket through a local variable.
        try:
            with self.session.post(
                self.url,
                data=form,  # Twilio's API takes application/x-www-form-urlencoded, not JSON
                auth=(self.account_sid, self.auth_token),
                timeout=self.timeout,  # bounds connect and each read
                allow_redirects=False,
            ) as response:
                return response.status_code, _json_or_none(response)
        except requests.RequestException as exc:
            # Class name only: requests' messages quote the URL and could grow to quote more.
            raise DeliveryError(f"Twilio unreachable ({type(exc).__name__})") from None

    def close(self) -> None:
        """Release pooled connections (tests, or a worker shutting down)."""
        self.session.close()


def _json_or_none(response: requests.Response) -> Any:
    # Error pages from a proxy in front of Twilio are HTML; they must not mask the status.
    try:
        return response.json()
    except ValueError:
        return None
