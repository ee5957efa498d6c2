"""ZITADEL auth API v1 "ListMyPasswordless" / "RemoveMyPasswordless": the signed-in user's
passkeys under ``/auth/v1/users/me/passwordless``, registered through the passkey service with
the software authenticator of tests/passkeys.py."""

from __future__ import annotations

import pytest

from tests.api.test_zitadel import BASE, ISO_MS, assert_details, assert_error, token_for
from tests.factories import CTX, users
from tests.passkeys import SoftAuthenticator


def register(services, user, name: str):
    challenge = services.passkeys.registration_options(user.sub, CTX)
    return services.passkeys.register(
        user.sub, challenge.handle, SoftAuthenticator().create(challenge.options), name, CTX
    )


@pytest.fixture
def user(seeded):
    return users.create(seeded, "mock")


@pytest.fixture
def auth(seeded, user) -> dict:
    return {"Authorization": f"Bearer {token_for(seeded, user)}"}


def test_search_lists_my_passkeys_only(client, seeded, user, auth):
    laptop, phone = register(seeded, user, "Laptop"), register(seeded, user, "Phone")
    register(seeded, users.create(seeded), "Someone else's")

    response = client.post(f"{BASE}/passwordless/_search", json={}, headers=auth)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["result"] == [
        {"id": laptop.id, "name": "Laptop", "state": "AUTH_FACTOR_STATE_READY"},
        {"id": phone.id, "name": "Phone", "state": "AUTH_FACTOR_STATE_READY"},
    ]
    details = body["details"]
    assert details["totalResult"] == "2" and details["processedSequence"] == str(seeded.factors.sequence(user.sub))
    assert ISO_MS.fullmatch(details["viewTimestamp"])


def test_search_without_passkeys_and_without_a_body(client, seeded, auth):
    response = client.post(f"{BASE}/passwordless/_search", headers=auth)
    assert response.status_code == 200 and response.get_json()["result"] == []
    assert response.get_json()["details"]["totalResult"] == "0"


def test_delete_removes_the_passkey(client, seeded, user, auth):
    passkey = register(seeded, user, "Laptop")
    before = seeded.factors.sequence(user.sub)

    response = client.delete(f"{BASE}/passwordless/{passkey.id}", headers=auth)

    assert response.status_code == 200, response.get_json()
    assert list(response.get_json()) == ["details"]
    assert_details(response.get_json()["details"], before + 1, seeded)
    assert seeded.passkeys.list(user.sub) == []


def test_an_unknown_or_another_persons_passkey_is_not_found(client, seeded, user, auth):
    someone = users.create(seeded)
    others, someones = register(seeded, someone, "Not mine").id, someone.sub
    assert_error(client.delete(f"{BASE}/passwordless/nothing-here", headers=auth), 404, 5, "passkey.not_found")
    assert_error(client.delete(f"{BASE}/passwordless/{others}", headers=auth), 404, 5, "passkey.not_found")
    assert [p.id for p in seeded.passkeys.list(someones)] == [others]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["none", "bad"])
def test_no_or_bad_bearer_is_unauthenticated(client, seeded, user, authorization):
    passkey = register(seeded, user, "Laptop").id
    headers = {"Authorization": authorization} if authorization else {}
    for response in (
        client.post(f"{BASE}/passwordless/_search", json={}, headers=headers),
        client.delete(f"{BASE}/passwordless/{passkey}", headers=headers),
    ):
        assert_error(response, 401, 16, "bearer.invalid_token")
    assert len(seeded.passkeys.list(user.sub)) == 1
