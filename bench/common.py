"""What the bench scripts share: the machine, /proc readings, Redis over RESP, the Gatehouse
instance's life (environment, ``flask`` commands, the WSGI server command) and the request
bodies of a mobile sign-in. Stdlib only (the app's venv runs flask and the servers).

Used by bench/run.py (the wrk bench), bench/breakdown.py and bench/soak.py.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
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

LABELS = {
    "floor": "GET /.well-known/openid-configuration",
    "send": "POST /otp/send (SMS, login)",
    "otp": "POST /oauth2/token otp/sms grant",
    "refresh": "POST /oauth2/token refresh_token",
}

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
    candidates: list[int] = []
    if redis_url:
        port = str(urllib.parse.urlparse(redis_url).port or 6379)
        candidates = pids_matching(b"redis-server", f":{port}".encode())
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


def reset_postgresql(url: str, log) -> None:
    """Drop and create the bench database (its name is the URL's path; loopback only)."""
    parsed = urllib.parse.urlparse(url.replace("postgresql+psycopg://", "postgresql://"))
    name = parsed.path.lstrip("/")
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"--pg-url must point at a loopback address, not {parsed.hostname}")
    # fmt: off
    base = [
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parsed.hostname, "-p", str(parsed.port or 5432),
        "-U", parsed.username or "postgres", "-d", "postgres",
    ]
    # fmt: on
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        proc = subprocess.run([*base, "-c", sql], capture_output=True, text=True, timeout=60)
        log.write(f"$ psql -c {sql!r}\n{proc.stdout}{proc.stderr}\n")
        if proc.returncode != 0:
            raise SystemExit(f"PostgreSQL: {sql} failed: {proc.stderr.strip()}")


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


WSGI_SERVERS = ("gthread", "sync", "granian")


def gunicorn_cmd(port: int, threads: int, app: str = "app:create_app()", worker_class: str = "gthread") -> list[str]:
    """One gunicorn worker (``gthread`` with ``threads`` threads, or ``sync``: one request at a
    time, and it closes the connection after each answer), pinned to core 0."""
    # options next to their values
    # fmt: off
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "-k", worker_class, "--threads", str(threads), "-w", "1", "-b", f"127.0.0.1:{port}", "--keep-alive", "30",
    ]
    # fmt: on
    help_text = subprocess.run([str(VENV_BIN / "gunicorn"), "--help"], capture_output=True, text=True).stdout
    if "--no-control-socket" in help_text:  # gunicorn >= 24: no shared ~/.gunicorn socket
        cmd.append("--no-control-socket")
    cmd.append(app)
    return pinned(cmd, 0)


def granian_cmd(port: int, threads: int, app: str = "app:create_app()") -> list[str]:
    """One granian worker (Rust HTTP server, WSGI interface) with ``threads`` blocking threads,
    pinned to core 0. ``module:factory()`` targets are passed as ``--factory module:factory``."""
    target, factory = (app[:-2], ["--factory"]) if app.endswith("()") else (app, [])
    # fmt: off
    cmd = [
        str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--blocking-threads", str(threads), "--no-ws", *factory, target,
    ]
    # fmt: on
    return pinned(cmd, 0)


def server_cmd(kind: str, port: int, threads: int, app: str = "app:create_app()") -> list[str]:
    if kind == "granian":
        if not (VENV_BIN / "granian").exists():
            raise SystemExit("--server granian: granian is not installed (`.venv/bin/pip install granian`)")
        return granian_cmd(port, threads, app)
    return gunicorn_cmd(port, threads, app, kind)


def pinned(cmd: list[str], core: int) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if shutil.which("taskset") else cmd


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


def otp_body(
    number: str, otp_token: str, code: str, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET
) -> bytes:
    return json.dumps(
        {
            "grant_type": OTP_SMS_GRANT,
            "client_id": client_id,
            "client_secret": client_secret,
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


# -- process trees (a server's master and its workers) ------------------------------------------
def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (gunicorn or granian master and workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def tree_cpu(pids: list[int]) -> dict[int, float]:
    """user+system CPU seconds of each process still alive."""
    out = {}
    for pid in pids:
        try:
            out[pid] = sum(proc_cpu_seconds(pid))
        except (OSError, IndexError):
            continue
    return out


def rss_mib(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return round(total_kb / 1024, 1)


def pids_matching(*needles: bytes) -> list[int]:
    """Processes whose command line contains every needle (read-only /proc scan, to report the
    CPU of the database and Redis servers the bench talks to)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if all(n in cmd for n in needles):
                out.append(int(entry.name))
    return out
