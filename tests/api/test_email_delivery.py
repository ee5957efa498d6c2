"""End to end: /otp/send with SMTP_URL delivers the code to a real SMTP server on loopback,
and the emailed code logs in through the OTP email grant."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller

from idp.store import Keys
from tests.factories import users
from tests.helpers import TENANT, email_login
from tests.unit.test_senders import Inbox, free_port


@pytest.fixture
def smtp_inbox(settings_overrides):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings_overrides.update(
        email_sender="smtp", smtp_url=f"smtp://127.0.0.1:{port}", smtp_from="Gatehouse <no-reply@gatehouse.test>"
    )
    yield inbox
    controller.stop()


def test_email_code_arrives_by_smtp_and_logs_in(smtp_inbox, client, seeded, services):
    user = users.create(services, None, with_password=False, with_verified_email="ada@example.com")
    sent = client.post(
        "/otp/send",
        json={"usage": "login", "email": "Ada@Example.com", "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID"},
        headers=TENANT,
    )
    assert sent.status_code == 200
    [received] = smtp_inbox.messages
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.mail_from == "no-reply@gatehouse.test"
    code = re.search(r"\b(\d{6})\b", received.email["Subject"]).group(1)
    assert code in received.email.get_body(("plain",)).get_content()
    response = email_login(client, sent.get_json()["otp_token"], code)
    assert response.status_code == 200
    assert services.users.by_contact("email", "ada@example.com").sub == user.sub
    assert not services.settings.outbox_path.exists()  # nothing went to the dev outbox


# -- a slow or failing relay: 503 within GATEHOUSE_DELIVERY_TIMEOUT_MS, nothing spent ---------
DELIVERY_TIMEOUT = 1.0  # seconds (GATEHOUSE_DELIVERY_TIMEOUT_MS=1000)
MARGIN = 0.75  # a busy 2-core machine; a second wait (e.g. for QUIT) would exceed it


@dataclass
class FlakyRelay(Inbox):
    """A relay that stalls before answering DATA (``stall`` seconds), or refuses it with
    ``answer`` (451: try later; 554: transaction failed); accepts normally when both are unset."""

    stall: float = 0.0
    answer: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.stall:  # the relay goes quiet; the controller's stop() cancels the wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), self.stall)
            return "451 4.3.0 too slow"  # the client has given up by now
        if self.answer:
            return self.answer
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def flaky_relay(settings_overrides):
    relay, port = FlakyRelay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    settings_overrides.update(
        email_sender="smtp",
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_from="no-reply@gatehouse.test",
        delivery_timeout=DELIVERY_TIMEOUT,
    )
    yield relay
    controller.stop()


def send_email(client, email="ada@example.com"):
    body = {"usage": "login", "email": email, "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID"}
    return client.post("/otp/send", json=body, headers=TENANT)


@pytest.mark.limits(email_daily_quota=1)  # one email a day: a failed send must not have used it
@pytest.mark.parametrize(
    "failure",
    [{"stall": DELIVERY_TIMEOUT * 4}, {"answer": "451 4.7.1 try again later"}, {"answer": "554 5.0.0 failed"}],
    ids=["stalls", "451", "554"],
)
def test_relay_slow_or_failing_answers_503_and_spends_nothing(flaky_relay, client, seeded, services, failure):
    users.create(services, None, with_password=False, with_verified_email="ada@example.com")
    for name, value in failure.items():
        setattr(flaky_relay, name, value)
    started = time.monotonic()
    failed = send_email(client)
    elapsed = time.monotonic() - started
    assert elapsed < DELIVERY_TIMEOUT + MARGIN
    assert failed.status_code == 503
    assert failed.mimetype == "application/json"
    assert failed.get_json()["error"] == "temporarily_unavailable"
    assert flaky_relay.messages == []
    assert services.redis.keys(Keys.otp_inflight("login", "email", "ada@example.com")) == []  # no code in flight

    flaky_relay.stall, flaky_relay.answer = 0.0, None  # the relay recovers
    sent = send_email(client)  # at once: neither the 30 s interval nor the daily quota was spent
    assert sent.status_code == 200, sent.get_json()
    [received] = flaky_relay.messages
    code = re.search(r"\b(\d{6})\b", received.email["Subject"]).group(1)
    response = email_login(client, sent.get_json()["otp_token"], code)
    assert response.status_code == 200
