"""Second factors (SPEC 1 "Factor"): SMS and email OTP, TOTP, recovery codes, remembered devices."""

from idp.factors.devices import RememberedDevices
from idp.factors.service import FACTOR_TYPES, OTP_FACTOR, FactorService, TotpSetup

__all__ = ["FACTOR_TYPES", "OTP_FACTOR", "FactorService", "RememberedDevices", "TotpSetup"]
