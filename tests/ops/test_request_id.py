"""``X-Request-Id`` on every face, from one hook: the caller's plain token echoed, anything
else replaced by a new UUID4 (the rule CloudBase's "User Login API" face always had)."""

from __future__ import annotations

import uuid

import pytest

from blueprints.ops import request_id

# one request per face: its answer, success or refusal, must carry the id
FACES = {
    "ciam": ("POST", "/otp/send", {"json": {}}),
    "oauth": ("POST", "/oauth2/token", {"data": {"grant_type": "password"}}),
    "discovery": ("GET", "/.well-known/openid-configuration", {}),
    "cloudbase": ("POST", "/auth/v1/signin", {"json": {}}),
    "zitadel": ("POST", "/auth/v1/users/me/auth_factors/_search", {"json": {}}),
    "oneaccess": ("POST", "/api/v2/sdk/login", {"json": {}}),
    "admin": ("GET", "/admin/api/v1/users", {}),
    "hosted": ("GET", "/login", {}),
    "unmatched": ("GET", "/no/such/page", {}),
    "ops": ("GET", "/healthz", {}),
}


@pytest.mark.parametrize("face", FACES)
def test_a_plain_id_is_echoed(client, face):
    method, path, kwargs = FACES[face]
    response = client.open(path, method=method, headers={"X-Request-Id": "req-42.a:b_c"}, **kwargs)
    assert response.headers["X-Request-Id"] == "req-42.a:b_c"


@pytest.mark.parametrize("face", FACES)
def test_without_one_a_uuid4_is_generated(client, face):
    method, path, kwargs = FACES[face]
    first = client.open(path, method=method, **kwargs).headers["X-Request-Id"]
    second = client.open(path, method=method, **kwargs).headers["X-Request-Id"]
    assert uuid.UUID(first).version == 4
    assert first != second


@pytest.mark.parametrize("given", ["a b", "<script>", "x" * 129, "é", "a\tb", ""])
def test_an_id_that_is_not_a_plain_token_is_replaced(client, given):
    response = client.get("/login", headers={"X-Request-Id": given})
    assert uuid.UUID(response.headers["X-Request-Id"]).version == 4


def test_the_rule():
    assert request_id("1e55ed89-4a2b-47f8-b7de-27b4775c2adb") == "1e55ed89-4a2b-47f8-b7de-27b4775c2adb"
    assert request_id("x" * 128) == "x" * 128
    assert uuid.UUID(request_id(None)).version == 4
    assert uuid.UUID(request_id("x" * 129)).version == 4


def test_one_header_even_when_a_face_answers_an_error(client):
    response = client.post("/auth/v1/signin", json={}, headers={"X-Request-Id": "abc-123"})
    assert response.headers.getlist("X-Request-Id") == ["abc-123"]
