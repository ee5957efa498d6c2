"""The login flow behind the hosted pages: first factor (password, SMS code, email code).

STUB — filled in by the hosted pages work (issue 3). Returns results (``Completed``), never
responses; the MFA step (issue 4) will add ``NeedsFactor``.
"""

from __future__ import annotations

from idp.accounts.users import UserService
from idp.db import Database
from idp.otp.service import OtpService
from idp.sessions import SsoSessionStore
from idp.settings import Settings


class LoginFlow:
    def __init__(self, settings: Settings, db: Database, users: UserService, otp: OtpService,
                 sessions: SsoSessionStore) -> None:
        self.settings = settings
        self.db = db
        self.users = users
        self.otp = otp
        self.sessions = sessions
