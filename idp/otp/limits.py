"""Send limits against abuse and SMS pumping (artificially inflated traffic: scripted sends to
number ranges that share in the operator's fees), one Redis round trip per send.

Each send reserves one unit on every counter that applies (per number/address, per IP, per
client, per number prefix, per country, global quota). The Lua script checks them all and
increments them all atomically, so concurrent sends on several instances can never go past a
ceiling. A failed delivery gives the units back (``refund``): no quota spent on failure.

On Redis Cluster a script may only touch keys of one hash slot, so every send counter carries
the same hash tag (``{rl}``, ``Keys.rate``) and one node keeps them all. That costs nothing in
spread: every send already takes a unit of the global quota, one key on one node, whatever the
layout. Splitting the counters over slots would need a reservation per slot and a refund when a
later one refuses, so two racing sends could each be refused by the other's passing units
(or, after a crash between the steps, leave units taken); one slot keeps "all rules or none"
exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from idp.contacts import phone_country, phone_prefix
from idp.errors import error
from idp.settings import LUA_REACHED, Limits, limit_on
from idp.store import Keys

HOUR = 3600
DAY = 86400

# Check every rule first, then take one unit from each; returns {index, seconds to wait} of the
# first rule that is full, or {0, 0}. ARGV[1] is now (ms, the services' clock), then per rule:
# limit, window (s), and for the per-target interval the instant it would end if a code were
# sent now (ms; "" for the counted rules). The interval key holds the instant it ends, read
# against the clock (its Redis expiry only cleans up); the other counters live in windows named
# by their start, so both follow the services' clock. Rules that are off (a limit or window of
# 0) never get here: ``rules`` leaves them out, so no key is counted or given an expiry of 0.
_RESERVE = (
    LUA_REACHED
    + """
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
  local limit, ends = tonumber(ARGV[3 * i - 1]), ARGV[3 * i + 1]
  if ends ~= '' then
    local until_ms = tonumber(redis.call('GET', KEYS[i]) or '0')
    if until_ms > now then return {i, math.ceil((until_ms - now) / 1000)} end
  elseif reached(tonumber(redis.call('GET', KEYS[i]) or '0'), limit) then
    return {i, redis.call('TTL', KEYS[i])}
  end
end
for i = 1, #KEYS do
  local window, ends = tonumber(ARGV[3 * i]), ARGV[3 * i + 1]
  if ends ~= '' then
    redis.call('SET', KEYS[i], ends, 'EX', window)
  elseif redis.call('INCR', KEYS[i]) == 1 then
    redis.call('EXPIRE', KEYS[i], window)
  end
end
return {0, 0}
"""
)

# ARGV[i]: "1" for the interval rule (its key is simply dropped), "" for a counter.
_REFUND = """
for i = 1, #KEYS do
  if ARGV[i] == '1' or redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return #KEYS
"""


@dataclass(frozen=True)
class Rule:
    name: str  # target_interval, target_daily, ip, client, prefix, country, quota
    key: str
    limit: int
    window: int
    interval: bool = False  # one send, then none until ``window`` seconds have passed


class SendLimiter:
    def __init__(self, redis_client: redis.Redis, limits: Limits) -> None:
        self.redis = redis_client
        self.limits = limits
        self._reserve = redis_client.register_script(_RESERVE)
        self._refund = redis_client.register_script(_REFUND)

    def rules(self, channel: str, target: str, ip: str, client_id: str, now: int) -> list[Rule]:
        lim = self.limits
        hour, day = now - now % HOUR, now - now % DAY
        rules = [
            Rule("target_interval", Keys.rate("int", f"{channel}:{target}", 0), 1, lim.target_interval, True),
            Rule("target_daily", Keys.rate("day", f"{channel}:{target}", day), lim.target_daily, DAY),
            Rule("ip", Keys.rate("ip", f"{channel}:{ip}", hour), lim.ip_hourly, HOUR),
            Rule("client", Keys.rate("cli", f"{channel}:{client_id}", hour), lim.client_hourly, HOUR),
        ]
        if channel == "sms":
            rules += [
                Rule("prefix", Keys.rate("pfx", phone_prefix(target), hour), lim.prefix_hourly, HOUR),
                Rule("country", Keys.rate("cc", phone_country(target), hour), lim.country_hourly, HOUR),
            ]
        quota = lim.sms_daily_quota if channel == "sms" else lim.email_daily_quota
        rules.append(Rule("quota", Keys.rate("quota", channel, day), quota, DAY))
        # a limit of 0 switches that rule off (README "Limits"), and so does a TARGET_INTERVAL
        # of 0 (the interval rule's window): no wait between sends
        return [rule for rule in rules if limit_on(rule.limit) and limit_on(rule.window)]

    def quota_used(self, channel: str, now: int) -> int:
        """Codes sent on ``channel`` in the current quota day (the global quota's counter)."""
        day = now - now % DAY
        return int(self.redis.get(Keys.rate("quota", channel, day)) or 0)

    def reserve(self, rules: list[Rule], channel: str, now: float) -> None:
        """Take one unit from every rule or none, at ``now`` (the services' clock). Raises
        otp.rate_limited / otp.quota_exhausted."""
        now_ms = int(now * 1000)
        args: list[int | str] = [now_ms]
        for rule in rules:
            args += [rule.limit, rule.window, now_ms + rule.window * 1000 if rule.interval else ""]
        index, ttl = self._reserve(keys=[r.key for r in rules], args=args)
        if index == 0:
            return
        rule = rules[index - 1]
        retry_after = max(int(ttl), 1)
        if rule.name == "quota":
            raise error("otp.quota_exhausted", f"{channel} quota exhausted", channel=channel, retry_after=retry_after)
        raise error(
            "otp.rate_limited",
            f"{channel} rate limit exceeded",
            channel=channel,
            rule=rule.name,
            retry_after=retry_after,
        )

    def refund(self, rules: list[Rule]) -> None:
        self._refund(keys=[r.key for r in rules], args=["1" if r.interval else "" for r in rules])
