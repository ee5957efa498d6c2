"""Revoked access tokens (RFC 7009): a deny-list in Redis, shared by every instance.

Access tokens are self-contained JWTs (RFC 9068), so revoking one means remembering its ``jti``
until the token would have expired anyway; every Bearer check asks ``is_denied``. Each access
token issued to a person is also remembered under its grant's family (the refresh-token
family, or the family an authorization code starts), so that revoking the family (RFC 7009
revocation of a refresh token, reuse of a rotated refresh token, a replayed authorization
code: RFC 6749 4.1.2, RFC 9700 4.5) denies every access token it produced.

Both steps are Lua scripts, so they serialise in Redis: a token either is recorded before its
family is revoked (and is then denied with it) or is refused because the family already was.
A family's two keys share its hash tag (one slot on Redis Cluster). Each denied token's key is
its own (a Bearer check knows only the ``jti``), so the tokens the revoking script returns are
written to the deny-list right after it, one pipeline over their slots, before the revocation
answers.
"""

from __future__ import annotations

import redis

from idp.clock import Clock, SystemClock
from idp.store import Keys, guarded

# KEYS: family set, family-revoked flag. ARGV: jti, exp, now, ttl.
# Refused (0) once the family is revoked; otherwise the jti joins the family until it expires.
_REMEMBER = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return 1
"""

# KEYS: family set, family-revoked flag. ARGV: now, minimum flag ttl. Flags the family (no
# token joins it from now on) and returns its live tokens: jti, seconds left, ...
_DENY_FAMILY = """
local now = tonumber(ARGV[1])
local ttl = math.max(tonumber(ARGV[2]), redis.call('TTL', KEYS[1]))
redis.call('SET', KEYS[2], '1', 'EX', ttl)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  table.insert(out, live[i])
  table.insert(out, math.floor(tonumber(live[i + 1]) - now))
end
return out
"""


class AccessTokenRevocations:
    """The deny-list. Every method raises store.unavailable when Redis is down."""

    def __init__(self, redis_client: redis.Redis, family_ttl: int, clock: Clock | None = None) -> None:
        self.redis = redis_client
        self.family_ttl = family_ttl  # at least the longest access-token life
        self.clock = clock or SystemClock()
        self._remember = redis_client.register_script(_REMEMBER)
        self._deny_family = redis_client.register_script(_DENY_FAMILY)

    @guarded
    def remember(self, family_id: str, jti: str, exp: int) -> bool:
        """Record that ``jti`` (valid until ``exp``) was issued in ``family_id``. False when
        the family is already revoked: the caller must not hand the token out."""
        now = int(self.clock.time())
        keys = [Keys.access_token_family(family_id), Keys.revoked_access_token_family(family_id)]
        return bool(self._remember(keys=keys, args=[jti, exp, now, max(1, exp - now)]))

    @guarded
    def deny(self, jti: str, exp: int) -> None:
        """Deny one access token until its own expiry (nothing to keep once it has expired)."""
        remaining = exp - int(self.clock.time())
        if remaining > 0:
            self.redis.set(Keys.revoked_access_token(jti), "1", ex=remaining)

    @guarded
    def deny_family(self, family_id: str) -> int:
        """Deny every live access token of ``family_id`` and refuse new ones; returns how many."""
        keys = [Keys.access_token_family(family_id), Keys.revoked_access_token_family(family_id)]
        live = self._deny_family(keys=keys, args=[int(self.clock.time()), self.family_ttl])
        pipe = self.redis.pipeline(transaction=False)  # one key each, on their own slots
        for jti, remaining in zip(live[::2], live[1::2], strict=True):
            pipe.set(Keys.revoked_access_token(jti), "1", ex=max(1, int(remaining)))
        pipe.execute()
        return len(live) // 2

    @guarded
    def is_denied(self, jti: str) -> bool:
        return bool(self.redis.exists(Keys.revoked_access_token(jti)))
