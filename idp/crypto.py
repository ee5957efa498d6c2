"""Small security idioms, each in one place, so every caller gets the same care.

- high-entropy secrets (client secrets, refresh tokens, otp_tokens) are stored as SHA-256:
  a password hash would cap a client at a few token requests a second for no gain;
- comparisons of secrets use ``hmac.compare_digest``;
- one-time codes are stored as an HMAC keyed by the server secret, so a Redis dump does not
  reveal them and a 6-digit code cannot be brute-forced offline from the hash;
- the one place a code must be recoverable (re-sending the same code while it is valid) keeps
  it AES-GCM encrypted, never in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(candidate: str | None, stored_hash: str | None) -> bool:
    if not candidate or not stored_hash:
        return False
    return hmac.compare_digest(hash_secret(candidate), stored_hash)


def new_code(length: int) -> str:
    """A numeric one-time code of ``length`` digits from the OS CSPRNG."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


class CodeCipher:
    """Keyed hashing and reversible sealing of one-time codes, derived from the secret key."""

    def __init__(self, secret_key: str) -> None:
        self._mac_key = hashlib.sha256(b"gatehouse/code-mac/" + secret_key.encode()).digest()
        self._aead = AESGCM(hashlib.sha256(b"gatehouse/code-seal/" + secret_key.encode()).digest())

    def digest(self, token: str, code: str) -> str:
        """Bound to the otp_token, so the same code under two tokens hashes differently."""
        return hmac.new(self._mac_key, f"{token}:{code}".encode(), hashlib.sha256).hexdigest()

    def seal(self, code: str) -> str:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, code.encode(), None)).decode()

    def unseal(self, sealed: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()
