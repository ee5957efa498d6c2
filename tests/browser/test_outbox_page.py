"""The dev outbox page in a real browser: a sent code shows up for a developer to read."""

from __future__ import annotations

from tests.helpers import send_sms


def test_a_sent_code_appears_on_the_outbox_page(live_server, page, shot, seeded, client, outbox):
    send_sms(client)
    page.goto(f"{live_server}/dev/outbox")
    shot("outbox")
    code = outbox.last_code()
    assert page.locator("td.code").first.inner_text().strip() == code
