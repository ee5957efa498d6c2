"""Phone numbers and email addresses, parsed by the libraries that know them best."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from idp.errors import invalid


# Parsing is pure and costs more than the rest of a code check; one request parses the same
# number in several rules (send limits, the brute-force guard, the account lookup). Refusals
# raise, and exceptions are not cached.
@lru_cache(maxsize=4096)
def normalise_phone(raw: str, default_region: str) -> str:
    """Return E.164 for ``+8613612345678``, ``+86 136…`` or a national number in the region.

    A number with letters is malformed: phonenumbers would read ``1361234abcd`` as keypad
    digits (vanity numbers), and a code must go to the number the person typed, not a guess.

    Raises ``contact.malformed_phone``.
    """
    if not raw or len(raw) > 32 or any(char.isalpha() for char in raw):
        raise invalid("contact.malformed_phone")
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise invalid("contact.malformed_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise invalid("contact.malformed_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def phone_country(e164: str) -> str:
    """The calling code (``86``) for per-country ceilings."""
    return str(phonenumbers.parse(e164).country_code)


def phone_prefix(e164: str) -> str:
    """The number range an SMS-pumping run walks through: all but the last four digits."""
    return e164[:-4]


@lru_cache(maxsize=4096)
def normalise_email(raw: str, blocklist: tuple[str, ...]) -> str:
    """Return the normalised, lower-cased address. Raises ``contact.malformed_email`` or ``contact.blocked_email``.

    Syntax only (no DNS lookups: they are slow and leak which addresses we are asked about).
    """
    if not raw or len(raw) > 320:
        raise invalid("contact.malformed_email")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise invalid("contact.malformed_email") from exc
    # Lower-cased like Keycloak and Auth0 do: people type their address in any case, and one
    # mailbox must be one identity and one rate-limit subject.
    email = result.normalized.lower()
    domain = email.rsplit("@", 1)[1].lower()
    if any(domain == blocked or domain.endswith("." + blocked) for blocked in blocklist):
        raise invalid("contact.blocked_email")
    return email


def mask_target(channel: str, target: str) -> str:
    """``+86 136****5678`` or ``a***@example.com``: enough to recognise, not to harvest."""
    if channel == "email":
        local, _, domain = target.partition("@")
        return f"{local[:1]}***@{domain}"
    try:
        number = phonenumbers.parse(target)
    except phonenumbers.NumberParseException:
        return "****"
    national = str(number.national_number)
    if len(national) < 8:
        return f"+{number.country_code} ****{national[-2:]}"
    return f"+{number.country_code} {national[:3]}****{national[-4:]}"
