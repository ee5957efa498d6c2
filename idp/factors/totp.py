"""TOTP (RFC 6238) with ``pyotp``: secrets, provisioning URIs, QR codes, step matching.

Secrets are 160 bits (RFC 4226 4, the HMAC-SHA1 block the authenticator apps expect),
kept AES-GCM sealed with the app secret key (``crypto.CodeCipher``). A code is accepted for
the current step ±1 (clock drift, RFC 6238 5.2) and each step only once: the service keeps
the last step used and refuses it and anything older (replay).
"""

from __future__ import annotations

import hmac

import pyotp
import segno

ISSUER = "Gatehouse"
SECRET_CHARS = 32  # base32 characters: 32 x 5 = 160 bits
WINDOW = 1  # steps either side of now


def new_secret() -> str:
    return pyotp.random_base32(SECRET_CHARS)  # secrets.choice underneath


def provisioning_uri(secret: str, label: str) -> str:
    """``otpauth://totp/Gatehouse:<label>?secret=...&issuer=Gatehouse`` (Key Uri Format)."""
    return pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The URI as an SVG QR code in a ``data:`` URI, ready for ``<img src>`` (CSP allows
    ``img-src data:``; an image cannot run script)."""
    return segno.make(uri, error="m").svg_data_uri(scale=4)


def matching_step(secret: str, code: str, now: float, after: int | None) -> int | None:
    """The time step whose code is ``code`` (now ±WINDOW, newer than ``after``), or None."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // totp.interval)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # check every step (no early exit) so the time taken does not tell which one matched
        if hmac.compare_digest(totp.generate_otp(step), code) and (after is None or step > after):
            found = step
    return found
