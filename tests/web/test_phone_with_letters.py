"""The hosted pages refuse a phone number with letters next to the field (no code is sent)."""

from __future__ import annotations

from tests.web.conftest import submit, text


def test_sms_login_with_letters_is_a_field_error(client, authz, outbox):
    authz_id = authz()
    response = submit(client, f"/login/sms?authz={authz_id}", {"phone_number": "1361234abcd"})
    assert response.status_code == 400
    body = text(response)
    assert "Enter a valid phone number." in body
    assert 'id="phone_number-error" role="alert"' in body
    assert outbox.records() == []
