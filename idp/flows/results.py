"""What a flow hands back when someone has proven who they are; each face renders it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from idp.models import User


@dataclass(frozen=True)
class Completed:
    """The person passed the first factor: who, and with which checks (``amr``, OpenID
    Connect Core 1.0 2: ``pwd``, ``otp``, ``sms``…)."""

    user: User
    amr: list[str] = field(default_factory=list)
    auth_time: int = field(default_factory=lambda: int(time.time()))
