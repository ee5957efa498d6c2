"""SSO sessions: the browser's signed-in state, kept in Redis; the cookie holds only a random id."""

from idp.sessions.logout import end_all_sessions, end_session
from idp.sessions.store import SsoSession, SsoSessionStore
from idp.sessions.tickets import SSO_TICKET_TTL, SsoTickets

__all__ = ["SSO_TICKET_TTL", "SsoSession", "SsoSessionStore", "SsoTickets", "end_all_sessions", "end_session"]
