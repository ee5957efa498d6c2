"""Second factors of a user: SMS and email OTP, TOTP (RFC 6238), recovery codes, remembered
devices, passkeys (Web Authentication Level 3)."""

from idp.factors.devices import RememberedDevices
from idp.factors.passkeys import PasskeyChallenge, PasskeyService
from idp.factors.service import FACTOR_TYPES, OTP_FACTOR, FactorService, TotpSetup

__all__ = [
    "FACTOR_TYPES",
    "OTP_FACTOR",
    "FactorService",
    "PasskeyChallenge",
    "PasskeyService",
    "RememberedDevices",
    "TotpSetup",
]
