"""gunicorn's server hooks for Gatehouse. gunicorn reads ``./gunicorn.conf.py`` by itself, so
``make run`` and any ``gunicorn 'app:create_app()'`` started in this folder use them.

With ``REDIS_URL`` unset, the master owns the embedded Redis (idp/store.py, ``EmbeddedRedis``):
``on_starting`` finds or starts it before any worker boots, so the workers only connect to it,
and ``on_exit`` stops it when gunicorn stops (Ctrl-C, SIGTERM, SIGQUIT). With ``REDIS_URL`` set
(production) both hooks do nothing.
"""

from __future__ import annotations

import os
import sys

# gunicorn reads this file before it puts its working directory on the import path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def on_starting(server):
    from idp.settings import load_settings
    from idp.store import embedded_redis

    settings = load_settings()
    if settings.uses_embedded_redis:
        socket_path = embedded_redis(settings.instance_path).ensure()
        server.log.info("Embedded Redis on %s (stopped with gunicorn)", socket_path)


def on_exit(server):
    from idp.store import stop_embedded

    stop_embedded()
