"""A PostgreSQL cluster of the tests' own, which a test may really stop and start again.

``initdb`` into a temporary folder, ``pg_ctl start`` on a free loopback port (its unix socket
in the same folder), the schema from the Alembic migrations. Every test in this folder runs on
it (``database_url`` below replaces the suite's), so stopping it touches no other test and no
other database on the machine. PostgreSQL refuses to run as root: as root the cluster belongs
to the ``postgres`` system user and its commands run through ``runuser``.

The server binaries are found with a glob (``/usr/lib/postgresql/*/bin/initdb``, the newest
version first); `make test` installs them when they are missing (``make postgresql``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from idp.migrate import upgrade
from tests.helpers import free_port


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL server's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """A private PostgreSQL server: ``start``, ``stop`` (fast shutdown: open sessions are
    ended, the port closes), ``url``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="gatehouse-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user: str | None = None
        if os.geteuid() == 0:  # initdb and postgres refuse root
            self.as_user = "postgres"
            owner = pwd.getpwnam(self.as_user)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        self.running = True

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.is_running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """The private cluster, started and migrated once per test run."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.fail("the PostgreSQL server binaries are missing: run `make postgresql`")
    cluster = PostgresCluster(bin_dir)
    cluster.init()
    cluster.start()
    try:
        upgrade(cluster.url)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def database_url(postgres) -> str:
    """Every test in this folder runs on the private cluster."""
    return postgres.url


@pytest.fixture(autouse=True)
def postgres_up(postgres):
    """Each test starts with the server up (a failed test may have left it stopped)."""
    if not postgres.is_running():
        postgres.start()
    return postgres


def count_rows(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


class Stopwatch:
    """How long the requests in a ``with`` block took, in seconds (``.elapsed``)."""

    def __enter__(self) -> Stopwatch:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.started
