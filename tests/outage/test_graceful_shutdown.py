"""gunicorn (``gthread``, 2 workers) stopped with SIGTERM while sign-ins are in flight: every
request it accepted completes with 200, the master exits 0 within ``--graceful-timeout``, and
the stores hold nothing half-written: every refresh token it issued works exactly once, every
user an auto sign-up created has its token.

The app runs as in production, on a file SQLite database and a real redis-server of the test's
own; passwords are hashed with argon2 parameters raised through the environment so that each
sign-in takes a good part of a second, and the requests are still running when SIGTERM comes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from app import create_app
from idp.migrate import upgrade
from idp.services import Services
from idp.settings import load_settings
from tests.conftest import basic
from tests.factories import PASSWORD, TENANT_CLIENT_ID, TENANT_CLIENT_SECRET, applications, users
from tests.helpers import SMS_GRANT, TENANT, RedisProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 90  # two workers importing the app on a busy 2-core machine
GRACEFUL_TIMEOUT = 30
ARGON2_TIME_COST = 30  # ≈ 0.5 s per verification at 19 MiB (the default is 2: ≈ 26 ms)
SIGN_INS, SIGN_UPS = 6, 4
SCRUBBED = ("GATEHOUSE_", "TEST_", "REDIS_", "DATABASE_", "SMTP_", "TWILIO_", "TENCENT_", "PYTEST_", "FLASK_")


@pytest.fixture
def stack(tmp_path):
    """The environment gunicorn gets, and the same settings in this process."""
    redis_server = RedisProcess(free_port(), tmp_path)
    redis_server.start()
    instance = tmp_path / "instance"
    instance.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith(SCRUBBED)}
    env.update(
        GATEHOUSE_ENV="development",
        GATEHOUSE_INSTANCE_PATH=str(instance),
        GATEHOUSE_SECRET_KEY="graceful-shutdown-test-key",
        DATABASE_URL=f"sqlite:///{instance / 'gatehouse.db'}",
        REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        GATEHOUSE_ARGON2_TIME_COST=str(ARGON2_TIME_COST),
        NO_PROXY="127.0.0.1",
    )
    upgrade(env["DATABASE_URL"])
    settings = (
        load_settings()
        .with_overrides(
            {
                "env": "development",
                "instance_path": instance,
                "outbox_path": instance / "outbox.jsonl",
                "secret_key": env["GATEHOUSE_SECRET_KEY"],
                "database_url": env["DATABASE_URL"],
                "redis_url": env["REDIS_URL"],
                "argon2_time_cost": ARGON2_TIME_COST,
            }
        )
        .check()
    )
    services = Services.build(settings)
    services.keys.ensure_key()
    try:
        yield env, services
    finally:
        services.db.dispose()
        services.redis.close()
        redis_server.stop()


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "8",
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                str(GRACEFUL_TIMEOUT),
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def wait_ready(process: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    with http() as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(requests.RequestException):
                if session.get(f"{base}/oauth2/jwks", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
    raise AssertionError(log.read_text(errors="replace")[-3000:])


def test_sigterm_lets_in_flight_sign_ins_finish_and_leaves_nothing_half_written(stack, tmp_path):
    env, services = stack
    applications.seed_documents(services)
    for n in range(SIGN_INS):
        users.create(services, f"user{n}")  # hashed with the raised parameters: slow to verify
    port, log = free_port(), tmp_path / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    master = start_gunicorn(env, port, log)
    try:
        wait_ready(master, base, log)
        phones = [f"1371234{n:04d}" for n in range(SIGN_UPS)]
        with http() as session:
            sent = [
                session.post(
                    f"{base}/otp/send",
                    json={"usage": "login", "phone_number": p, "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
                    headers=TENANT,
                    timeout=30,
                ).json()["otp_token"]
                for p in phones
            ]
        outbox = [json.loads(line) for line in (Path(env["GATEHOUSE_INSTANCE_PATH"]) / "outbox.jsonl").open()]
        codes = {record["to"]: record["code"] for record in outbox}

        def sign_in(n: int) -> tuple[requests.Response, float]:
            with http() as session:
                response = session.post(
                    f"{base}/auth/v1/signin",
                    json={"username": f"user{n}", "password": PASSWORD},
                    headers=TENANT,
                    timeout=60,
                )
            return response, time.monotonic()

        def sign_up(n: int) -> tuple[requests.Response, float]:
            body = {
                "grant_type": SMS_GRANT,
                "client_id": TENANT_CLIENT_ID,
                "client_secret": TENANT_CLIENT_SECRET,
                "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID",
                "phone_number": phones[n],
                "otp_token": sent[n],
                "otp": codes[f"+86{phones[n]}"],
                "auto_signup": "true",
            }
            with http() as session:
                response = session.post(f"{base}/oauth2/token", json=body, timeout=60)
            return response, time.monotonic()

        with ThreadPoolExecutor(SIGN_INS + SIGN_UPS) as pool:
            futures = [pool.submit(sign_in, n) for n in range(SIGN_INS)]
            futures += [pool.submit(sign_up, n) for n in range(SIGN_UPS)]
            time.sleep(0.4)  # every request accepted by a worker, the slow ones still running
            assert not all(f.done() for f in futures)
            terminated = time.monotonic()
            os.kill(master.pid, signal.SIGTERM)
            results = [f.result() for f in futures]
        code = master.wait(GRACEFUL_TIMEOUT + 10)
        stopped = time.monotonic() - terminated
    finally:
        if master.poll() is None:
            os.killpg(master.pid, signal.SIGKILL)
            master.wait(10)
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert stopped < GRACEFUL_TIMEOUT
    assert [r.status_code for r, _ in results] == [200] * (SIGN_INS + SIGN_UPS), output[-3000:]
    assert any(done > terminated for _, done in results)  # some really were in flight at SIGTERM

    # nothing half-written: one token per answer, each user with its token, each token once
    with services.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM refresh_tokens")).scalar_one() == SIGN_INS + SIGN_UPS
        orphans = conn.execute(
            text("SELECT count(*) FROM users WHERE sub NOT IN (SELECT sub FROM refresh_tokens)")
        ).scalar_one()
        assert orphans == 0
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == SIGN_INS + SIGN_UPS
    client = create_app(services=services).test_client()
    for response, _ in results:
        token = response.json()["refresh_token"]
        headers = basic(TENANT_CLIENT_ID, TENANT_CLIENT_SECRET)
        body = {"grant_type": "refresh_token", "refresh_token": token}
        assert client.post("/oauth2/token", data=body, headers=headers).status_code == 200
        assert client.post("/oauth2/token", data=body, headers=headers).status_code == 400
