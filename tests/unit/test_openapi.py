"""``GET /openapi.json`` is valid OpenAPI 3.1 and describes every JSON route the app registered
(a new route without a line in ``blueprints/openapi.py``'s table fails here); ``GET /docs``
renders it from assets this server serves, under a policy without inline script."""

from __future__ import annotations

import copy
import re

import jsonschema_rs
import pytest
import schemathesis

from blueprints import openapi
from idp.admin import shapes
from idp.dialects import ciam
from tests.fuzz.faces import FACES, json_endpoints

_ARGUMENT = re.compile(r"<(?:[^>:]*:)?(\w+)>")


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.is_json
    return response.json


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    broken = copy.deepcopy(document)
    broken["paths"]["/otp/send"]["post"]["parameters"] = [{"name": "x", "in": "body"}]  # no such location
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_json_route_of_the_app_is_documented(app, document):
    endpoints = json_endpoints(app)  # walks app.url_map
    assert {e.face for e in endpoints} == set(FACES)
    missing = []
    for endpoint in endpoints:
        path = _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", endpoint.rule)
        if endpoint.method.lower() not in document["paths"].get(path, {}):
            missing.append(str(endpoint))
    assert not missing, f"routes without documentation: {missing}"
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations == len(endpoints)
    for rule in ("/admin/api/v1/users/{sub}", "/otp/send", "/auth/v1/signin", "/api/v2/sdk/login", "/oauth2/token"):
        assert rule in document["paths"]


def test_a_route_added_without_a_line_in_the_table_is_reported(app):
    assert openapi.undocumented(app) == []
    app.add_url_rule("/admin/api/v1/widgets", endpoint="admin.list_widgets", view_func=lambda: {})
    assert openapi.undocumented(app) == ["GET /admin/api/v1/widgets"]


def test_request_bodies_are_the_models_the_faces_parse_with(document):
    components = document["components"]["schemas"]
    create_user = document["paths"]["/admin/api/v1/users"]["post"]
    ref = create_user["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/UserIn"
    assert set(components["UserIn"]["properties"]) == set(shapes.UserIn.model_fields)
    assert components["UserIn"]["additionalProperties"] is False  # extra="forbid"
    otp_send = document["paths"]["/otp/send"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(components[otp_send["$ref"].rpartition("/")[2]]["properties"]) == set(ciam.OtpSendRequest.model_fields)
    # the OAuth endpoints take form bodies; the token endpoint also Tencent CIAM's JSON OTP grant
    token = document["paths"]["/oauth2/token"]["post"]["requestBody"]["content"]
    assert set(token) == {"application/x-www-form-urlencoded", "application/json"}
    for path in ("/oauth2/revoke", "/oauth2/introspect"):
        assert set(document["paths"][path]["post"]["requestBody"]["content"]) == {"application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("path", "method", "error_model"),
    [
        ("/admin/api/v1/users", "post", "AdminError"),
        ("/oauth2/token", "post", "OAuthError"),
        ("/otp/send", "post", "OAuthError"),
        ("/auth/v1/signin", "post", "CloudbaseError"),
        ("/auth/v1/users/me/phone", "put", "ZitadelError"),
        ("/api/v2/sdk/login", "post", "OneAccessError"),
    ],
)
def test_errors_are_documented_in_each_face_shape(document, path, method, error_model):
    responses = document["paths"][path][method]["responses"]
    errors = {status: r for status, r in responses.items() if int(status) >= 400}
    assert "400" in errors
    for response in errors.values():
        assert response["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{error_model}"}


def test_security_is_documented(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminBearer"]["scheme"] == "bearer"
    assert document["paths"]["/admin/api/v1/keys"]["get"]["security"] == [{"adminBearer": []}]
    assert document["paths"]["/otp/send"]["post"]["security"] == [{"clientBasic": []}]
    assert document["paths"]["/userinfo"]["patch"]["security"] == [{"userBearer": []}]
    login = document["paths"]["/api/v2/sdk/login"]["post"]
    assert {p["name"] for p in login["parameters"] if p["required"]} >= {"X-client-id", "X-agent"}


def test_docs_page_uses_served_assets_and_no_inline_script(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    html = page.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    assert all('src="/static/' in attributes and not body.strip() for attributes, body in scripts)
    assert 'data-spec-url="/openapi.json"' in html
    for asset in ("docs/swagger-ui-bundle.js", "docs/swagger-ui.css", "docs-init.js", "docs/LICENSE"):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200, asset
        response.close()
