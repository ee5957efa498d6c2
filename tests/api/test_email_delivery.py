"""End to end: /otp/send with SMTP_URL delivers the code to a real SMTP server on loopback,
and the emailed code logs in through the OTP email grant."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller

from tests.factories import users
from tests.helpers import EMAIL_GRANT, TENANT
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
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": EMAIL_GRANT,
            "client_id": "TENANT_CLIENT_ID",
            "client_secret": "TENANT_CLIENT_SECRET",
            "auth_source_id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID",
            "email": "ada@example.com",
            "otp_token": sent.get_json()["otp_token"],
            "otp": code,
        },
    )
    assert response.status_code == 200
    assert services.users.by_contact("email", "ada@example.com").sub == user.sub
    assert not services.settings.outbox_path.exists()  # nothing went to the dev outbox
