"""What the domain may know about the request that reached it, without knowing HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Headers(Protocol):
    """Request headers, as a face reads them (werkzeug's ``Headers``: names case-insensitive)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class RequestContext:
    ip: str = "0.0.0.0"  # noqa: S104 - a placeholder value, nothing binds to it
    user_agent: str = ""
    locale: str = "en"
    client_id: str | None = None
    device: str | None = None
    # who acts, when it is not the person themselves: "admin_token", an m2m client_id, an
    # administrator's sub (audit events name them)
    actor: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
