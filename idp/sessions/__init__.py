"""SSO sessions: the browser's signed-in state, kept in Redis (SPEC 1)."""

from idp.sessions.store import SsoSession, SsoSessionStore
from idp.sessions.tickets import SSO_TICKET_TTL, SsoTickets

__all__ = ["SSO_TICKET_TTL", "SsoSession", "SsoSessionStore", "SsoTickets"]
