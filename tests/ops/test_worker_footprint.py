"""What a serving worker carries: the libraries only a command or a rare page needs stay out of
it, and the objects it makes at start are frozen out of the garbage collector's full passes
(``gunicorn.conf.py`` ``post_worker_init``). Both keep a worker's memory and CPU per request
down (bench/RESULTS.md); each check runs in a fresh interpreter, the way a worker starts."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.process.test_embedded_redis import ROOT, Spawner

# Alembic (and the Mako and Pygments it brings) serve `flask db upgrade` only; Pillow and the
# captcha drawer serve the first captcha challenge only
NOT_IN_A_SERVING_WORKER = ("alembic", "mako", "pygments", "PIL", "captcha")

MADE_APP = f"""
import json, sys
from app import create_app
create_app()
print(json.dumps(sorted(name for name in {NOT_IN_A_SERVING_WORKER!r} if name in sys.modules)))
"""

WORKER_STARTED = """
import gc, json, runpy
hooks = runpy.run_path("gunicorn.conf.py")
before = gc.get_freeze_count()
hooks["post_worker_init"](None)
print(json.dumps([before, gc.get_freeze_count()]))
"""


def run_python(tmp_path, code: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=Spawner(tmp_path).env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_serving_app_loads_neither_the_migrations_nor_the_captcha_drawer(tmp_path):
    assert run_python(tmp_path, MADE_APP) == []


def test_a_started_worker_freezes_what_it_made(tmp_path):
    before, after = run_python(tmp_path, WORKER_STARTED)
    assert before == 0
    assert after > 1000  # the interpreter's and gunicorn.conf.py's own objects at least
