"""SSO sessions: the browser's signed-in state, kept in Redis (SPEC 1)."""

from idp.sessions.store import SsoSession, SsoSessionStore

__all__ = ["SsoSession", "SsoSessionStore"]
