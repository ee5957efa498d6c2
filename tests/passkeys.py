"""A software authenticator for tests: what a browser and a platform authenticator answer to
``navigator.credentials.create`` and ``get`` (Web Authentication Level 3), built by hand so a
test decides every byte that matters.

One ``SoftAuthenticator`` holds one credential: an EC P-256 key (COSE algorithm -7). It
answers creation options with ``PublicKeyCredential.toJSON()`` of a registration (attestation
format ``none``) and request options with that of an assertion, signed over
authenticatorData || SHA-256(clientDataJSON). Its options say where it thinks it is
(``rp_id``, ``origin``), whether it verifies the person (``uv``), whether the key may be synced
(``backup_eligible`` / ``backed_up``), how its signature counter moves (``sign_count`` and
``counter_step``; 0 and 0 for the many passkeys that always send 0) and which user handle it
returns::

    key = SoftAuthenticator()
    challenge = services.passkeys.registration_options(user.sub, CTX)
    services.passkeys.register(user.sub, challenge.handle, key.create(challenge.options), "Laptop", CTX)
    options = services.passkeys.authentication_options(None)
    services.passkeys.authenticate(options.handle, key.get(options.options), CTX)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://127.0.0.1:5000"  # the tests' issuer
RP_ID = "127.0.0.1"
AAGUID = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")  # any 16 bytes: a made-up model

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(
        self,
        *,
        rp_id: str = RP_ID,
        origin: str = ORIGIN,
        uv: bool = True,
        backup_eligible: bool = False,
        backed_up: bool = False,
        sign_count: int = 0,
        counter_step: int = 0,
    ) -> None:
        self.rp_id = rp_id
        self.origin = origin
        self.uv = uv
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.sign_count = sign_count
        self.counter_step = counter_step
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle: bytes | None = None  # what the creation options named as user.id

    # -- pieces ------------------------------------------------------------------------------
    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def flags(self, *, attested: bool) -> int:
        value = UP | (UV if self.uv else 0)
        value |= BE if self.backup_eligible else 0
        value |= BS if self.backed_up else 0
        return value | (AT if attested else 0)

    def authenticator_data(self, *, attested: bool) -> bytes:
        data = hashlib.sha256(self.rp_id.encode()).digest()
        data += bytes([self.flags(attested=attested)]) + struct.pack(">I", self.sign_count)
        if attested:
            data += AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id + self.cose_key()
        return data

    def client_data(self, type_: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps(
            {"type": type_, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        ).encode()

    # -- ceremonies --------------------------------------------------------------------------
    def create(self, options: dict[str, Any], *, challenge: str | None = None) -> dict[str, Any]:
        """A registration for creation options (``PublicKeyCredentialCreationOptionsJSON``);
        ``challenge`` replaces the options' one (a response to another ceremony)."""
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self.client_data("webauthn.create", challenge or options["challenge"])
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": self.authenticator_data(attested=True)})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        user_handle: bytes | str | None = "own",
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """An assertion for request options (``PublicKeyCredentialRequestOptionsJSON``). The
        counter moves by ``counter_step`` first. ``user_handle``: the one registered
        (default), other bytes, or None for none."""
        self.sign_count += self.counter_step
        handle = self.user_handle if user_handle == "own" else user_handle
        client_data = self.client_data("webauthn.get", challenge or options["challenge"])
        auth_data = self.authenticator_data(attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(handle) if isinstance(handle, bytes) else None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
