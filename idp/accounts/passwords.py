"""Password hashing with argon2id (OWASP Password Storage Cheat Sheet parameters, rehashed at the
next login when they change) and the password policy. The only place a password is ever handled.

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

from idp.errors import IdpError, error, invalid

MIN_LENGTH = 8
MAX_LENGTH = 256  # long passphrases welcome; the cap only bounds hashing cost

COMMON_PASSWORDS_FILE = "common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lowercase; read once, on first use."""
    text = (resources.files("idp.accounts") / "data" / COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


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
        raise invalid("password.too_common")


def not_set() -> IdpError:
    """The user has no password (signed up by code): one definition for every surface
    (CIAM ``password_not_set``, CloudBase ``password_not_set``, the hosted change form)."""
    return error("password.not_set")


class Passwords:
    """Hashing with argon2id at the configured cost (``Settings.argon2_*``; the defaults are
    the OWASP Password Storage Cheat Sheet's m=19 MiB, t=2, p=1)."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19 * 1024, parallelism: int = 1) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """Hash a new password, enforcing the policy. Raises what ``check_acceptable`` raises."""
        check_acceptable(password)
        return self.hasher.hash(password)

    def rehash(self, password: str) -> str:
        """Hash an existing, just-verified password with the current parameters (rehash on
        login). No policy check: a password chosen before the list grew must still sign in."""
        return self.hasher.hash(password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when ``stored_hash`` was made with other parameters (or another algorithm) than
        the current ones, so a successful login should store a fresh hash."""
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """``password`` against ``stored_hash``; with no hash (no such user, no password set)
        against a dummy one, so every answer costs the same argon2 work and its timing does not
        tell whether an account exists."""
        if stored_hash is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash("gatehouse-dummy-password")
            verify_password(self._dummy, password)
            return False
        return verify_password(stored_hash, password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whatever parameters made ``stored_hash`` (argon2 keeps them in the hash)."""
    try:
        return _VERIFIER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_VERIFIER = PasswordHasher()
