"""gunicorn's server hooks for Gatehouse. gunicorn reads ``./gunicorn.conf.py`` by itself, so
``make run`` and any ``gunicorn 'app:create_app()'`` started in this folder use them.

With ``REDIS_URL`` unset, the master owns the embedded Redis (idp/store.py, ``EmbeddedRedis``):
``on_starting`` finds or starts it before any worker boots, so the workers only connect to it,
and ``on_exit`` stops it when gunicorn stops (Ctrl-C, SIGTERM, SIGQUIT). With ``REDIS_URL`` set
(production) both hooks do nothing.

Metrics: the workers are separate processes, so each keeps its Prometheus samples in files
under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds up every worker's (the Prometheus
Python client's multiprocess mode, idp/metrics.py). The variable must be set before a worker
imports the client, so it is set here, while gunicorn reads this file in the master: when it is
unset, a fresh temporary folder of this master's own (removed by ``on_exit``); when it is set,
that folder, emptied by ``on_starting`` (old samples of an earlier run would be added in).
``child_exit`` tells the client a worker is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# a folder this master made (and so removes at exit); None when the operator named one
_OWN_METRICS_DIR: str | None = None
if not os.environ.get(MULTIPROC_ENV):  # a reload (SIGHUP) reads this file again: keep the first one
    _OWN_METRICS_DIR = tempfile.mkdtemp(prefix="gatehouse-metrics-")
    os.environ[MULTIPROC_ENV] = _OWN_METRICS_DIR


def empty_metrics_dir(folder: str | os.PathLike[str]) -> None:
    """Remove the sample files an earlier run left in ``folder`` (created when missing)."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.glob("*.db"):
        entry.unlink(missing_ok=True)


def on_starting(server: Arbiter) -> None:
    empty_metrics_dir(os.environ[MULTIPROC_ENV])
    if os.environ.get("REDIS_URL"):
        return  # a Redis server: nothing to start, and the master imports none of the app (its memory stays small)
    # imported here, from gunicorn's working folder (on the import path by then)
    from idp.settings import load_settings
    from idp.store import embedded_redis

    settings = load_settings()
    if settings.uses_embedded_redis:
        socket_path = embedded_redis(settings.instance_path).ensure()
        if server.log:
            server.log.info("Embedded Redis on %s (stopped with gunicorn)", socket_path)


def child_exit(server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Arbiter) -> None:
    if not os.environ.get("REDIS_URL"):
        from idp.store import stop_embedded

        stop_embedded()
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)


def post_worker_init(worker: Worker) -> None:
    """The app is loaded: move everything it made at start (modules, mappers, compiled
    statements, templates: about 156,000 tracked objects) out of the collector's sight. They
    live as long as the worker, and the full collections that walked them cost a refresh about
    4 % of its CPU (``gc.freeze``, Python 3.7+)."""
    import gc

    gc.collect()
    gc.freeze()
