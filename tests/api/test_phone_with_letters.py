"""A phone number with letters is malformed on every face (``contact.malformed_phone``).

phonenumbers reads letters as keypad digits (``1361234abcd`` → ``+8613612342223``, a vanity
number): a code must never go to a number the person did not type.
"""

from __future__ import annotations

import pytest

from idp.contacts import normalise_phone
from idp.errors import IdpError
from tests.api.test_oneaccess import SEED_CLIENT_ID
from tests.api.test_oneaccess import headers as oneaccess_headers
from tests.api.test_zitadel import BASE, token_for
from tests.conftest import basic
from tests.factories import applications, auth_sources, users
from tests.helpers import TENANT

LETTERS = "1361234abcd"


@pytest.mark.parametrize("raw", [LETTERS, "+86 136 1234 ABCD", "1-800-FLOWERS", "13612345678 ext. 12"])
def test_normalise_phone_refuses_letters(raw):
    with pytest.raises(IdpError) as caught:
        normalise_phone(raw, "CN")
    assert caught.value.code == "contact.malformed_phone"


def test_ciam_otp_send(client, seeded, outbox):
    response = client.post(
        "/otp/send",
        json={"usage": "login", "phone_number": LETTERS, "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
        headers=TENANT,
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "malformed_phone_number"}
    assert outbox.records() == []


def test_cloudbase_verification(client, services, outbox):
    applications.create(
        services,
        client_id="cb",
        client_secret="cb-secret",
        auth_sources=[auth_sources.create(services, "sms")],
        scopes=["openid"],
    )
    response = client.post("/auth/v1/verification", json={"phone_number": LETTERS}, headers=basic("cb", "cb-secret"))
    assert response.status_code == 400
    assert (response.get_json()["error"], response.get_json()["error_code"]) == ("invalid_argument", 3)
    assert outbox.records() == []


@pytest.mark.parametrize("sms_type", ["LOGIN_SMS", "REGISTER_SMS", "FORGET_PWD_SMS"])
def test_oneaccess_sms_send(client, services, outbox, sms_type):
    applications.create(
        services,
        "native",
        client_id=SEED_CLIENT_ID,
        name="oneaccess",
        redirect_uris=[],
        auth_sources=[auth_sources.create(services, "sms")],
        scopes=["openid"],
    )
    response = client.post(
        "/api/v2/sdk/sms/send", json={"mobile": LETTERS, "type": sms_type}, headers=oneaccess_headers()
    )
    assert response.status_code == 400
    assert response.get_json()["error_code"] == "SDK.COMMON.1002"
    assert outbox.records() == []


def test_zitadel_set_phone(client, seeded, outbox):
    user = users.create(seeded, "mock", with_password=False, with_verified_phone="+8613612345678")
    auth = {"Authorization": f"Bearer {token_for(seeded, user)}"}
    response = client.put(f"{BASE}/phone", json={"phone": LETTERS}, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["code"] == 3
    assert response.get_json()["details"][0]["id"] == "contact.malformed_phone"
    assert outbox.records() == []
