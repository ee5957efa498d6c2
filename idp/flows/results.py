"""What a flow hands back when someone has proven who they are; each face renders it."""

from __future__ import annotations

from dataclasses import dataclass

from idp.models import User


@dataclass(frozen=True)
class Completed:
    """The person passed the first factor: who, and with which checks (``amr``, OpenID
    Connect Core 1.0 2: ``pwd``, ``otp``, ``sms``…)."""

    user: User
    amr: list[str]
    auth_time: int  # when, by the flow's clock (seconds since the epoch)
