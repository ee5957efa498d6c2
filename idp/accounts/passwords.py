"""Password hashing with argon2id (SPEC 6). The only place a password is ever handled."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from idp.errors import invalid

MIN_LENGTH = 8
MAX_LENGTH = 256  # long passphrases welcome; the cap only bounds hashing cost

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_owasp = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Tests swap in cheap parameters (tests/conftest.py); production never does.
hasher: PasswordHasher = _owasp


def check_acceptable(password: str) -> None:
    """Raises password.too_short / password.too_long. No composition rules (NIST 800-63B)."""
    if len(password) < MIN_LENGTH:
        raise invalid("password.too_short", f"password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise invalid("password.too_long", f"password must have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_acceptable(password)
    return hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
