"""Server-side SSO sessions in Redis. The browser cookie holds only the random session id.

A session records who signed in, when (``auth_time``, for ``max_age`` and the ID token) and
with which checks (``amr``, from which ``acr`` is derived), and which applications were
given codes from it (for logout). Its ``sid`` is the public name applications see in ID and
logout tokens (OpenID Connect Back-Channel Logout 1.0, 2.1): random and separate from the id,
since an application must never learn the cookie's value. Signing in again replaces the session under a new id
(session fixation defence, OWASP Session Management Cheat Sheet); "sign out everywhere" removes
every session of a user.

A session's id names its user's scope (``scoped_token``), so the session and the user's index
of sessions share a hash tag: one slot on Redis Cluster, and one transaction changes both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import redis

from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.crypto import new_token
from idp.store import Keys, decoded, guarded, scope_of, scoped_token, token_scope

ACR_SINGLE_FACTOR = "urn:gatehouse:acr:1fa"
ACR_MULTI_FACTOR = "urn:gatehouse:acr:2fa"


def acr_for(amr: list[str]) -> str:
    """The assurance level follows from the checks passed; it is never stored as a flag."""
    return ACR_MULTI_FACTOR if "mfa" in amr else ACR_SINGLE_FACTOR


@dataclass
class SsoSession:
    id: str
    sub: str
    auth_time: int
    amr: list[str]
    created_at: int
    ip: str = ""
    user_agent: str = ""
    clients: list[str] = field(default_factory=list)
    # when an application last got a code from it (0 in sessions stored before it was kept:
    # read as ``created_at``)
    last_seen_at: int = 0
    # the session's public identifier (ID token and logout token ``sid``); never its id
    sid: str = ""

    def __post_init__(self) -> None:
        if not self.sid:  # a session stored before it had one: a stable name that hides the id
            self.sid = hashlib.sha256(self.id.encode()).hexdigest()[:32]

    @property
    def last_seen(self) -> int:
        return self.last_seen_at or self.created_at

    @property
    def acr(self) -> str:
        return acr_for(self.amr)

    def age(self, now: float) -> int:
        """Seconds since the person last authenticated (for ``max_age``)."""
        return int(now - self.auth_time)


class SsoSessionStore:
    def __init__(self, redis_client: redis.Redis, ttl: int, clock: Clock | None = None) -> None:
        self.redis = redis_client
        self.ttl = ttl
        self.clock = clock or SystemClock()

    @guarded
    def create(self, sub: str, amr: list[str], ctx: RequestContext, *, replaces: str | None = None) -> SsoSession:
        """A fresh session (new id) for a completed login; ``replaces`` is the old id, removed."""
        now = int(self.clock.time())
        session = SsoSession(
            id=scoped_token(scope_of(sub), 32),
            sub=sub,
            auth_time=now,
            amr=list(amr),
            created_at=now,
            last_seen_at=now,
            ip=ctx.ip,
            user_agent=(ctx.user_agent or "")[:200],
            sid=new_token(16),
        )
        if replaces and token_scope(replaces) != token_scope(session.id):
            # another person's session in this browser: its keys are in another slot
            self.redis.delete(Keys.sso_session(replaces))
            replaces = None
        pipe = self.redis.pipeline(transaction=True)
        if replaces:
            pipe.delete(Keys.sso_session(replaces))
            pipe.srem(Keys.user_sessions(sub), replaces)
        pipe.set(Keys.sso_session(session.id), json.dumps(asdict(session)), ex=self.ttl)
        pipe.sadd(Keys.user_sessions(sub), session.id)
        pipe.expire(Keys.user_sessions(sub), self.ttl)
        pipe.execute()
        return session

    @guarded
    def get(self, session_id: str | None) -> SsoSession | None:
        if not session_id or len(session_id) > 100:
            return None
        raw = self.redis.get(Keys.sso_session(session_id))
        return SsoSession(**json.loads(raw)) if raw else None

    @guarded
    def add_client(self, session: SsoSession, client_id: str) -> None:
        """Remember that ``client_id`` got a code from this session (kept for logout), and
        when the session was last used (at most one write a minute for an app it knows)."""
        now = int(self.clock.time())
        if client_id in session.clients and now - session.last_seen < 60:
            return
        if client_id not in session.clients:
            session.clients.append(client_id)
        session.last_seen_at = now
        ttl = self.redis.ttl(Keys.sso_session(session.id))
        if ttl > 0:
            self.redis.set(Keys.sso_session(session.id), json.dumps(asdict(session)), ex=ttl)

    @guarded
    def list_for(self, sub: str) -> list[SsoSession]:
        """Every live session of ``sub`` (ids whose session expired are skipped)."""
        ids = sorted(decoded(member) for member in self.redis.smembers(Keys.user_sessions(sub)))
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for session_id in ids:
            pipe.get(Keys.sso_session(session_id))
        return [SsoSession(**json.loads(raw)) for raw in pipe.execute() if raw]

    @guarded
    def delete(self, session: SsoSession) -> None:
        pipe = self.redis.pipeline(transaction=token_scope(session.id) == scope_of(session.sub))
        pipe.delete(Keys.sso_session(session.id))
        pipe.srem(Keys.user_sessions(session.sub), session.id)
        pipe.execute()

    @guarded
    def delete_all(self, sub: str) -> int:
        """Sign out everywhere: every session of ``sub``; returns how many there were."""
        ids = [decoded(member) for member in self.redis.smembers(Keys.user_sessions(sub))]
        pipe = self.redis.pipeline(transaction=all(token_scope(i) == scope_of(sub) for i in ids))
        for session_id in ids:
            pipe.delete(Keys.sso_session(session_id))
        pipe.delete(Keys.user_sessions(sub))
        pipe.execute()
        return len(ids)
