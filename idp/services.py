"""Wire the domain together from Settings: one ``Services`` per app instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from idp import metrics
from idp.accounts.passwords import Passwords
from idp.accounts.phone import PhoneChanges
from idp.accounts.self_service import SelfService
from idp.accounts.users import UserService
from idp.clock import Clock, SystemClock
from idp.contacts import phone_country
from idp.crypto import CodeCipher
from idp.db import Database
from idp.factors import FactorService, PasskeyService, RememberedDevices
from idp.federation.http import set_timeout as set_upstream_timeout
from idp.federation.links import FederatedLinks
from idp.federation.providers import IdentityProviders
from idp.flows.federated import FederatedSignIn
from idp.flows.login import LoginFlow
from idp.flows.mfa import MfaFlow
from idp.flows.provider_tokens import ProviderTokens
from idp.flows.signup import SignUpFlow
from idp.flows.verification import VerificationService
from idp.guard.bruteforce import BruteForceGuard
from idp.guard.captcha import CaptchaService
from idp.oauth.authorize import AuthorizationService
from idp.oauth.backchannel import BackchannelLogout
from idp.oauth.clients import ClientService
from idp.oauth.issuer import TokenIssuer
from idp.oauth.keys import KeyService
from idp.oauth.revocation import AccessTokenRevocations
from idp.oauth.tokens import RefreshTokenStore
from idp.otp.senders import Sender, build_senders
from idp.otp.service import OtpService
from idp.sessions import SsoSessionStore, SsoTickets
from idp.settings import Settings
from idp.store import connect


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    redis: redis.Redis
    senders: dict[str, Sender]
    users: UserService
    clients: ClientService
    otp: OtpService
    keys: KeyService
    tokens: TokenIssuer
    revocations: AccessTokenRevocations
    refresh_tokens: RefreshTokenStore
    sessions: SsoSessionStore
    sso_tickets: SsoTickets
    authz: AuthorizationService
    self_service: SelfService
    phones: PhoneChanges
    login: LoginFlow
    signup: SignUpFlow
    factors: FactorService
    devices: RememberedDevices
    passkeys: PasskeyService
    mfa: MfaFlow
    captcha: CaptchaService
    bruteforce: BruteForceGuard
    verifications: VerificationService
    # -- sign in with another identity provider
    identity_providers: IdentityProviders
    federation: FederatedSignIn
    provider_tokens: ProviderTokens
    backchannel: BackchannelLogout

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, captcha_answers: Callable[[], str] | None = None
    ) -> Services:
        """Everything, from ``settings``. ``clock`` (default: the system's) is the one every
        time-dependent rule reads; ``captcha_answers`` replaces the random captcha texts (a
        test that must read what an image says)."""
        clock = clock or SystemClock()
        db = Database(settings.database_url)
        redis_client = connect(settings.redis_url, settings.instance_path, settings.redis_timeout)
        senders = build_senders(settings)
        senders["sms"] = metrics.CountedSms(senders["sms"], phone_country)  # SMS sent, by calling code
        passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
        # a retired key stays published for longer than any token it signed can live
        keys = KeyService(
            db, retention=max(settings.id_token_ttl, settings.longest_access_token_ttl) + 3600, clock=clock
        )
        captcha = CaptchaService(settings, redis_client, answers=captcha_answers)
        bruteforce = BruteForceGuard(settings, db, redis_client, captcha, clock)
        sessions = SsoSessionStore(redis_client, settings.session_ttl, clock)
        users = UserService(db, settings.default_region, passwords, bruteforce, sessions)
        otp = OtpService(settings, db, redis_client, senders, bruteforce, clock)
        revocations = AccessTokenRevocations(redis_client, settings.longest_access_token_ttl, clock)
        refresh_tokens = RefreshTokenStore(db, settings, revocations, clock)
        factors = FactorService(settings, db, users, otp)
        devices = RememberedDevices(settings, db, clock)
        passkeys = PasskeyService(settings, db, redis_client, users, clock)
        mfa = MfaFlow(settings, db, redis_client, users, otp, factors, devices, bruteforce, clock, passkeys=passkeys)
        signup = SignUpFlow(db, users, otp, clock)
        login = LoginFlow(settings, db, users, otp, sessions, bruteforce, signup, clock, passkeys=passkeys)
        self_service = SelfService(settings, db, users, otp, sessions, refresh_tokens, devices)
        # -- sign in with another identity provider
        set_upstream_timeout(settings.delivery_timeout)
        identity_providers = IdentityProviders(db, CodeCipher(settings.secret_key), settings.issuer)
        federation = FederatedSignIn(
            db, redis_client, users, identity_providers, FederatedLinks(db, clock), bruteforce, clock
        )
        clients = ClientService(db, require_https=settings.production)
        return cls(
            settings=settings,
            clock=clock,
            db=db,
            redis=redis_client,
            senders=senders,
            users=users,
            clients=clients,
            otp=otp,
            keys=keys,
            tokens=TokenIssuer(settings, db, keys, refresh_tokens, clock),
            revocations=revocations,
            refresh_tokens=refresh_tokens,
            sessions=sessions,
            sso_tickets=SsoTickets(redis_client, sessions, db),
            authz=AuthorizationService(settings, db, redis_client, sessions, mfa.second_factor_expected, clock),
            self_service=self_service,
            phones=PhoneChanges(db, redis_client, otp, self_service),
            login=login,
            signup=signup,
            factors=factors,
            devices=devices,
            passkeys=passkeys,
            mfa=mfa,
            captcha=captcha,
            bruteforce=bruteforce,
            verifications=VerificationService(redis_client, otp, users, login, signup, self_service),
            identity_providers=identity_providers,
            federation=federation,
            provider_tokens=ProviderTokens(federation),
            backchannel=BackchannelLogout(settings, db, keys, clients, clock),
        )
