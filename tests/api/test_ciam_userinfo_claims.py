"""Tencent CIAM ``PATCH /userinfo`` takes the standard OpenID Connect Core 1.0 (5.1) profile
claims, under the core's one profile rule."""

from __future__ import annotations

import pytest

from tests.api.test_ciam_siblings import PHONE, bearer, login
from tests.factories import users

CLAIMS = {
    "given_name": "Mock",
    "family_name": "User",
    "middle_name": "M",
    "nickname": "MOCK_NICKNAME",
    "profile": "https://example.com/mock",
    "picture": "https://example.com/mock.png",
    "website": "https://mock.example",
    "gender": "unspecified",
    "birthdate": "0000-06-30",
    "zoneinfo": "Asia/Shanghai",
}


@pytest.fixture
def user(services):
    return users.create(services, "mock", with_password=False, with_verified_phone=PHONE, name="Mock")


def test_patch_userinfo_stores_the_standard_claims(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    response = client.patch("/userinfo", json=CLAIMS, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    services.db.session.expire_all()
    stored = services.users.by_sub(user.sub)
    assert {key: getattr(stored, key) for key in CLAIMS} == CLAIMS
    cleared = client.patch("/userinfo", json={"nickname": None}, headers=bearer(token))
    assert cleared.status_code == 200
    services.db.session.expire_all()
    assert services.users.by_sub(user.sub).nickname is None


def test_patch_userinfo_refuses_a_bad_claim_and_changes_nothing(client, seeded, outbox, user, services):
    token = login(client, outbox)["access_token"]
    for body in (
        {"website": "javascript:alert(1)"},
        {"birthdate": "2023-02-29"},
        {"zoneinfo": "Mars/Base"},
        {"name": "New", "gender": "g" * 33},
    ):
        response = client.patch("/userinfo", json=body, headers=bearer(token))
        assert response.status_code == 400, body
        assert response.get_json()["error"] == "invalid_request"
    services.db.session.expire_all()
    stored = services.users.by_sub(user.sub)
    assert (stored.website, stored.birthdate, stored.zoneinfo, stored.gender, stored.name) == (
        None,
        None,
        None,
        None,
        "Mock",
    )
