"""gunicorn's server hooks for Gatehouse. gunicorn reads ``./gunicorn.conf.py`` by itself, so
``make run`` and any ``gunicorn 'app:create_app()'`` started in this folder use them.

With ``REDIS_URL`` unset, the master owns the embedded Redis (idp/store.py, ``EmbeddedRedis``):
``on_starting`` finds or starts it before any worker boots, so the workers only connect to it,
and ``on_exit`` stops it when gunicorn stops (Ctrl-C, SIGTERM, SIGQUIT). With ``REDIS_URL`` set
(production) both hooks do nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter


def on_starting(server: Arbiter) -> None:
    # imported here, from gunicorn's working folder (on the import path by then)
    from idp.settings import load_settings
    from idp.store import embedded_redis

    settings = load_settings()
    if settings.uses_embedded_redis:
        socket_path = embedded_redis(settings.instance_path).ensure()
        if server.log:
            server.log.info("Embedded Redis on %s (stopped with gunicorn)", socket_path)


def on_exit(server: Arbiter) -> None:
    from idp.store import stop_embedded

    stop_embedded()
