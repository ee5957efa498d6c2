"""The authorization endpoint's state: pending authorize requests, consent, and codes.

STUB — the interface the hosted pages code against; filled in by the OIDC work (issue 3).

Flow: ``GET /oauth2/authorize`` validates the request; when the browser has to sign in (or
consent), the validated request is stashed in Redis under a random ``authz_id`` and the
browser goes to ``/login?authz=<id>`` (or ``/consent?authz=<id>``). When the page is done it
redirects to ``/oauth2/authorize/continue?authz=<id>``, which finishes the request: a code
(single use, 60 s) back to the client's redirect URI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from idp.context import RequestContext
from idp.db import Database
from idp.settings import Settings


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

    def peek(self, authz_id: str | None) -> AuthzRequest | None:
        """The pending request (for the pages to show the app's name, login_hint, locale)."""
        raise NotImplementedError

    def decide_consent(self, authz_id: str, sub: str, allow: bool, ctx: RequestContext) -> None:
        """Record the person's answer on the consent page (and remember an "allow")."""
        raise NotImplementedError
