"""OIDC Discovery 1.0: the document lists exactly what is supported, and every endpoint exists."""

from __future__ import annotations

import pytest

ISSUER = "http://127.0.0.1:5000"


@pytest.fixture
def doc(client):
    return client.get("/.well-known/openid-configuration").get_json()


def test_supported_features(doc):
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query", "form_post"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["prompt_values_supported"] == ["none", "login", "consent"]
    assert doc["acr_values_supported"] == ["urn:gatehouse:acr:1fa", "urn:gatehouse:acr:2fa"]
    assert doc["ui_locales_supported"] == ["en", "zh-CN"]
    assert doc["claims_parameter_supported"] is True
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(doc["grant_types_supported"])
    assert "implicit" not in doc["grant_types_supported"]
    assert doc["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert doc["authorization_response_iss_parameter_supported"] is True


@pytest.mark.parametrize(
    ("key", "path", "method"),
    [
        ("authorization_endpoint", "/oauth2/authorize", "GET"),
        ("token_endpoint", "/oauth2/token", "POST"),
        ("userinfo_endpoint", "/oauth2/userinfo", "GET"),
        ("jwks_uri", "/oauth2/jwks", "GET"),
        ("revocation_endpoint", "/oauth2/revoke", "POST"),
        ("introspection_endpoint", "/oauth2/introspect", "POST"),
        ("end_session_endpoint", "/oauth2/logout", "GET"),
    ],
)
def test_every_listed_endpoint_exists(client, doc, key, path, method):
    assert doc[key] == ISSUER + path
    response = client.open(path, method=method)
    assert response.status_code not in (404, 405, 501), (path, response.status_code)


def test_the_authorize_endpoint_accepts_post(client, seeded):
    # OIDC Core 3.1.2.1: GET and POST
    response = client.post("/oauth2/authorize", data={"client_id": "nope", "response_type": "code"})
    assert response.status_code == 400 and "invalid_client" in response.get_data(as_text=True)
