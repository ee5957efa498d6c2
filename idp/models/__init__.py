"""SQL models, one module per aggregate. Import from here."""

from idp.models.audit import AuditEvent
from idp.models.clients import Application, AuthSource
from idp.models.consents import Consent
from idp.models.factors import Factor, RecoveryCode, RememberedDevice
from idp.models.federation import FederatedLink, IdentityProvider
from idp.models.keys import SigningKey
from idp.models.logout import LogoutDelivery
from idp.models.passkeys import Passkey
from idp.models.tokens import RefreshToken
from idp.models.users import User

__all__ = [
    "Application",
    "AuditEvent",
    "AuthSource",
    "Consent",
    "Factor",
    "FederatedLink",
    "IdentityProvider",
    "LogoutDelivery",
    "Passkey",
    "RecoveryCode",
    "RefreshToken",
    "RememberedDevice",
    "SigningKey",
    "User",
]
