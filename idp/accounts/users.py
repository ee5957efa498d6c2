"""Users: lookup by contact, status, admin edits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.accounts import profile
from idp.accounts.passwords import Passwords
from idp.contacts import normalise_email, normalise_phone
from idp.context import RequestContext
from idp.crypto import new_token
from idp.db import Database
from idp.errors import IdpError, error, invalid
from idp.guard.bruteforce import BruteForceGuard
from idp.models import User
from idp.models.users import ROLES, USER_STATUSES
from idp.sessions import SsoSessionStore, end_all_sessions

CONTACT_COLUMN = {"sms": "phone_number", "email": "email"}
# built once: every sign-in looks its person up by one of these (building the statement and its
# cache key each time cost more than SQLAlchemy's compiled-statement cache saves)
_BY_SUB = select(User).where(User.sub == bindparam("value"))
_BY_CONTACT = {
    channel: select(User).where(getattr(User, column) == bindparam("value"))
    for channel, column in CONTACT_COLUMN.items()
}
VERIFIED_COLUMN = {"sms": "phone_verified", "email": "email_verified"}
PROFILE_FIELDS = (
    "username",
    "email",
    "email_verified",
    "phone_number",
    "phone_verified",
    "name",
    "locale",
    "status",
    "roles",
    *profile.CLAIMS,
)


def new_sub() -> str:
    return new_token(16)


def user_not_found() -> IdpError:
    """No account uses the contact (Tencent CIAM's OTP grant and CloudBase say so)."""
    return error("account.user_not_found")


def taken(column: str) -> IdpError:
    """The conflict of a unique column (``phone_number``, ``email``, ``username``) that another
    account already uses."""
    match column:
        case "phone_number":
            return error("account.phone_taken")
        case "email":
            return error("account.email_taken")
        case "username":
            return error("account.username_taken")
    return error("account.conflict")


class UserService:
    def __init__(
        self,
        db: Database,
        default_region: str = "CN",
        passwords: Passwords | None = None,
        guard: BruteForceGuard | None = None,
        sessions: SsoSessionStore | None = None,
    ) -> None:
        self.db = db
        self.default_region = default_region
        self.passwords = passwords or Passwords()
        self.guard = guard  # the brute-force policy: "make this account usable" lifts its lock
        self.sessions = sessions  # disabling an account signs it out everywhere

    def _normalise_contacts(self, fields: dict[str, Any]) -> None:
        """Contacts are stored canonical (E.164, normalised email) so lookups match."""
        if fields.get("phone_number"):
            fields["phone_number"] = normalise_phone(fields["phone_number"], self.default_region)
        if fields.get("email"):
            fields["email"] = normalise_email(fields["email"], ())

    def by_sub(self, sub: str) -> User | None:
        return self.db.session.scalar(_BY_SUB, {"value": sub})

    def by_contact(self, channel: str, target: str) -> User | None:
        return self.db.session.scalar(_BY_CONTACT[channel], {"value": target})

    def ensure_contact_free(self, channel: str, target: str) -> None:
        """Raises account.phone_taken / account.email_taken (Tencent CIAM "Send OTP Verification
        Code" names them ``phone_number_is_used`` / ``email_is_used``)."""
        if self.by_contact(channel, target) is not None:
            raise taken(CONTACT_COLUMN[channel])

    def active(self, sub: str) -> User:
        """The user, if they may act on their account now. Raises account.not_found,
        account.abnormal_status (locked or disabled)."""
        user = self.by_sub(sub)
        if user is None:
            raise error("account.not_found")
        self.ensure_active(user)
        return user

    @staticmethod
    def ensure_active(user: User) -> None:
        """Raises account.abnormal_status for locked or disabled users."""
        if not user.is_active:
            raise error("account.abnormal_status")

    # -- admin --------------------------------------------------------------------------
    def create(self, data: dict[str, Any], ctx: RequestContext) -> User:
        """Raises account.*_taken on duplicates, password.* on an unacceptable password,
        account.invalid_* for a profile field the profile rule refuses."""
        fields = {k: v for k, v in data.items() if k in PROFILE_FIELDS and v is not None}
        _check_status(fields.get("status", "active"))
        fields["roles"] = _roles(data.get("roles"))
        fields.update(_profile(fields))
        self._normalise_contacts(fields)
        password = data.get("password")
        user = User(sub=new_sub(), **fields)
        if password is not None:  # "" is a too-short password, not "no password"
            user.password_hash = self.passwords.hash(password)
        try:
            with self.db.transaction() as session:
                session.add(user)
                audit.record(session, "admin.user.create", ctx, sub=user.sub)
        except IntegrityError as exc:
            raise self._duplicate(fields, None) from exc
        return user

    def update(self, sub: str, data: dict[str, Any], ctx: RequestContext) -> User:
        """Set what ``data`` names. Status ``active`` means "make this account usable": a
        temporary lock of the brute-force policy is lifted too, in the same unit of work (the
        Redis unlock runs before the commit, its ``login.unlocked`` event commits with the change).

        Raises account.not_found, account.*_taken, account.invalid_*, password.*, store.unavailable.
        """
        data = dict(data)
        if "status" in data:
            _check_status(data["status"])  # null is no status either
        if "roles" in data:
            data["roles"] = _roles(data["roles"])  # null: none
        if "email_verified" in data and data["email_verified"] is None:
            raise invalid("account.invalid_email_verified")
        if "phone_verified" in data and data["phone_verified"] is None:
            raise invalid("account.invalid_phone_verified")
        data.update(_profile(data))
        self._normalise_contacts(data)
        try:
            with self.db.transaction() as session:
                user = session.scalar(select(User).where(User.sub == sub))
                if user is None:
                    raise error("account.not_found")
                for key in PROFILE_FIELDS:
                    if key in data:
                        setattr(user, key, data[key])
                if data.get("password") is not None:
                    user.password_hash = self.passwords.hash(data["password"])
                user.sequence += 1
                session.flush()  # a duplicate fails here, before the lock is touched
                # field names only: never the values (a password may be among them)
                audit.record(session, "admin.user.update", ctx, sub=sub, fields=sorted(data))
                if data.get("status") == "active" and self.guard is not None:
                    self.guard.unlock_in(session, sub, ctx, sub=sub)
                if data.get("status") == "disabled" and self.sessions is not None:
                    # a disabled person is signed out at once, and so are their applications
                    # (OpenID Connect Back-Channel Logout 1.0); Redis down rolls the change back
                    end_all_sessions(self.sessions, session, sub)
        except IntegrityError as exc:
            raise self._duplicate(data, sub) from exc
        return user

    def duplicate_error(self, fields: dict[str, Any], sub: str | None = None) -> IdpError:
        """The conflict error for an IntegrityError on insert/update of ``fields``."""
        return self._duplicate(fields, sub)

    def _duplicate(self, fields: dict[str, Any], sub: str | None) -> IdpError:
        """Which unique field clashed, asked of the database rather than parsed from its
        error text (PostgreSQL's text quotes the clashing value, which may contain "phone")."""
        for column in ("phone_number", "email", "username"):
            value = fields.get(column)
            if value is None:
                continue
            query = select(User.sub).where(getattr(User, column) == value)
            if sub is not None:
                query = query.where(User.sub != sub)
            if self.db.session.scalar(query) is not None:
                return taken(column)
        return error("account.conflict")

    def search(
        self,
        *,
        username: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
        q: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[User]:
        """Filters combine with AND; contacts are normalised like stored values. ``q`` is a
        prefix of the username, the email or the phone number (E.164, so ``+86136``; taken
        literally, ``%`` and ``_`` are no wildcards). Oldest first; ``after`` is the ``sub``
        the previous page ended with.

        Raises contact.malformed_phone / contact.malformed_email.
        """
        query = select(User).order_by(User.id).limit(limit)
        if q:
            query = query.where(
                or_(
                    User.username.startswith(q, autoescape=True),
                    User.email.startswith(q.lower(), autoescape=True),
                    User.phone_number.startswith(q, autoescape=True),
                )
            )
        if status:
            query = query.where(User.status == status)
        if after:
            query = query.where(User.id > select(User.id).where(User.sub == after).scalar_subquery())
        if username:
            query = query.where(User.username == username)
        if email:
            query = query.where(User.email == normalise_email(email, ()))
        if phone_number:
            query = query.where(User.phone_number == normalise_phone(phone_number, self.default_region))
        return list(self.db.session.scalars(query))


def _profile(data: dict[str, Any]) -> dict[str, Any]:
    """The profile fields of an administrator's ``data``, by the one profile rule."""
    given = {key: data[key] for key in profile.FIELDS if key in data}
    return profile.checked(given, may_clear_username=True)


def _roles(given: object) -> list[str]:
    """Roles as stored: known ones, each once, sorted. Raises request.invalid."""
    if given is None:
        return []
    if not isinstance(given, list) or not all(isinstance(role, str) and role in ROLES for role in given):
        raise invalid("request.invalid", f"roles must be a list of: {', '.join(ROLES)}")
    return sorted(set(given))


def _check_status(status: str) -> None:
    if status not in USER_STATUSES:
        raise invalid("account.invalid_status_value", f"status must be one of {', '.join(USER_STATUSES)}")
