"""Recovery codes: ten single-use codes shown once, for when the other factors are lost.

Each is 10 characters of Crockford base32 (50 random bits) shown as ``xxxxx-xxxxx``; typed
input forgives case, spaces, dashes and the look-alikes Crockford folds (i/l → 1, o → 0).
They are stored as an HMAC keyed by the server secret and bound to the user
(``CodeCipher.digest``), so a database dump alone does not let anyone test guesses offline.
"""

from __future__ import annotations

import secrets

COUNT = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
LENGTH = 10
_FOLD = str.maketrans({"i": "1", "l": "1", "o": "0"})


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str) -> str | None:
    """The canonical form that is hashed, or None when it cannot be a recovery code."""
    cleaned = "".join((code or "").lower().split()).replace("-", "").translate(_FOLD)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned
