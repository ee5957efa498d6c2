"""The embedded Redis lives exactly as long as what started it: real gunicorn, ``flask run``,
``flask`` commands and pytest in subprocesses, on the embedded defaults (SQLite + embedded
Redis) in a temp instance folder, on free loopback ports.

Every process a test starts is ended at teardown, pass or fail: each command runs in a process
group of its own (killed whole), and any redis-server working in the test's temp folder is
killed too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis
import requests

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 90  # two workers importing the app on a busy 2-core machine
SCRUBBED = ("GATEHOUSE_", "TEST_", "REDIS_", "DATABASE_", "SMTP_", "TWILIO_", "TENCENT_", "PYTEST_", "FLASK_")


def servers_on(folder: Path) -> list[psutil.Process]:
    """The redis-server processes working in ``folder`` (or below it)."""
    folder = Path(os.path.realpath(folder))
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "redis-server":
            continue
        try:
            if process.status() != psutil.STATUS_ZOMBIE and Path(process.cwd()).is_relative_to(folder):
                found.append(process)
        except psutil.Error:
            continue
    return found


def eventually(check: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def owner_pid(instance: Path) -> int:
    return json.loads((instance / "redis.owner").read_text())["pid"]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Spawner:
    """Starts commands from the repository root on the embedded defaults; ends them all."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.instance = tmp_path / "instance"
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(SCRUBBED) and name != "SERVER_SOFTWARE"
        }
        env.update(GATEHOUSE_INSTANCE_PATH=str(self.instance), GATEHOUSE_ENV="development", NO_PROXY="127.0.0.1")
        return env

    def __call__(self, *args: str) -> subprocess.Popen:
        log = self.tmp_path / f"process-{len(self.started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Ctrl-C as in a terminal: a run started in the background of a script
                # (`cmd &`) inherits SIGINT ignored, and Python then installs no
                # KeyboardInterrupt handler, so the signal would do nothing
                preexec_fn=_default_sigint,
            )
        self.started.append((process, log))
        return process

    def flask(self, *args: str) -> subprocess.Popen:
        return self("-m", "flask", "--app", "app", *args)

    def gunicorn(self, port: int) -> subprocess.Popen:
        # as `make run` does, with fewer threads; gunicorn reads ./gunicorn.conf.py by itself
        return self(
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "10",
            "app:create_app()",
        )

    def log(self, process: subprocess.Popen) -> str:
        for started, log in self.started:
            if started is process:
                return log.read_text(errors="replace")[-3000:]
        return ""

    def upgrade(self) -> None:
        process = self.flask("db", "upgrade")
        assert process.wait(BOOT_TIMEOUT) == 0, self.log(process)

    def cleanup(self) -> None:
        for process, _log in self.started:
            if process.poll() is None or _group_alive(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        for server in servers_on(self.tmp_path):
            try:
                server.kill()
                server.wait(10)
            except psutil.Error:
                pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


@pytest.fixture
def spawn(tmp_path) -> Iterator[Spawner]:
    spawner = Spawner(tmp_path)
    try:
        yield spawner
    finally:
        spawner.cleanup()


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # straight to the loopback server, whatever proxy the machine has
    return session


def wait_ready(spawn: Spawner, process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    with http() as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, spawn.log(process)
            try:
                if (
                    session.get(
                        f"http://127.0.0.1:{port}/", headers={"Accept": "application/json"}, timeout=2
                    ).status_code
                    == 200
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
    raise AssertionError(f"no answer on port {port}:\n{spawn.log(process)}")


def read_redis(port: int) -> None:
    """A request that reads Redis: the SSO session named by the cookie is looked up."""
    with http() as session:
        response = session.get(
            f"http://127.0.0.1:{port}/account", cookies={"gh_sso": "no-such-session"}, allow_redirects=False, timeout=10
        )
    assert response.status_code == 302  # no such session: off to sign in
    assert "/login" in response.headers["Location"]


def clients_of(instance: Path) -> int:
    client = redis.Redis(unix_socket_path=str(instance / "redis.sock"), socket_timeout=2)
    try:
        return len(client.client_list()) - 1  # not counting this one
    finally:
        client.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopping_gunicorn_ends_the_embedded_redis(spawn, signum):
    port = free_port()
    master = spawn.gunicorn(port)
    wait_ready(spawn, master, port)

    [server] = servers_on(spawn.instance)
    assert owner_pid(spawn.instance) == master.pid  # the master owns it, the workers connect
    assert int((spawn.instance / "redis.pid").read_text()) == server.pid
    read_redis(port)
    assert clients_of(spawn.instance) >= 1  # a worker's connection, to this very server

    master.send_signal(signum)
    assert master.wait(60) == 0, spawn.log(master)
    assert eventually(lambda: servers_on(spawn.instance) == []), spawn.log(master)
    assert not server.is_running()
    assert not (spawn.instance / "redis.pid").exists()


def test_after_a_crash_the_next_start_reuses_the_stray_then_stops_it(spawn):
    port = free_port()
    crashed = spawn.gunicorn(port)
    wait_ready(spawn, crashed, port)
    [server] = servers_on(spawn.instance)
    workers = [child for child in psutil.Process(crashed.pid).children() if child.pid != server.pid]
    assert len(workers) == 2

    os.killpg(crashed.pid, signal.SIGKILL)  # master and workers, nobody stops anything
    crashed.wait(10)
    assert eventually(lambda: not any(worker.is_running() for worker in workers))
    assert servers_on(spawn.instance) == [server]  # left behind, as after any crash
    assert clients_of(spawn.instance) == 0

    port = free_port()
    master = spawn.gunicorn(port)
    wait_ready(spawn, master, port)
    read_redis(port)

    assert servers_on(spawn.instance) == [server]  # it answered: reused, no second server
    assert owner_pid(spawn.instance) == master.pid  # and adopted

    spawn.upgrade()  # a `flask` command while gunicorn runs: it connects, and leaves it running
    assert servers_on(spawn.instance) == [server]
    assert owner_pid(spawn.instance) == master.pid
    master.send_signal(signal.SIGTERM)
    assert master.wait(60) == 0, spawn.log(master)
    assert eventually(lambda: servers_on(spawn.instance) == [])


def test_a_flask_command_stops_the_server_it_started(spawn):
    spawn.upgrade()

    assert (spawn.instance / "redis.log").exists()  # it did run one
    assert servers_on(spawn.instance) == []
    assert not (spawn.instance / "redis.owner").exists()


STRAY = """
import os, signal, sys
from pathlib import Path
from idp.store import embedded_redis
embedded_redis(Path(sys.argv[1])).ensure()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("pidfile", [True, False], ids=["pidfile", "no pidfile"])
def test_a_stray_that_no_longer_answers_is_replaced(spawn, pidfile):
    crashed = spawn("-c", STRAY, str(spawn.instance))
    assert crashed.wait(30) == -signal.SIGKILL, spawn.log(crashed)
    [stray] = servers_on(spawn.instance)
    stray.suspend()  # hung: it holds the socket and answers nothing
    if not pidfile:  # as if its starter had been killed before it could write one
        (spawn.instance / "redis.pid").unlink()

    spawn.upgrade()  # a `flask` command: it ends the stray, starts its own, stops it at exit

    assert eventually(lambda: not stray.is_running() or stray.status() == psutil.STATUS_ZOMBIE)
    assert servers_on(spawn.instance) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopping_flask_run_ends_the_embedded_redis(spawn, signum):
    port = free_port()
    server_process = spawn.flask("run", "--port", str(port), "--no-reload")
    wait_ready(spawn, server_process, port)
    read_redis(port)
    [server] = servers_on(spawn.instance)
    assert owner_pid(spawn.instance) == server_process.pid

    server_process.send_signal(signum)
    server_process.wait(60)
    assert eventually(lambda: servers_on(spawn.instance) == []), spawn.log(server_process)
    assert not server.is_running()


def test_a_pytest_run_leaves_no_redis_server(spawn):
    basetemp = spawn.tmp_path / "pytest"
    run = spawn(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={basetemp}",
        "tests/web/test_front_page.py::test_front_page_as_json",
    )
    assert run.wait(BOOT_TIMEOUT) == 0, spawn.log(run)

    assert list(basetemp.glob("*/redis.log")), "the run used no embedded Redis"
    assert servers_on(basetemp) == []
