"""The second step of a login (issue 4): state tokens in Redis between the first factor and
the second, and the checks that finish the login.

SKELETON (issue 4) — signatures are pinned: the hosted pages and the OneAccess dialect call
exactly these.

A state token is ≥ 128 bits, single use, lives at most 5 minutes, is bound to the client and
(on the JSON API) to the device fingerprint (``RequestContext.device``), and is rotated after
each step. Nothing about the first factor travels outside Redis but the opaque token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from idp.accounts.users import UserService
from idp.context import RequestContext
from idp.db import Database
from idp.factors import FactorService, RememberedDevices
from idp.flows.login import Completed
from idp.models import Application
from idp.otp.service import OtpService, SendResult
from idp.settings import Settings

STATE_TOKEN_TTL = 300


@dataclass(frozen=True)
class NeedsFactor:
    """The first factor passed; a second one is needed before the login completes."""

    state_token: str
    factors: list[str]  # what the person may use: "otp_sms", "otp_email", "totp", "recovery_code"
    masked_phone: str | None = None
    masked_email: str | None = None
    expires_in: int = STATE_TOKEN_TTL
    enrol: bool = False  # policy requires MFA and the person has nothing usable: enrol first


@dataclass
class StateData:
    """What the state token stands for (kept in Redis only)."""

    sub: str
    client_id: str
    device: str | None
    amr: list[str]
    auth_time: int
    created_at: int
    factors: list[str] = field(default_factory=list)


class MfaFlow:
    def __init__(self, settings: Settings, db: Database, redis_client: redis.Redis, users: UserService,
                 otp: OtpService, factors: FactorService, devices: RememberedDevices) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis_client
        self.users = users
        self.otp = otp
        self.factors = factors
        self.devices = devices

    def after_first_factor(self, client: Application, ctx: RequestContext, done: Completed, *,
                           remembered_device: str | None = None) -> Completed | NeedsFactor:
        """``Completed`` when no second factor is needed (policy off, nothing enrolled and
        policy optional, or a remembered device); else ``NeedsFactor`` with a new state token."""
        raise NotImplementedError

    def peek(self, client: Application, ctx: RequestContext, state_token: str) -> StateData:
        """The state behind a token, checked against the client and device. Raises
        mfa.invalid_state_token (NOT_FOUND) for unknown, used, expired or foreign tokens."""
        raise NotImplementedError

    def send_code(self, client: Application, ctx: RequestContext, state_token: str, channel: str,
                  target: str | None = None) -> SendResult:
        """Send the MFA code to the user's own verified phone/email (``target``, when given, must
        be that number: OneAccess sends it). Raises mfa.invalid_state_token, mfa.target_mismatch."""
        raise NotImplementedError

    def verify(self, client: Application, ctx: RequestContext, state_token: str, factor_type: str,
               code: str, target: str | None = None) -> Completed:
        """Check the second factor; on success the state token is spent and the result has
        ``amr`` = first factor's + the factor's (``sms``, ``otp``...) + ``mfa``. Raises
        mfa.invalid_state_token, otp.* / totp.wrong_code / recovery.wrong_code."""
        raise NotImplementedError

    def rotate(self, client: Application, ctx: RequestContext, state_token: str) -> str:
        """Spend ``state_token`` and return a fresh one for the same state (after each step)."""
        raise NotImplementedError
