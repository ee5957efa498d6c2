"""One caching rule for every answer (blueprints/web.py): ``no-store`` on every face, success or
error, JSON or page or redirect; only the discovery document and the JWKS say how long they may
be cached (and static files keep Flask's own revalidation)."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_TOKEN, basic
from tests.helpers import TENANT

ONEACCESS = {
    "X-operating-sys-version": "Android 14",
    "X-device-fingerprint": "device-1",
    "X-agent": "app/1.0",
    "X-client-id": "TENANT_CLIENT_ID",
}

ANSWERS = {
    # (method, path, extra request arguments, status)
    "CIAM /otp/send": (
        "post",
        "/otp/send",
        {"json": {"phone_number": "13612345678", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"}, "headers": TENANT},
        200,
    ),
    "CIAM error": ("post", "/otp/send", {"json": {}, "headers": basic("nobody", "wrong")}, 401),
    "CloudBase /verification": (
        "post",
        "/auth/v1/verification",
        {"json": {"phone_number": "+86 13612345678"}, "headers": TENANT},
        200,
    ),
    "CloudBase error": ("post", "/auth/v1/signin", {"json": {}, "headers": TENANT}, 400),
    "ZITADEL error": ("post", "/auth/v1/users/me/auth_factors/_search", {}, 401),
    "OneAccess sms/send": (
        "post",
        "/api/v2/sdk/sms/send",
        {"json": {"mobile": "13612345678", "type": "LOGIN_SMS"}, "headers": ONEACCESS},
        200,
    ),
    "OneAccess error": ("post", "/api/v2/sdk/login", {"json": {}}, 400),
    "OAuth token error": (
        "post",
        "/oauth2/token",
        {"data": {"grant_type": "refresh_token", "refresh_token": "x"}, "headers": TENANT},
        400,
    ),
    "OAuth userinfo error": ("get", "/oauth2/userinfo", {}, 401),
    "OAuth authorize error page": ("get", "/oauth2/authorize?client_id=nobody&response_type=code", {}, 400),
    "admin API": ("get", "/admin/api/v1/applications", {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}, 200),
    "admin API error": ("get", "/admin/api/v1/applications", {}, 401),
    "hosted page": ("get", "/login", {}, 200),
    "hosted error page": ("get", "/login?authz=gone", {}, 404),
    "front page": ("get", "/", {}, 200),
    "unknown address": ("get", "/no/such/page", {}, 404),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_every_answer_is_no_store(client, seeded, outbox, name):
    method, path, kwargs, status = ANSWERS[name]
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store", (response.status_code, response.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/oauth2/jwks"])
def test_public_metadata_says_how_long_to_cache(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_static_files_keep_their_own_rule(client):
    response = client.get("/static/gatehouse.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    response.close()
