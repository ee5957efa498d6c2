"""The authorization endpoint's state: pending authorize requests, consent, and codes.

STUB — the interface the hosted pages code against; filled in by the OIDC work (issue 3).

Flow: ``GET /oauth2/authorize`` validates the request; when the browser has to sign in (or
consent), the validated request is stashed in Redis under a random ``authz_id`` and the
browser goes to ``/login?authz=<id>`` (or ``/consent?authz=<id>``). When the page is done it
redirects to ``/oauth2/authorize/continue?authz=<id>``, which finishes the request: a code
(single use, 60 s) back to the client's redirect URI.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import redis

from idp.context import RequestContext
from idp.crypto import new_token
from idp.db import Database
from idp.settings import Settings
from idp.store import Keys, guarded

PENDING_TTL = 600  # seconds a person has to sign in before the authorize request is forgotten


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


class AuthorizationService:
    def __init__(self, settings: Settings, db: Database, redis_client: redis.Redis) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis_client

    @guarded
    def stash(self, pending: AuthzRequest) -> str:
        """Keep a validated request while the browser signs in; returns its new ``id``."""
        pending.id = new_token(24)
        pending.created_at = pending.created_at or int(time.time())
        self.redis.set(Keys.authz_request(pending.id), json.dumps(asdict(pending)), ex=PENDING_TTL)
        return pending.id

    @guarded
    def peek(self, authz_id: str | None) -> AuthzRequest | None:
        """The pending request (for the pages to show the app's name, login_hint, locale)."""
        if not authz_id or len(authz_id) > 100:
            return None
        raw = self.redis.get(Keys.authz_request(authz_id))
        return AuthzRequest(**json.loads(raw)) if raw else None

    def decide_consent(self, authz_id: str, sub: str, allow: bool, ctx: RequestContext) -> None:
        """Record the person's answer on the consent page (and remember an "allow")."""
        raise NotImplementedError
