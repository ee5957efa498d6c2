"""PostgreSQL stopping while a code is being delivered: the SMS provider (a real HTTP server
on loopback playing the webhook gateway) stops the database as the message reaches it. The
send answers 503 without an otp_token, and undoes what it did: the send goes back to the limits
(the next send to the number is not held by the 30-second interval) and no code is left in
flight. A test of its own: it stops the private cluster from the provider's thread."""

from __future__ import annotations

import pytest

from idp.store import Keys
from tests.helpers import send_sms
from tests.outage.conftest import count_rows
from tests.outage.test_postgres_down import assert_ciam_503
from tests.unit.test_senders import QuickProviderHandler, running_provider


@pytest.fixture
def webhook(settings_overrides, monkeypatch):
    with running_provider(monkeypatch, QuickProviderHandler) as fake:
        settings_overrides.update(sms_sender="webhook", sms_webhook_url=f"{fake.url}/sms")
        yield fake


@pytest.mark.limits(sms_daily_quota=1)
def test_postgres_stopping_during_delivery_undoes_the_send(postgres, webhook, client, seeded, services):
    def stop_the_database(request):
        postgres.stop()
        return 200, {}

    webhook.responder = stop_the_database
    events = count_rows(postgres.url, "audit_events")
    failed = send_sms(client)
    assert_ciam_503(failed)
    assert len(webhook.requests) == 1  # delivered, then the record of it could not be written
    assert services.redis.get(Keys.otp_inflight("login", "sms", "+8613612345678")) is None

    postgres.start()
    webhook.responder = lambda request: (200, {})
    assert count_rows(postgres.url, "audit_events") == events
    again = send_sms(client)  # neither the interval nor the one-a-day quota was used up
    assert again.status_code == 200, again.get_json()
