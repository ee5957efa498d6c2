"""People who sign in."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base, utcnow

USER_STATUSES = ("active", "locked", "disabled")
ROLES = ("admin",)  # ``admin``: may use the admin console
# the standard profile claims (OpenID Connect Core 1.0, 5.1) kept in columns of their own
# names, besides ``name``, ``locale`` and ``username`` (released as ``preferred_username``)
PROFILE_CLAIM_COLUMNS = (
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
)


def may_sign_in(status: str) -> bool:
    """Only an active account signs in or gets tokens; a locked or disabled one does not."""
    return status == "active"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    email: Mapped[str | None] = mapped_column(String(320), unique=True, default=None)
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone_number: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    phone_verified: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
    # the rest of the standard profile claims (OpenID Connect Core 1.0, 5.1)
    given_name: Mapped[str | None] = mapped_column(String(200), default=None)
    family_name: Mapped[str | None] = mapped_column(String(200), default=None)
    middle_name: Mapped[str | None] = mapped_column(String(200), default=None)
    nickname: Mapped[str | None] = mapped_column(String(200), default=None)
    profile: Mapped[str | None] = mapped_column(String(2048), default=None)
    picture: Mapped[str | None] = mapped_column(String(2048), default=None)
    website: Mapped[str | None] = mapped_column(String(2048), default=None)
    gender: Mapped[str | None] = mapped_column(String(32), default=None)
    birthdate: Mapped[str | None] = mapped_column(String(10), default=None)  # YYYY-MM-DD, 0000-MM-DD or YYYY
    zoneinfo: Mapped[str | None] = mapped_column(String(64), default=None)  # an IANA time zone
    # what the person may do in Gatehouse itself: "admin" opens the admin console
    roles: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    sequence: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        return may_sign_in(self.status)

    @property
    def is_admin(self) -> bool:
        return "admin" in (self.roles or [])

    # Authlib calls this to fill ``sub`` in tokens.
    def get_user_id(self) -> str:
        return self.sub


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A person as a plain row, not an ORM object: the refresh grant reads its token and the
    token's holder in one Core query, and nothing on that path needs the session's identity
    map, change tracking or lazy loading (measured in-process: a refresh costs 5 to 7 % less
    without them)."""

    sub: str
    username: str | None
    email: str | None
    email_verified: bool
    phone_number: str | None
    phone_verified: bool
    status: str
    name: str | None
    locale: str | None
    given_name: str | None
    family_name: str | None
    middle_name: str | None
    nickname: str | None
    profile: str | None
    picture: str | None
    website: str | None
    gender: str | None
    birthdate: str | None
    zoneinfo: str | None
    updated_at: datetime | None

    @property
    def is_active(self) -> bool:
        return may_sign_in(self.status)


# what a token needs to know of the person it is for (whether they may still get tokens, the
# values of their claims): the ORM user, or the plain row the refresh grant reads
Person: TypeAlias = User | PersonRecord

# the users columns a ``PersonRecord`` holds, in its fields' order (never the password hash)
PERSON_COLUMNS = tuple(field.name for field in fields(PersonRecord))
