#!/usr/bin/env python3
"""Gatehouse soak: two instances behind one issuer on PostgreSQL + a three-master Redis Cluster,
mixed traffic for ``--minutes``, with one Redis node and then PostgreSQL restarted mid-run.

Everything runs on loopback and is started here from the machine's binaries: a private
PostgreSQL cluster (``initdb``/``pg_ctl``), three ``redis-server`` processes joined into a
cluster (append-only files on, as in production, so a restarted node comes back with its
keys), an SMS gateway (a local HTTP server the webhook sender posts to: the soak reads each
code from it), and two gunicorn instances sharing the issuer, the secret key, the database and
the cluster. The load is a mix of, per turn of each client thread:

  send+otp  POST /otp/send, then the OTP grant with auto sign-up; the same code is replayed
            once after a success (it must be refused: no code is spent twice)
  refresh   rotate one refresh-token family (each OTP grant starts one); a family is broken
            if a refresh of its current token is ever refused with invalid_grant
  login     the hosted password page: GET /login, POST the form with its CSRF token, expect
            the redirect to /account

Outages answer 503; a request that got 503 is retried later with the same inputs (the same
code, the same refresh token), which must then work. At the end every family refreshes once
more. Results (requests, errors by status, p50/p99 per kind, RSS of each instance at start
and end, the two invariants) go to stdout and bench/out/soak-<time>.json.

Run: ``.venv/bin/python bench/soak.py`` (``--minutes 1`` for a quick check). Needs the
PostgreSQL server binaries (``make postgresql``) and ``redis-server`` (``make redis-server``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import glob
import json
import os
import pwd
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BASIC,
    BENCH_LIMITS,
    OUT,
    ROOT,
    VENV_BIN,
    free_port,
    machine_info,
    otp_body,
    phone_numbers,
    refresh_body,
    run_cli,
    send_body,
    stop,
    wait_ready,
)

PASSWORD = "soak-Password-2718"
CODE = re.compile(r"\b(\d{4,10})\b")


# -- the stores ---------------------------------------------------------------------------
class PrivatePostgres:
    """A PostgreSQL cluster of our own in ``folder``, on a free loopback port (trust auth)."""

    def __init__(self, folder: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("no PostgreSQL server binaries: run `make postgresql`")
        self.bin = Path(found[-1]).parent
        self.folder, self.port = folder, free_port()
        self.data = folder / "data"
        self.user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


class RedisCluster:
    """Three masters, no replicas, on free loopback ports; append-only so a restart keeps keys."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}

    def start_node(self, port: int) -> None:
        node = self.folder / str(port)
        node.mkdir(parents=True, exist_ok=True)
        # fmt: off
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--dir", str(node),
             "--appendonly", "yes", "--save", "", "--logfile", str(node / "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # fmt: on
        self._wait(lambda: self._cli(port, "PING") == "PONG", f"redis-server on {port}")

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ok()

    def wait_ok(self) -> None:
        self._wait(
            lambda: all("cluster_state:ok" in self._cli(p, "CLUSTER", "INFO") for p in self.ports), "cluster state ok"
        )

    def stop_node(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.terminate()
        proc.wait(timeout=15)

    def stop(self) -> None:
        for port in list(self.procs):
            self.stop_node(port)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @staticmethod
    def _cli(port: int, *args: str) -> str:
        proc = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=5)
        return proc.stdout.strip()

    @staticmethod
    def _wait(check, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if check():
                    return
            time.sleep(0.2)
        raise SystemExit(f"timed out waiting for {what}")


class SmsGateway:
    """The operator's SMS gateway as the webhook sender sees it; keeps the last code per number."""

    def __init__(self) -> None:
        codes: dict[str, str] = {}
        self.codes = codes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                found = CODE.search(body["text"])
                if found:
                    codes[body["to"]] = found.group(1)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"


# -- the load -----------------------------------------------------------------------------
class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.status: collections.Counter = collections.Counter()
        self.events: collections.Counter = collections.Counter()

    def add(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[(kind, status)] += 1

    def event(self, name: str) -> None:
        with self.lock:
            self.events[name] += 1


def why(response) -> str:
    """The error a refusal names (``invalid_grant: ...``), for the tally."""
    with contextlib.suppress(Exception):
        body = response.json()
        return f"{body.get('error')}: {body.get('error_description', '')}"[:80]
    return "?"


def timed(tally: Tally, kind: str, call):
    started = time.perf_counter()
    try:
        response = call()
        status = response.status_code
    except requests.RequestException:
        response, status = None, 0  # no answer at all (refused, reset, timed out)
    tally.add(kind, status, time.perf_counter() - started)
    return response, status


class Soak:
    def __init__(self, bases: list[str], gateway: SmsGateway, deadline: float, seed: int) -> None:
        self.bases, self.gateway, self.deadline = bases, gateway, deadline
        self.tally = Tally()
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.numbers = iter(phone_numbers(200_000, self.rng, set()))
        self.families: list[str] = []  # the current refresh token of each family
        self.pending_codes: list[tuple[str, str, str]] = []  # (number, otp_token, code) answered 503
        self.users: list[str] = []

    def base(self) -> str:
        return self.rng.choice(self.bases)

    # one turn of a client thread
    def send_and_exchange(self, http: requests.Session) -> None:
        with self.lock:
            number = next(self.numbers)
        response, status = timed(
            self.tally,
            "send",
            lambda: http.post(
                self.base() + "/otp/send",
                data=send_body(number),
                headers={"Content-Type": "application/json", "Authorization": BASIC},
                timeout=10,
            ),
        )
        if status != 200 or response is None:
            return
        otp_token = response.json()["otp_token"]
        code = self.gateway.codes.get("+86" + number) or self.gateway.codes.get(number)
        if code is None:
            self.tally.event("code_not_delivered")
            return
        self.exchange(http, number, otp_token, code)

    def exchange(self, http: requests.Session, number: str, otp_token: str, code: str) -> None:
        body = otp_body(number, otp_token, code)
        response, status = timed(
            self.tally,
            "otp",
            lambda: http.post(
                self.base() + "/oauth2/token", data=body, headers={"Content-Type": "application/json"}, timeout=10
            ),
        )
        if status == 200 and response is not None:
            with self.lock:
                self.families.append(response.json()["refresh_token"])
            _replay, replay_status = timed(
                self.tally,
                "otp_replay",
                lambda: http.post(
                    self.base() + "/oauth2/token", data=body, headers={"Content-Type": "application/json"}, timeout=10
                ),
            )
            self.tally.event("code_spent_twice" if replay_status == 200 else "replay_refused")
        elif status in (0, 503):
            with self.lock:
                self.pending_codes.append((number, otp_token, code))
        else:
            self.tally.event(f"otp_refused_{status}_{why(response)}")

    def retry_pending_code(self, http: requests.Session) -> bool:
        with self.lock:
            if not self.pending_codes:
                return False
            number, otp_token, code = self.pending_codes.pop(0)
        self.tally.event("code_retried")
        self.exchange(http, number, otp_token, code)
        return True

    def refresh(self, http: requests.Session) -> None:
        with self.lock:
            if not self.families:
                return
            index = self.rng.randrange(len(self.families))
            token = self.families[index]
            if not token:  # another thread is rotating this family (or it broke)
                return
            self.families[index] = ""  # taken: no other thread rotates this family meanwhile
        try:
            response, status = timed(
                self.tally,
                "refresh",
                lambda: http.post(
                    self.base() + "/oauth2/token",
                    data=refresh_body(token),
                    headers={"Content-Type": "application/json"},
                    timeout=10,
                ),
            )
            if status == 200 and response is not None:
                token = response.json()["refresh_token"]
            elif status not in (0, 503):
                self.tally.event(f"family_broken_{status}_{why(response)}")
                token = ""
        finally:
            with self.lock:
                self.families[index] = token

    def hosted_login(self, http: requests.Session) -> None:
        if not self.users:
            return
        username = self.rng.choice(self.users)
        base = self.base()
        page = requests.Session()
        response, status = timed(self.tally, "login_page", lambda: page.get(base + "/login", timeout=10))
        if status != 200 or response is None:
            return
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', response.text
        )
        if csrf is None:
            self.tally.event("login_page_without_csrf")
            return
        form = {"csrf_token": csrf.group(1), "username": username, "password": PASSWORD}
        response, status = timed(
            self.tally,
            "login_post",
            lambda: page.post(base + "/login", data=form, allow_redirects=False, timeout=10),
        )
        if status == 302 and response is not None and "/account" in response.headers.get("Location", ""):
            self.tally.event("login_ok")
        elif status not in (0, 503):
            self.tally.event(f"login_refused_{status}")
            if response is not None and status >= 500:
                self.tally.event("server_error")

    def client(self) -> None:
        http = requests.Session()
        while time.monotonic() < self.deadline:
            if self.retry_pending_code(http):
                continue
            roll = self.rng.random()
            if roll < 0.35:
                self.send_and_exchange(http)
            elif roll < 0.80:
                self.refresh(http)
            else:
                self.hosted_login(http)

    def final_check(self) -> dict:
        """Every family refreshes once more, every code still pending is exchanged."""
        http = requests.Session()
        while self.retry_pending_code(http):
            pass
        broken = 0
        for index, token in enumerate(self.families):
            if not token:
                broken += 1
                continue
            response = http.post(
                self.bases[index % 2] + "/oauth2/token",
                data=refresh_body(token),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            broken += response.status_code != 200
        return {"families": len(self.families), "families_broken": broken}


# -- the run ------------------------------------------------------------------------------
def instance_rss(proc: subprocess.Popen) -> int:
    with contextlib.suppress(psutil.Error):
        master = psutil.Process(proc.pid)
        return sum(p.memory_info().rss for p in [master, *master.children(recursive=True)])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--users", type=int, default=50, help="people with a password, for the hosted login")
    parser.add_argument("--outage-seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is missing: run `make redis-server`")

    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-soak-"))
    os.chmod(tmp, 0o755)
    postgres, cluster, gateway = PrivatePostgres(tmp / "pg"), RedisCluster(tmp / "redis"), SmsGateway()
    procs: list[subprocess.Popen] = []
    log = (tmp / "soak.log").open("w")
    try:
        postgres.init()
        cluster.start()
        ports = [free_port(), free_port()]
        issuer = f"http://127.0.0.1:{ports[0]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        env.update(BENCH_LIMITS)
        admin_token = "soak-" + os.urandom(12).hex()
        env.update(
            GATEHOUSE_ENV="development",
            GATEHOUSE_ISSUER=issuer,
            GATEHOUSE_SECRET_KEY="soak-" + os.urandom(16).hex(),
            GATEHOUSE_ADMIN_TOKEN=admin_token,
            GATEHOUSE_INSTANCE_PATH=str(tmp / "instance"),
            GATEHOUSE_SMS_SENDER="webhook",
            GATEHOUSE_SMS_WEBHOOK_URL=gateway.url,
            GATEHOUSE_LIMIT_TARGET_INTERVAL="0",
            GATEHOUSE_LIMIT_LOGIN_CAPTCHA_AFTER_IP="0",
            DATABASE_URL=postgres.url,
            REDIS_URL=cluster.url,
        )
        run_cli(["db", "upgrade"], env, log)
        run_cli(["demo", "--json"], env, log)
        for port in ports:
            # fmt: off
            cmd = [str(VENV_BIN / "gunicorn"), "-k", "gthread", "--threads", "4", "-w", str(args.workers),
                   "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10", "app:create_app()"]
            # fmt: on
            procs.append(
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
        for port, proc in zip(ports, procs, strict=True):
            wait_ready(port, proc)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        seconds = args.minutes * 60
        soak = Soak(bases, gateway, time.monotonic() + seconds, args.seed)
        admin = requests.Session()
        for n in range(args.users):
            username = f"soak-{n}"
            response = admin.post(
                bases[n % 2] + "/admin/api/v1/users",
                json={"username": username, "password": PASSWORD},
                headers={"Authorization": f"Bearer {admin_token}"},
                timeout=30,
            )
            if response.status_code != 201:
                raise SystemExit(f"creating {username}: {response.status_code} {response.text[:200]}")
            soak.users.append(username)

        started = time.monotonic()
        threads = [threading.Thread(target=soak.client, daemon=True) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        time.sleep(min(30, seconds * 0.05))  # warm: workers loaded, pools filled
        rss_start = [instance_rss(proc) for proc in procs]
        timeline = []

        def at(fraction: float) -> None:
            pause = started + seconds * fraction - time.monotonic()
            if pause > 0:
                time.sleep(pause)

        at(0.3)
        timeline.append((round(time.monotonic() - started, 1), f"redis node {cluster.ports[0]} stopped"))
        cluster.stop_node(cluster.ports[0])
        time.sleep(args.outage_seconds)
        cluster.start_node(cluster.ports[0])
        cluster.wait_ok()
        timeline.append((round(time.monotonic() - started, 1), "redis node back, cluster ok"))
        at(0.6)
        timeline.append((round(time.monotonic() - started, 1), "postgresql stopped"))
        postgres.stop()
        time.sleep(args.outage_seconds)
        postgres.start()
        timeline.append((round(time.monotonic() - started, 1), "postgresql back"))
        for thread in threads:
            thread.join()
        rss_end = [instance_rss(proc) for proc in procs]
        elapsed = time.monotonic() - started
        invariants = soak.final_check()
    finally:
        for proc in procs:
            stop(proc)
        with contextlib.suppress(Exception):
            cluster.stop()
        with contextlib.suppress(Exception):
            postgres.stop()
        gateway.server.shutdown()
        log.close()

    tally = soak.tally
    by_status: collections.Counter = collections.Counter()
    for (_kind, status), count in tally.status.items():
        by_status[status] += count
    served = sum(by_status.values())
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "minutes": round(elapsed / 60, 2),
        "instances": 2,
        "workers_per_instance": args.workers,
        "client_threads": args.threads,
        "requests": served,
        "requests_per_second": round(served / elapsed, 1),
        "by_status": {str(k): v for k, v in sorted(by_status.items())},
        "by_kind": {
            kind: {
                "count": len(values),
                "statuses": {str(s): c for (k, s), c in sorted(tally.status.items()) if k == kind},
                "p50_ms": round(percentile(values, 0.50) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            }
            for kind, values in sorted(tally.latency.items())
        },
        "p99_ms_all": round(percentile([v for vs in tally.latency.values() for v in vs], 0.99) * 1000, 1),
        "rss_mib_start": [round(r / 2**20, 1) for r in rss_start],
        "rss_mib_end": [round(r / 2**20, 1) for r in rss_end],
        "rss_growth_pct": [round((e - s) * 100 / s, 1) if s else None for s, e in zip(rss_start, rss_end, strict=True)],
        "events": dict(sorted(tally.events.items())),
        "timeline": timeline,
        **invariants,
    }
    OUT.mkdir(exist_ok=True)
    path = OUT / f"soak-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {path}; logs in {tmp}")
    failed = (
        by_status.get(500, 0)
        or result["events"].get("code_spent_twice", 0)
        or invariants["families_broken"]
        or any(g is not None and g > 10 for g in result["rss_growth_pct"])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
