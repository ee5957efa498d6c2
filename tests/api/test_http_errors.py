"""Errors no view raises (an unknown address, a wrong method, a body over the limit, a failure)
answer in the format of the face that owns the address: JSON in that face's shape on every
JSON route, the hosted error page on the pages. Never Flask's HTML error page on a JSON route."""

from __future__ import annotations

import pytest

from blueprints.web import MAX_BODY_BYTES
from tests.conftest import basic
from tests.factories import SECRET, applications

JSON = {"Content-Type": "application/json"}

# (face, an unknown address it owns, a route of it and a method that route does not take)
FACES = [
    ("ciam", "/otp/nope", ("/otp/send", "GET")),
    ("oauth", "/oauth2/nope", ("/oauth2/token", "DELETE")),
    ("cloudbase", "/auth/v1/nope", ("/auth/v1/signin", "PUT")),
    ("zitadel", "/auth/v1/users/me/nope", ("/auth/v1/users/me/phone", "PATCH")),
    ("oneaccess", "/api/v2/sdk/nope", ("/api/v2/sdk/login", "GET")),
    ("admin", "/admin/api/v1/nope", ("/admin/api/v1/users", "DELETE")),
]


def assert_face_shape(face: str, body: dict, status: int) -> None:
    if face in ("ciam", "oauth"):  # RFC 6749 5.2
        assert set(body) <= {"error", "error_description"} and body["error"] == "invalid_request"
    elif face == "cloudbase":
        assert list(body) == ["error", "error_code", "error_description"]
        assert (body["error"], body["error_code"]) == {404: ("not_found", 5), 405: ("unimplemented", 12)}.get(
            status, ("invalid_argument", 3)
        )
    elif face == "zitadel":
        assert list(body) == ["code", "message", "details"]
        assert body["code"] == {404: 5, 405: 12, 413: 8}[status]
    elif face == "oneaccess":
        assert body["error_code"] == f"SDK.COMMON.1{status}"
        assert body["error_msg"]
    else:
        assert list(body) == ["error", "error_description"] and body["error_description"]
        assert body["error"] == {404: "request.not_found", 405: "request.method_not_allowed"}.get(
            status, "request.too_large"
        )


@pytest.mark.parametrize(("face", "unknown", "_route"), FACES, ids=[f[0] for f in FACES])
def test_an_unknown_address_under_a_face_is_404_in_its_shape(client, admin_headers, face, unknown, _route):
    response = client.post(unknown, json={}, headers=admin_headers)
    assert response.status_code == 404 and response.is_json
    assert_face_shape(face, response.get_json(), 404)


@pytest.mark.parametrize(("face", "_unknown", "route"), FACES, ids=[f[0] for f in FACES])
def test_a_method_the_route_does_not_take_is_405_with_allow(client, admin_headers, face, _unknown, route):
    path, method = route
    response = client.open(path, method=method, headers=admin_headers)
    assert response.status_code == 405 and response.is_json
    assert_face_shape(face, response.get_json(), 405)
    assert response.headers["Allow"]


def test_an_encoded_slash_in_a_path_parameter_is_a_json_404(client, admin_headers):
    for method, path in (
        ("GET", "/admin/api/v1/users/a%2Fb"),
        ("PATCH", "/admin/api/v1/users/a%2Fb"),
        ("POST", "/admin/api/v1/users/a%2Fb/unlock"),
    ):
        response = client.open(path, method=method, headers=admin_headers, json={})
        assert (response.status_code, response.get_json()["error"]) == (404, "request.not_found")


@pytest.mark.parametrize(
    ("face", "path"),
    [
        ("ciam", "/otp/send"),
        ("oauth", "/oauth2/token"),
        ("cloudbase", "/auth/v1/signin"),
        ("oneaccess", "/api/v2/sdk/login"),
        ("admin", "/admin/api/v1/users"),
    ],
)
def test_a_body_over_the_limit_is_413_in_the_face_shape(client, admin_headers, face, path):
    body = b'{"x": "' + b"a" * MAX_BODY_BYTES + b'"}'
    response = client.post(path, data=body, headers={**JSON, **admin_headers})
    assert response.status_code == 413 and response.is_json
    assert_face_shape(face, response.get_json(), 413)


def test_a_form_body_over_the_limit_is_413_at_the_token_endpoint(client):
    response = client.post("/oauth2/token", data={"grant_type": "x" * MAX_BODY_BYTES})
    assert response.status_code == 413 and response.get_json()["error"] == "invalid_request"


def test_a_failing_view_answers_500_in_its_face_shape_not_html(app, services):
    """Outside tests an unexpected exception becomes a 500: the face's JSON, never Flask's page."""

    def broken():
        raise RuntimeError("a defect")

    app.add_url_rule("/auth/v1/broken", endpoint="cloudbase.broken", view_func=broken, methods=["POST"])
    app.add_url_rule("/otp/broken", endpoint="ciam.broken", view_func=broken, methods=["POST"])
    app.testing = False  # as in production: the exception is not re-raised into the test
    client = app.test_client()
    response = client.post("/auth/v1/broken", json={})
    assert response.status_code == 500 and response.is_json
    assert response.get_json()["error"] == "internal" and response.get_json()["error_code"] == 13
    response = client.post("/otp/broken", json={})
    assert response.status_code == 500 and response.get_json()["error"] == "server_error"


def test_pages_keep_their_html_error_page(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert b"<!doctype html>" in response.data.lower() and b"Gatehouse" in response.data
    response = client.delete("/oauth2/authorize", headers={"Accept": "text/html"})
    assert response.status_code == 405 and response.mimetype == "text/html"


def test_an_unknown_address_outside_every_face_is_json_for_an_api_client(client):
    response = client.get("/no-such-api", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.get_json()["error"] == "request.not_found"


def test_a_route_shared_by_a_page_and_a_face_answers_each_in_kind(client):
    """``/signup`` is the hosted sign-up page (GET) and Tencent CIAM's sign-up (POST)."""
    response = client.delete("/signup", headers={"Accept": "application/json"})
    assert response.status_code == 405 and response.get_json()["error"] == "invalid_request"
    response = client.delete("/signup", headers={"Accept": "text/html"})
    assert response.status_code == 405 and response.mimetype == "text/html"


def test_u0000_in_query_form_or_path_is_refused_before_the_database(client, services, admin_headers):
    """PostgreSQL text cannot hold U+0000: it is refused at the boundary on both backends."""
    app = applications.create(services)
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": "a\x00b"})
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_request")
    response = client.get("/admin/api/v1/users?username=a%00", headers=admin_headers)
    assert (response.status_code, response.get_json()["error"]) == (400, "request.invalid")
    response = client.get("/admin/api/v1/users/a%00b", headers=admin_headers)
    assert (response.status_code, response.get_json()["error"]) == (400, "request.invalid")
    response = client.post(
        "/auth/v1/signin", json={"username": "a\x00", "password": "x"}, headers=basic(app.client_id, SECRET)
    )
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_argument")
