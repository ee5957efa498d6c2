"""The profile rule: what a person (sign-up, their own account) or an administrator may store
about a user, and the shape of each value. One rule for every face.

The fields are ``name``, ``locale``, ``username`` and the other standard claims of OpenID
Connect Core 1.0, 5.1: ``given_name``, ``family_name``, ``middle_name``, ``nickname``,
``profile``, ``picture``, ``website`` (http or https URLs), ``gender``, ``birthdate``
(``YYYY-MM-DD``, ``0000-MM-DD`` when the year is withheld, or ``YYYY``) and ``zoneinfo`` (an
IANA time zone such as ``Europe/Paris``). Status, verified flags and contacts are not profile
fields: contacts change only with a code, status only through an administrator.

``None`` clears a field; text is trimmed and blank text clears it too.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Collection, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from idp.errors import IdpError, invalid
from idp.models.users import PROFILE_CLAIM_COLUMNS

# the standard claims beyond name and locale (OpenID Connect Core 1.0, 5.1)
CLAIMS = PROFILE_CLAIM_COLUMNS
FIELDS = ("name", "locale", "username", *CLAIMS)

# One username rule for every face (Tencent CloudBase "User Login API": 2-48 characters,
# letters (case-sensitive), digits and -_.:+@, starting with a letter or digit).
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+@-]{1,47}")
# a BCP 47 language tag, as OpenID Connect Core 1.0 5.1 asks of ``locale`` (zh-CN, en, zh_Hans)
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
BIRTHDATE_PATTERN = re.compile(r"(\d{4})(?:-(\d{2})-(\d{2}))?")
MAX_TEXT = 200
MAX_URL = 2048
MAX_GENDER = 32


def check_username(username: object) -> None:
    """Raises account.invalid_username."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise invalid("account.invalid_username")


def checked(
    data: Mapping[str, Any], allowed: Collection[str] = FIELDS, *, may_clear_username: bool = False
) -> dict[str, Any]:
    """``data`` as it may be stored: trimmed, blank → None. A person cannot remove their
    username, only change it (it may be how they sign in); an administrator may
    (``may_clear_username``).

    Raises account.invalid_field (a field outside ``allowed``), account.invalid_<field>.
    """
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise invalid("account.invalid_field", f"cannot change {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key == "username" and value is None and not may_clear_username:
            check_username(value)  # raises
        fields[key] = None if value is None else _RULES[key](key, value)
    return fields


def _text(limit: int) -> Callable[[str, object], str | None]:
    def rule(key: str, value: object) -> str | None:
        if not isinstance(value, str) or len(value) > limit:
            raise _bad(key, f"{key} must be text of at most {limit} characters")
        return value.strip() or None

    return rule


def _username(key: str, value: object) -> str:
    check_username(value)
    return str(value)


def _locale(key: str, value: object) -> str:
    if not isinstance(value, str) or len(value) > 16 or not LOCALE_PATTERN.fullmatch(value):
        raise _bad(key, "locale must be a language tag such as zh-CN or en")
    return value


def _url(key: str, value: object) -> str | None:
    """An absolute http(s) URL with a host (OpenID Connect Core 1.0 5.1: profile, picture and
    website are URLs; anything else, ``javascript:`` for one, would be shown as a link)."""
    text = value.strip() if isinstance(value, str) else None
    if text == "":
        return None
    try:
        parts = urlsplit(text) if text and len(text) <= MAX_URL else None
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() or ord(char) < 32 for char in text or "")
    ):
        raise _bad(key, f"{key} must be an http or https URL of at most {MAX_URL} characters")
    return text


def _birthdate(key: str, value: object) -> str:
    """OpenID Connect Core 1.0 5.1: ISO 8601 ``YYYY-MM-DD``; the year may be ``0000`` (withheld),
    or the year alone may be given. The date must exist (no 2023-02-29)."""
    match = BIRTHDATE_PATTERN.fullmatch(value) if isinstance(value, str) else None
    year = int(match.group(1)) if match else 0
    try:
        if match is None or (match.group(2) is None and year == 0):
            raise ValueError(value)
        if match.group(2) is not None:  # a withheld year: 2000 is a leap year, so 02-29 stands
            date(year or 2000, int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise _bad(key, "birthdate must be a real date as YYYY-MM-DD, 0000-MM-DD or YYYY") from None
    return str(value)


def _zoneinfo(key: str, value: object) -> str:
    if not isinstance(value, str) or value not in _time_zones():
        raise _bad(key, "zoneinfo must be an IANA time zone such as Asia/Shanghai")
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _bad(key: str, message: str) -> IdpError:
    return _INVALID[key](message)


# each field's error, its code written out (the error table checks every code is raised)
_INVALID: dict[str, Callable[[str], IdpError]] = {
    "name": lambda message: invalid("account.invalid_name", message),
    "given_name": lambda message: invalid("account.invalid_given_name", message),
    "family_name": lambda message: invalid("account.invalid_family_name", message),
    "middle_name": lambda message: invalid("account.invalid_middle_name", message),
    "nickname": lambda message: invalid("account.invalid_nickname", message),
    "gender": lambda message: invalid("account.invalid_gender", message),
    "locale": lambda message: invalid("account.invalid_locale", message),
    "username": lambda message: invalid("account.invalid_username", message),
    "profile": lambda message: invalid("account.invalid_profile", message),
    "picture": lambda message: invalid("account.invalid_picture", message),
    "website": lambda message: invalid("account.invalid_website", message),
    "birthdate": lambda message: invalid("account.invalid_birthdate", message),
    "zoneinfo": lambda message: invalid("account.invalid_zoneinfo", message),
}


_RULES: dict[str, Callable[[str, Any], Any]] = {
    "name": _text(MAX_TEXT),
    "given_name": _text(MAX_TEXT),
    "family_name": _text(MAX_TEXT),
    "middle_name": _text(MAX_TEXT),
    "nickname": _text(MAX_TEXT),
    "gender": _text(MAX_GENDER),
    "locale": _locale,
    "username": _username,
    "profile": _url,
    "picture": _url,
    "website": _url,
    "birthdate": _birthdate,
    "zoneinfo": _zoneinfo,
}
