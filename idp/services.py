"""Wire the domain together from Settings: one ``Services`` per app instance."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from idp.accounts.bruteforce import BruteForceGuard
from idp.accounts.captcha import CaptchaService
from idp.accounts.phone import PhoneChanges
from idp.accounts.self_service import SelfService
from idp.accounts.users import UserService
from idp.accounts.verification import VerificationService
from idp.db import Database
from idp.factors import FactorService, RememberedDevices
from idp.flows.login import LoginFlow
from idp.flows.mfa import MfaFlow
from idp.oauth.authorize import AuthorizationService
from idp.oauth.clients import ClientService
from idp.oauth.keys import KeyService
from idp.oauth.tokens import AccessTokenGenerator, IdTokenIssuer, RefreshTokenStore
from idp.otp.senders import Sender, build_senders
from idp.otp.service import OtpService
from idp.sessions import SsoSessionStore, SsoTickets
from idp.settings import Settings
from idp.store import connect


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: redis.Redis
    senders: dict[str, Sender]
    users: UserService
    clients: ClientService
    otp: OtpService
    keys: KeyService
    access_tokens: AccessTokenGenerator
    id_tokens: IdTokenIssuer
    refresh_tokens: RefreshTokenStore
    sessions: SsoSessionStore
    sso_tickets: SsoTickets
    authz: AuthorizationService
    self_service: SelfService
    phones: PhoneChanges
    login: LoginFlow
    factors: FactorService
    devices: RememberedDevices
    mfa: MfaFlow
    captcha: CaptchaService
    bruteforce: BruteForceGuard
    verifications: VerificationService

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.database_url)
        redis_client = connect(settings.redis_url, settings.instance_path, settings.redis_timeout)
        senders = build_senders(settings)
        users = UserService(db, settings.default_region)
        # a retired key stays published for longer than any token it signed can live
        keys = KeyService(db, retention=max(settings.id_token_ttl, settings.access_token_ttl) + 3600)
        captcha = CaptchaService(settings, redis_client)
        bruteforce = BruteForceGuard(settings, db, redis_client, captcha)  # issue 5: every way in
        otp = OtpService(settings, db, redis_client, senders, users, bruteforce)
        sessions = SsoSessionStore(redis_client, settings.session_ttl)
        refresh_tokens = RefreshTokenStore(db, settings)
        factors = FactorService(settings, db, users, otp)
        devices = RememberedDevices(settings, db)
        mfa = MfaFlow(settings, db, redis_client, users, otp, factors, devices, bruteforce)
        login = LoginFlow(settings, db, users, otp, sessions, bruteforce)
        self_service = SelfService(settings, db, users, otp, sessions, refresh_tokens, devices)
        return cls(
            settings=settings,
            db=db,
            redis=redis_client,
            senders=senders,
            users=users,
            clients=ClientService(db),
            otp=otp,
            keys=keys,
            access_tokens=AccessTokenGenerator(settings, keys),
            id_tokens=IdTokenIssuer(settings, keys),
            refresh_tokens=refresh_tokens,
            sessions=sessions,
            sso_tickets=SsoTickets(redis_client, sessions, users),
            authz=AuthorizationService(settings, db, redis_client, sessions, mfa.second_factor_expected),
            self_service=self_service,
            phones=PhoneChanges(db, redis_client, otp, self_service),
            login=login,
            factors=factors,
            devices=devices,
            mfa=mfa,
            captcha=captcha,
            bruteforce=bruteforce,
            verifications=VerificationService(db, redis_client, otp, users, sessions, login),
        )
