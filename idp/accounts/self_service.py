"""Self-service account operations shared by the hosted pages and the CIAM JSON siblings.

STUB — filled in by the account work (issue 3): sign-up with a verified phone/email code,
password reset by code, password change, profile update, phone/email change by code.
"""

from __future__ import annotations

from idp.accounts.users import UserService
from idp.db import Database
from idp.oauth.tokens import RefreshTokenStore
from idp.otp.service import OtpService
from idp.sessions import SsoSessionStore
from idp.settings import Settings


class SelfService:
    def __init__(self, settings: Settings, db: Database, users: UserService, otp: OtpService,
                 sessions: SsoSessionStore, refresh_tokens: RefreshTokenStore) -> None:
        self.settings = settings
        self.db = db
        self.users = users
        self.otp = otp
        self.sessions = sessions
        self.refresh_tokens = refresh_tokens
