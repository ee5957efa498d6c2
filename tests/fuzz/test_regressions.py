"""Requests the fuzzer found answered with a 5xx or a body in the wrong shape, kept as plain
tests: each answers 400, 401 or 404 in its face's own error shape (see tests/fuzz/faces.py).

- a JSON text nested deeper than the parser's recursion limit (RFC 8259 9 lets a parser limit
  nesting; the answer is a 400, not a crash);
- HTTP Basic credentials that are blank, not UTF-8 or not Latin-1-clean (RFC 7617 2), and an
  empty Bearer token: a failed client authentication, 401 ``invalid_client`` (RFC 6749 5.2);
- lone UTF-16 surrogates in JSON strings (RFC 8259 8.2: valid JSON, never valid text);
- CR/LF in ``redirect_uri`` at the authorization endpoint: an error page, never a header;
- a ``/`` encoded as ``%2F`` in a user id of the admin API: 404 in the admin shape.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_TOKEN, basic
from tests.factories import (
    MOCK_SMS_OTP_AUTH_SOURCE_ID,
    PASSWORD,
    TENANT_CLIENT_ID,
    TENANT_CLIENT_SECRET,
    applications,
    users,
)
from tests.fuzz.faces import assert_face_shape, response_json
from tests.helpers import SMS_GRANT, TENANT

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = "application/json"
DEEP = "[" * 990 + "1" + "]" * 990


@pytest.fixture
def seeded_client(app, services):
    applications.seed_documents(services)
    return app.test_client()


def error_of(response, face: str, *statuses: int) -> dict:
    """The error body, after checking its status, media type and the face's shape."""
    text = response.get_data()[:200]
    assert response.status_code in statuses, f"{response.status_code}: {text!r}"
    body = response_json(response)
    assert_face_shape(face, response.status_code, body)
    return body


def post_raw(client, path: str, text: str, headers: dict | None = None, content_type: str = JSON):
    """POST ``text`` byte for byte (a JSON text built by hand, escapes and all)."""
    return client.post(path, data=text.encode("utf-8"), headers={**(headers or {}), "Content-Type": content_type})


def user_token(client, services) -> str:
    """An access token (scope openid) of a new person, from CloudBase's password sign-in."""
    person = users.create(services, with_verified_phone=True)
    answer = client.post("/auth/v1/signin", json={"username": person.username, "password": PASSWORD}, headers=TENANT)
    assert answer.status_code == 200, answer.get_data()
    return answer.json["access_token"]


# -- 1. deep nesting ----------------------------------------------------------------------------
def test_deeply_nested_json_to_the_admin_api_is_a_400(seeded_client):
    answer = post_raw(seeded_client, "/admin/api/v1/users", DEEP, ADMIN)
    error_of(answer, "admin", 400)


def test_deeply_nested_json_to_the_token_endpoint_is_invalid_request(seeded_client):
    answer = post_raw(seeded_client, "/oauth2/token", DEEP)
    assert error_of(answer, "oauth", 400)["error"] == "invalid_request"


# -- 2. malformed client credentials ------------------------------------------------------------
@pytest.mark.parametrize("content_type", [JSON, "application/x-www-form-urlencoded"])
def test_blank_basic_credentials_at_ciam_signup_are_invalid_client(seeded_client, content_type):
    answer = post_raw(seeded_client, "/signup", "{}", {"Authorization": "Basic "}, content_type)
    assert error_of(answer, "ciam", 401)["error"] == "invalid_client"


# (path, face, JSON body that reaches the client authentication)
CLIENT_AUTHENTICATED = [
    ("/otp/send", "ciam", {"usage": "login", "phone_number": "13612345678", "auth_source_id": "x"}),
    ("/oauth2/token", "oauth", {"grant_type": "client_credentials"}),
    ("/oauth2/revoke", "oauth", {"token": "x"}),
    ("/oauth2/introspect", "oauth", {"token": "x"}),
    ("/auth/v1/signin", "cloudbase", {"username": "someone", "password": "x" * 10}),
]
# what each face calls a failed client authentication: RFC 6749 5.2 ``invalid_client``, and
# CloudBase's ``unauthenticated`` (gRPC UNAUTHENTICATED, 16)
INVALID_CLIENT = {"ciam": "invalid_client", "oauth": "invalid_client", "cloudbase": "unauthenticated"}


@pytest.mark.parametrize("authorization", ["Basic //46gIE=", "Basic \xe9"], ids=["not-utf8", "latin1"])
@pytest.mark.parametrize(("path", "face", "body"), CLIENT_AUTHENTICATED, ids=[p for p, _, _ in CLIENT_AUTHENTICATED])
def test_malformed_basic_credentials_are_invalid_client(seeded_client, path, face, body, authorization):
    answer = seeded_client.post(path, json=body, headers={"Authorization": authorization})
    assert error_of(answer, face, 401)["error"] == INVALID_CLIENT[face]


@pytest.mark.parametrize(
    ("path", "body"), [("/oauth2/token", {"grant_type": "client_credentials"}), ("/oauth2/revoke", {"token": "x"})]
)
def test_an_empty_bearer_is_no_client_authentication(seeded_client, path, body):
    answer = seeded_client.post(path, json=body, headers={"Authorization": "Bearer "})
    assert error_of(answer, "oauth", 401)["error"] == "invalid_client"


# -- 3. lone surrogates ----------------------------------------------------------------------
def test_a_lone_surrogate_in_a_client_secret_at_revocation(seeded_client):
    text = json.dumps({"client_id": TENANT_CLIENT_ID, "client_secret": "x\udfffy", "token": "x"})
    assert "\\udfff" in text  # the JSON escape, as a client sends it
    answer = post_raw(seeded_client, "/oauth2/revoke", text)
    assert error_of(answer, "oauth", 400, 401)["error"] in ("invalid_request", "invalid_client")


def test_a_lone_surrogate_as_a_cloudbase_password(seeded_client, services):
    person = users.create(services)
    text = json.dumps({"username": person.username, "password": "\ud800" + PASSWORD})
    answer = post_raw(seeded_client, "/auth/v1/signin", text, TENANT)
    error_of(answer, "cloudbase", 400, 401)


def test_a_lone_surrogate_as_a_name_in_ciam_userinfo(seeded_client, services):
    token = user_token(seeded_client, services)
    text = json.dumps({"name": "Ada \ud800"})
    answer = seeded_client.patch(
        "/userinfo", data=text, headers={"Authorization": f"Bearer {token}", "Content-Type": JSON}
    )
    assert error_of(answer, "ciam", 400)["error"] == "invalid_request"


def test_a_lone_surrogate_as_the_code_of_the_ciam_otp_grant(seeded_client):
    text = json.dumps(
        {
            "grant_type": SMS_GRANT,
            "client_id": TENANT_CLIENT_ID,
            "client_secret": TENANT_CLIENT_SECRET,
            "auth_source_id": MOCK_SMS_OTP_AUTH_SOURCE_ID,
            "phone_number": "13612345678",
            "otp_token": "x",
            "otp": "12\udfff34",
        }
    )
    answer = post_raw(seeded_client, "/oauth2/token", text)
    error_of(answer, "oauth", 400)


def test_a_lone_surrogate_in_a_password_change(seeded_client, services):
    token = user_token(seeded_client, services)
    text = json.dumps({"old_password": "\ud800", "new_password": "x\udfffy-long-enough"})
    answer = seeded_client.post(
        "/change_user_password", data=text, headers={"Authorization": f"Bearer {token}", "Content-Type": JSON}
    )
    error_of(answer, "ciam", 400)


# -- 4. CR/LF in the authorization request ----------------------------------------------------
def test_crlf_in_redirect_uri_is_an_error_page_not_a_header(seeded_client, services):
    shop = applications.create(services, type="web")
    answer = seeded_client.get(
        f"/oauth2/authorize?response_type=code&client_id={shop.client_id}&redirect_uri=%0D%0AX-Injected%3A%201"
    )
    assert answer.status_code == 400, answer.get_data()[:200]
    assert answer.mimetype == "text/html"
    assert "X-Injected" not in answer.headers
    assert "Location" not in answer.headers


# -- 5. an encoded slash in a user id -------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/api/v1/users/a%2Fb"),
        ("PATCH", "/admin/api/v1/users/a%2Fb"),
        ("POST", "/admin/api/v1/users/a%2Fb/unlock"),
    ],
)
def test_an_encoded_slash_in_a_user_id_is_a_json_404(seeded_client, method, path):
    answer = seeded_client.open(path, method=method, json={} if method != "GET" else None, headers=ADMIN)
    error_of(answer, "admin", 404)


def test_basic_helper_still_authenticates(seeded_client):
    """The valid credentials these tests vary pass (so a 401 above is the malformed header's)."""
    answer = seeded_client.post(
        "/oauth2/introspect", json={"token": "x"}, headers=basic(TENANT_CLIENT_ID, TENANT_CLIENT_SECRET)
    )
    assert answer.status_code == 200
    assert answer.json == {"active": False}
