"""The slower ways PostgreSQL fails, each bounded by one of ``idp.db``'s timeouts: a server
that accepts the connection and never answers (``CONNECT_TIMEOUT``), and a statement stuck
behind a row lock another session holds (``STATEMENT_TIMEOUT_MS``). Either way 503 within the
bound, and nothing half-done once the database answers again."""

from __future__ import annotations

import socket

from sqlalchemy import create_engine, text

from app import create_app
from idp.db import CONNECT_TIMEOUT, STATEMENT_TIMEOUT_MS
from tests.conftest import make_overrides
from tests.factories import users
from tests.helpers import send_sms, sms_login
from tests.outage.conftest import Stopwatch
from tests.outage.test_postgres_down import assert_ciam_503, refresh

MARGIN = 1.0


def test_a_database_that_never_answers_is_503_within_the_connect_timeout(instance_dir):
    with socket.socket() as silent:  # accepts (the kernel does), never speaks PostgreSQL
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/test"
        app = create_app(make_overrides(instance_dir, url))
        client = app.test_client()
        with Stopwatch() as send_watch:
            sent = send_sms(client)
        with Stopwatch() as jwks_watch:
            jwks = client.get("/oauth2/jwks")
        app.extensions["gatehouse"].db.dispose()
    assert CONNECT_TIMEOUT - 0.5 < send_watch.elapsed < CONNECT_TIMEOUT + MARGIN  # it waited, then gave up
    assert jwks_watch.elapsed < CONNECT_TIMEOUT + MARGIN
    assert_ciam_503(sent)
    assert jwks.status_code == 503


def test_a_refresh_stuck_behind_a_lock_is_503_within_the_statement_timeout(postgres, client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sent = send_sms(client)
    tokens = sms_login(client, sent.get_json()["otp_token"], outbox.last_code()).get_json()
    holder = create_engine(postgres.url)
    try:
        with holder.connect() as conn:
            transaction = conn.begin()
            conn.execute(text("SELECT id FROM refresh_tokens FOR UPDATE"))  # another session holds the rows
            with Stopwatch() as watch:
                stuck = refresh(client, tokens["refresh_token"])
            transaction.rollback()
    finally:
        holder.dispose()
    limit = STATEMENT_TIMEOUT_MS / 1000
    assert limit - 0.5 < watch.elapsed < limit + MARGIN
    assert_ciam_503(stuck)
    again = refresh(client, tokens["refresh_token"])  # the stuck rotation was rolled back whole
    assert again.status_code == 200, again.get_json()
    assert refresh(client, tokens["refresh_token"]).status_code == 400
