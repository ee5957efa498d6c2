"""Metrics under real gunicorn with two workers: each worker keeps its samples in the
multiprocess folder ``gunicorn.conf.py`` makes for its master, and ``/metrics`` from any worker
reports the total of all of them. The folder is removed when gunicorn stops.

gunicorn runs from the repository on the embedded defaults in a temp folder (as
tests/process does); ``TMPDIR`` points into the test's folder so the metrics folder is found
and checked there.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import free_port
from tests.process.test_embedded_redis import BOOT_TIMEOUT, Spawner, eventually, wait_ready

WORKER_FILE = re.compile(r"counter_(\d+)\.db")


class TempSpawner(Spawner):
    """Commands whose temporary folders (``TMPDIR``) are under the test's own folder, with
    ``extra`` variables."""

    extra: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        temp = self.tmp_path / "tmp"
        temp.mkdir(exist_ok=True)
        return {**super().env(), "TMPDIR": str(temp), **self.extra}


@pytest.fixture
def spawn(tmp_path) -> Iterator[TempSpawner]:
    spawner = TempSpawner(tmp_path)
    try:
        yield spawner
    finally:
        spawner.cleanup()


def healthz_total(port: int) -> float:
    # a fresh connection per request, so the kernel hands it to either worker
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gatehouse_http_requests_total" and sample.labels == {
                "endpoint": "ops.healthz",
                "method": "GET",
                "status": "200",
            }:
                return sample.value
    return 0.0


def worker_pids(folder: Path) -> set[int]:
    return {int(m.group(1)) for path in folder.glob("counter_*.db") if (m := WORKER_FILE.fullmatch(path.name))}


def test_metrics_add_up_every_worker(spawn, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    temp = tmp_path / "tmp"
    spawn.upgrade()
    port = free_port()
    master = spawn.gunicorn(port)
    wait_ready(spawn, master, port)
    [folder] = temp.glob("gatehouse-metrics-*")  # made by this master

    sent = 0
    deadline = time.monotonic() + BOOT_TIMEOUT
    while sent < 40 or len(worker_pids(folder)) < 2:  # until both workers have answered some
        assert time.monotonic() < deadline, f"one worker answered every request: {worker_pids(folder)}"
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        sent += 1
    assert len(worker_pids(folder)) == 2

    answers = [healthz_total(port) for _ in range(6)]
    assert answers == [sent] * 6, (answers, sent)

    master.send_signal(signal.SIGTERM)
    assert master.wait(60) == 0, spawn.log(master)
    assert eventually(lambda: not folder.exists())


def test_a_named_folder_is_emptied_at_start_and_kept(spawn, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"samples of an earlier run")  # would break the sum
    spawn.extra = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    spawn.upgrade()
    port = free_port()
    master = spawn.gunicorn(port)
    wait_ready(spawn, master, port)
    assert not (folder / "counter_4242.db").exists()
    for _ in range(3):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert healthz_total(port) == 3
    assert list((tmp_path / "tmp").glob("gatehouse-metrics-*")) == []  # no folder of its own
    master.send_signal(signal.SIGTERM)
    assert master.wait(60) == 0, spawn.log(master)
    assert folder.is_dir()  # the operator's folder stays
