"""The authorization endpoint's state: pending authorize requests, consent, codes, logout.

Flow: ``GET /oauth2/authorize`` validates the request (Authlib, ``idp.oauth.grants``) and
calls ``start``. When the browser has to sign in (or consent), the validated request is
stashed in Redis under a random ``authz_id`` and the browser goes to ``/login?authz=<id>``
(or ``/consent?authz=<id>``). When the page is done it redirects to
``/oauth2/authorize/continue?authz=<id>``, which calls ``resume``: a code (single use, 60 s)
back to the client's redirect URI. Both return an ``Outcome``; the web layer only renders it.

Codes are stored as SHA-256 and redeemed with one Lua script that deletes the code
and leaves a "used" marker holding the refresh-token family issued from it, so a replayed
code can revoke what the first redemption got (RFC 6749 4.1.2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import audit
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database
from idp.errors import error
from idp.models import Consent
from idp.oauth.claims import ClaimsRequest, scopes_of_claims
from idp.sessions import SsoSession, SsoSessionStore, end_session
from idp.settings import Settings
from idp.store import Keys, guarded

PENDING_TTL = 600  # seconds a person has to sign in before the authorize request is forgotten
CODE_TTL = 60.0  # a code lives 60 s at most (RFC 6749 4.1.2: "expire shortly after it is issued")
USED_CODE_TTL = 600  # how long a redeemed code is remembered to detect its replay


@dataclass
class AuthzRequest:
    """A validated authorize request waiting for the browser to sign in or consent."""

    id: str
    client_id: str
    client_name: str
    redirect_uri: str
    scopes: list[str]
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    response_mode: str = "query"
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    login_hint: str | None = None
    ui_locales: str | None = None
    login_methods: list[str] = field(default_factory=list)
    created_at: int = 0
    consent: str | None = None  # None until decided, then "allow" | "deny"
    consent_sub: str | None = None  # who answered: an answer binds only that person's session
    first_party: bool = True  # first-party applications skip consent
    stale_session: str | None = None  # prompt=login: this session may not finish the request
    mfa: str = "off"  # the application's MFA policy: a session without "mfa" in amr may need a step-up
    claims: ClaimsRequest | None = None  # OIDC Core 5.5: claims asked for by name (idp.oauth.claims)

    @property
    def consent_scopes(self) -> list[str]:
        """What the person agrees to release: the scopes, and the scopes of the claims asked
        for by name (an application cannot get an email address past consent by naming it)."""
        return [*self.scopes, *(s for s in scopes_of_claims(self.claims) if s not in self.scopes)]


# -- outcomes: what the web layer renders ---------------------------------------------------
@dataclass(frozen=True)
class ToLogin:
    authz_id: str


@dataclass(frozen=True)
class ToConsent:
    authz_id: str


@dataclass(frozen=True)
class ToClient:
    """Back to the client: a code or an error (RFC 6749 4.1.2, 4.1.2.1), by ``response_mode``."""

    redirect_uri: str
    params: list[tuple[str, str]]
    response_mode: str = "query"


@dataclass(frozen=True)
class Failed:
    """Nothing safe to redirect to: the web layer shows its error page (never redirects)."""

    error: str


Outcome = ToLogin | ToConsent | ToClient | Failed


@dataclass
class AuthCode:
    """A redeemed authorization code; the Authlib AuthorizationCodeMixin methods it needs."""

    client_id: str
    redirect_uri: str
    scope: str
    sub: str
    auth_time: int
    amr: list[str]
    family_id: str  # the refresh-token family its tokens start (revoked on replay)
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    sid: str | None = None
    claims: ClaimsRequest | None = None  # OIDC Core 5.5, kept for the life of the grant

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_amr(self) -> list[str]:
        return self.amr


@dataclass(frozen=True)
class Redemption:
    code: AuthCode | None = None
    replayed_family: str | None = None  # set when the code had already been redeemed


# Atomic single use: take the code and leave the "used" marker in one step, so of two racing
# redemptions exactly one gets the code and the other is seen as a replay. Both keys carry the
# code's hash as their hash tag (one slot on Redis Cluster). A replay also flags the family,
# which the first redemption checks after storing its tokens: ``redeem_code`` sets that flag
# (a key of the family's, so not in this script) before the replay revokes anything, so a
# replay racing the first exchange still ends with that exchange's tokens revoked: either the
# first exchange sees the flag, or its tokens were stored before the replay revoked the family.
_REDEEM = """
local data = redis.call('GET', KEYS[1])
if data then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], cjson.decode(data)['family_id'], 'EX', ARGV[1])
  return {1, data}
end
local family = redis.call('GET', KEYS[2])
if family then
  return {2, family}
end
return {0}
"""


def _error(pending: AuthzRequest, error: str, description: str) -> ToClient:
    params = [("error", error), ("error_description", description)]
    if pending.state:
        params.append(("state", pending.state))
    return ToClient(pending.redirect_uri, params, pending.response_mode)


class AuthorizationService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis_client: redis.Redis,
        sessions: SsoSessionStore | None = None,
        second_factor_expected: Callable[[str, str], bool] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db
        self.redis = redis_client
        self.sessions = sessions or SsoSessionStore(redis_client, settings.session_ttl)
        # MfaFlow.second_factor_expected(policy, sub): the MFA rule lives there, once
        self.second_factor_expected = second_factor_expected or (lambda policy, sub: policy == "required")
        self.code_ttl = CODE_TTL  # seconds (fractions allowed: tests use a real, short TTL)
        self._redeem = redis_client.register_script(_REDEEM)

    # -- pending requests ------------------------------------------------------------------
    @guarded
    def stash(self, pending: AuthzRequest) -> str:
        """Keep a validated request while the browser signs in; returns its new ``id``."""
        pending.id = new_token(24)
        pending.created_at = pending.created_at or int(self.clock.time())
        self.redis.set(Keys.authz_request(pending.id), json.dumps(asdict(pending)), ex=PENDING_TTL)
        return pending.id

    @guarded
    def peek(self, authz_id: str | None) -> AuthzRequest | None:
        """The pending request (for the pages to show the app's name, login_hint, locale)."""
        if not authz_id or len(authz_id) > 100:
            return None
        raw = self.redis.get(Keys.authz_request(authz_id))
        return AuthzRequest(**json.loads(raw)) if raw else None

    def _update(self, pending: AuthzRequest) -> None:
        # keepttl: answering the consent page does not extend the request's life
        self.redis.set(Keys.authz_request(pending.id), json.dumps(asdict(pending)), keepttl=True, xx=True)

    # -- the authorization endpoint ----------------------------------------------------------
    @guarded
    def start(self, pending: AuthzRequest, session: SsoSession | None) -> Outcome:
        """A freshly validated request: sign in first, ask for consent, or answer at once.

        OIDC Core 3.1.2.1: ``prompt=login`` and an exceeded ``max_age`` force a new sign-in;
        ``prompt=none`` never shows a page, it answers ``login_required``/``consent_required``.
        """
        prompt = set(pending.prompt)
        usable = (
            session is not None
            and "login" not in prompt
            and not self._too_old(session, pending)
            and self._assured(pending, session)
        )
        if not usable:
            if "none" in prompt:
                return _error(pending, "login_required", "The user is not signed in.")
            if session is not None and ("login" in prompt or not self._assured(pending, session)):
                pending.stale_session = session.id
            return ToLogin(self.stash(pending))
        assert session is not None
        return self._finish(pending, session)

    @guarded
    def resume(self, authz_id: str | None, session: SsoSession | None) -> Outcome:
        """Back from a hosted page. Raises nothing: an unknown or expired id is ``Failed``."""
        pending = self.peek(authz_id)
        if pending is None:
            return Failed("authz.expired")
        if session is None:
            return ToLogin(pending.id)
        # A sign-in made for this request (a new session id, since every login rotates it, and
        # not older than the request) satisfies prompt=login and max_age, so they cannot loop.
        fresh = session.id != pending.stale_session and session.auth_time >= pending.created_at
        if not fresh and (
            pending.stale_session is not None or self._too_old(session, pending) or not self._assured(pending, session)
        ):
            return ToLogin(pending.id)
        return self._finish(pending, session)

    def _too_old(self, session: SsoSession, pending: AuthzRequest) -> bool:
        # OIDC Core 3.1.2.1: past max_age seconds since the last sign-in, the person signs in again
        return pending.max_age is not None and session.age(self.clock.time()) > pending.max_age

    def _assured(self, pending: AuthzRequest, session: SsoSession) -> bool:
        """Step-up: a session signed in with one factor does not satisfy an application whose
        MFA policy asks this person for a second one; they sign in again (the login flow then
        applies the policy, including a remembered device)."""
        return "mfa" in session.amr or not self.second_factor_expected(pending.mfa, session.sub)

    def _finish(self, pending: AuthzRequest, session: SsoSession) -> Outcome:
        answered = pending.consent is not None and pending.consent_sub == session.sub
        if answered and pending.consent == "deny":
            self._forget(pending)
            return _error(pending, "access_denied", "The user denied the request.")
        if not answered and self._needs_consent(pending, session.sub):
            if "none" in pending.prompt:
                return _error(pending, "consent_required", "The user has not consented to this application.")
            if not pending.id:
                self.stash(pending)
            return ToConsent(pending.id)
        if pending.id and not self.redis.delete(Keys.authz_request(pending.id)):
            return Failed("authz.expired")  # single use: another tab finished this request first
        code = self._issue_code(pending, session)
        self.sessions.add_client(session, pending.client_id)
        params = [("code", code)]
        if pending.state:
            params.append(("state", pending.state))
        return ToClient(pending.redirect_uri, params, pending.response_mode)

    def _needs_consent(self, pending: AuthzRequest, sub: str) -> bool:
        if "consent" in pending.prompt:
            return True  # OIDC Core 3.1.2.1: prompt=consent asks even when a consent exists
        if pending.first_party:
            return False
        consent = self.db.session.scalar(
            select(Consent).where(Consent.sub == sub, Consent.client_id == pending.client_id)
        )
        return consent is None or not consent.covers(pending.consent_scopes)

    def _forget(self, pending: AuthzRequest) -> None:
        if pending.id:
            self.redis.delete(Keys.authz_request(pending.id))

    @guarded
    def decide_consent(self, authz_id: str, sub: str, allow: bool, ctx: RequestContext) -> None:
        """Record the person's answer on the consent page (and remember an "allow").

        Raises authz.expired when the request expired or never existed.
        """
        pending = self.peek(authz_id)
        if pending is None:
            raise error("authz.expired")
        pending.consent, pending.consent_sub = ("allow" if allow else "deny"), sub
        with self.db.transaction() as session:
            if allow:
                _upsert_consent(session, sub, pending.client_id, pending.consent_scopes)
            audit.record(
                session,
                "consent.grant" if allow else "consent.deny",
                ctx,
                sub=sub,
                client_id=pending.client_id,
                scopes=pending.consent_scopes,
            )
        self._update(pending)

    # -- codes ---------------------------------------------------------------------------------
    def _issue_code(self, pending: AuthzRequest, session: SsoSession) -> str:
        code = new_token(32)
        data = AuthCode(
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            scope=" ".join(pending.scopes),
            sub=session.sub,
            auth_time=session.auth_time,
            amr=list(session.amr),
            family_id=new_token(12),
            nonce=pending.nonce,
            code_challenge=pending.code_challenge,
            code_challenge_method="S256" if pending.code_challenge else None,
            sid=session.sid,
            claims=pending.claims,
        )
        self.redis.set(
            Keys.auth_code(hash_secret(code)), json.dumps(asdict(data)), px=max(1, int(self.code_ttl * 1000))
        )
        return code

    @guarded
    def redeem_code(self, code: str) -> Redemption:
        """Take a code for good. A code seen before comes back as ``replayed_family``."""
        if not code or len(code) > 200:
            return Redemption()
        digest = hash_secret(code)
        result = self._redeem(keys=[Keys.auth_code(digest), Keys.used_auth_code(digest)], args=[USED_CODE_TTL])
        if result[0] == 1:
            return Redemption(code=AuthCode(**json.loads(result[1])))
        if result[0] == 2:
            self.redis.set(Keys.replayed_family(result[1]), "1", ex=USED_CODE_TTL)
            return Redemption(replayed_family=result[1])
        return Redemption()

    @guarded
    def family_replayed(self, family_id: str) -> bool:
        """Whether the code that started ``family_id`` was presented again (see ``_REDEEM``)."""
        return bool(self.redis.exists(Keys.replayed_family(family_id)))

    # -- RP-initiated logout -------------------------------------------------------------------
    @guarded
    def end_session(self, session: SsoSession | None, ctx: RequestContext, *, client_id: str | None) -> None:
        """OIDC RP-Initiated Logout 2: end the browser's SSO session, tell its applications
        (Back-Channel Logout 1.0) and record it. Without a session there is nothing to end and
        nothing is written (anyone may call logout)."""
        if session is None:
            return
        with self.db.transaction() as db_session:
            audit.record(db_session, "logout", ctx, sub=session.sub, client_id=client_id)
            end_session(self.sessions, db_session, session)


def _upsert_consent(session: Session, sub: str, client_id: str, scopes: list[str]) -> None:
    """Insert or widen the consent row; a concurrent insert of the same row is merged."""
    for _attempt in range(2):
        row = session.scalar(select(Consent).where(Consent.sub == sub, Consent.client_id == client_id))
        if row is not None:
            row.scopes = sorted(set(row.scopes) | set(scopes))
            return
        try:
            with session.begin_nested():
                session.add(Consent(sub=sub, client_id=client_id, scopes=sorted(set(scopes))))
            return
        except IntegrityError:
            continue
