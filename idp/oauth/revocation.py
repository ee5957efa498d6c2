"""Revoked access tokens (RFC 7009): a deny-list in Redis, shared by every instance.

Access tokens are self-contained JWTs (RFC 9068), so revoking one means remembering its ``jti``
until the token would have expired anyway. An access token given to a person also names its
grant (``grant_id``: the refresh-token family, or the family an authorization code starts), so
revoking the grant (RFC 7009 revocation of a refresh token, reuse of a rotated refresh token, a
replayed authorization code: RFC 6749 4.1.2, RFC 9700 4.5, a password reset, sign out
everywhere) is one flag that denies every access token the grant gave, issued before the flag
or in the same instant. Every Bearer check asks ``is_denied`` about both, in one round trip.

Issuing a token writes nothing here: the busiest path of the service makes no Redis call for
revocation, and a revoked grant's flag lives as long as the longest access token can.
"""

from __future__ import annotations

import redis

from idp.clock import Clock, SystemClock
from idp.store import Keys, guarded


class AccessTokenRevocations:
    """The deny-list. Every method raises store.unavailable when Redis is down."""

    def __init__(self, redis_client: redis.Redis, family_ttl: int, clock: Clock | None = None) -> None:
        self.redis = redis_client
        self.family_ttl = family_ttl  # at least the longest access-token life
        self.clock = clock or SystemClock()

    @guarded
    def deny(self, jti: str, exp: int) -> None:
        """Deny one access token until its own expiry (nothing to keep once it has expired)."""
        remaining = exp - int(self.clock.time())
        if remaining > 0:
            self.redis.set(Keys.revoked_access_token(jti), "1", ex=remaining)

    @guarded
    def deny_family(self, family_id: str) -> None:
        """Deny every access token of the grant ``family_id``, given or still to be given."""
        self.redis.set(Keys.revoked_access_token_family(family_id), "1", ex=self.family_ttl)

    @guarded
    def is_denied(self, jti: str, family_id: str | None = None) -> bool:
        """Whether the access token ``jti`` of grant ``family_id`` (None: an application's own
        token, which belongs to no grant) was revoked, by itself or with its grant."""
        if family_id is None:
            return bool(self.redis.exists(Keys.revoked_access_token(jti)))
        pipe = self.redis.pipeline(transaction=False)  # two slots on Redis Cluster, one round trip
        pipe.exists(Keys.revoked_access_token(jti))
        pipe.exists(Keys.revoked_access_token_family(family_id))
        return any(pipe.execute())
