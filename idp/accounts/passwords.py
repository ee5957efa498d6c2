"""Password hashing with argon2id and the password policy (SPEC 6). The only place a password
is ever handled.

Policy (NIST SP 800-63B 5.1.1.2): at least 8 characters, at most 256 (a bound on hashing cost,
not on what people may choose; nothing is ever truncated — argon2 hashes every byte, unlike
bcrypt's 72), no composition rules, and none of the most common passwords (a bundled list,
``data/common-passwords.txt``, compared case-insensitively).
"""

from __future__ import annotations

import functools
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from idp.errors import IdpError, Kind, invalid

MIN_LENGTH = 8
MAX_LENGTH = 256  # long passphrases welcome; the cap only bounds hashing cost

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_owasp = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Tests swap in cheap parameters (tests/conftest.py); production never does.
hasher: PasswordHasher = _owasp

COMMON_PASSWORDS_FILE = "common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lowercase; read once, on first use."""
    text = (resources.files("idp.accounts") / "data" / COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    return password.lower() in common_passwords()


def check_acceptable(password: str) -> None:
    """The policy for every new password (sign-up, reset, change, admin create/patch).

    Raises password.too_short / password.too_long / password.too_common (all INVALID_INPUT).
    No composition rules (NIST 800-63B).
    """
    if len(password) < MIN_LENGTH:
        raise invalid("password.too_short", f"password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise invalid("password.too_long", f"password must have at most {MAX_LENGTH} characters")
    if is_common(password):
        raise invalid("password.too_common", "this password is too common; choose another")


def not_set() -> IdpError:
    """The user has no password (signed up by code): one definition for every surface
    (CIAM ``password_not_set``, CloudBase ``password_not_set``, the hosted change form)."""
    return IdpError("password.not_set", Kind.FAILED_PRECONDITION, "password not set")


def hash_password(password: str) -> str:
    """Hash a new password, enforcing the policy. Raises what ``check_acceptable`` raises."""
    check_acceptable(password)
    return hasher.hash(password)


def rehash_password(password: str) -> str:
    """Hash an existing, just-verified password with the current parameters (rehash on
    login). No policy check: a password chosen before the list grew must still sign in."""
    return hasher.hash(password)


def needs_rehash(stored_hash: str) -> bool:
    """True when ``stored_hash`` was made with other parameters (or another algorithm) than
    the current hasher's, so a successful login should store a fresh hash."""
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
