"""What every delivery adapter receives and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    channel: str  # sms | email
    to: str  # E.164 number or email address
    usage: str  # login | signup | update_userinfo | reset_password
    code: str  # providers with templates (Tencent Cloud SMS) need the bare code
    text: str  # the full SMS text / plain-text email body
    subject: str = ""
    html: str = ""
    ttl_minutes: int = 1


class DeliveryError(Exception):
    """The provider refused, failed or timed out. Never carries the code or the message text."""


class Sender(Protocol):
    def deliver(self, message: Message) -> None:
        """Deliver or raise DeliveryError. Must be bounded by a timeout."""
