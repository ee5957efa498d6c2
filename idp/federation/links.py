"""Links between an upstream's person (provider, upstream subject) and a person of ours."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.clock import Clock, SystemClock
from idp.db import Database
from idp.models import FederatedLink, IdentityProvider


@dataclass(frozen=True)
class LinkView:
    """A link as the account page and the console show it."""

    provider_id: str
    provider_name: str
    subject: str
    email: str | None
    created_at: datetime
    last_used_at: datetime | None


class FederatedLinks:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    def find(self, provider_id: str, subject: str) -> FederatedLink | None:
        return self.db.session.scalar(
            select(FederatedLink).where(FederatedLink.provider_id == provider_id, FederatedLink.subject == subject)
        )

    def add(self, session: Session, provider_id: str, subject: str, sub: str, email: str | None) -> None:
        """A new link in the caller's unit of work (the unique (provider, subject) pair makes a
        second link of the same upstream person fail the whole unit)."""
        now = self.clock.now()
        session.add(
            FederatedLink(
                provider_id=provider_id, subject=subject, sub=sub, email=email, created_at=now, last_used_at=now
            )
        )

    def used(self, session: Session, link_pk: int) -> None:
        session.execute(update(FederatedLink).where(FederatedLink.pk == link_pk).values(last_used_at=self.clock.now()))

    def of(self, sub: str) -> builtins.list[LinkView]:
        """Every link of ``sub``, oldest first, with its provider's name."""
        rows = self.db.session.execute(
            select(FederatedLink, IdentityProvider.name)
            .join(IdentityProvider, IdentityProvider.id == FederatedLink.provider_id)
            .where(FederatedLink.sub == sub)
            .order_by(FederatedLink.created_at, FederatedLink.pk)
        )
        return [
            LinkView(link.provider_id, name, link.subject, link.email, link.created_at, link.last_used_at)
            for link, name in rows
        ]
