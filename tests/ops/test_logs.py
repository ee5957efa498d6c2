"""JSON log lines (``GATEHOUSE_LOG_FORMAT=json``): one object per line, one access line per
request with the request's id, and never a secret — checked by running every way in with the
log captured at DEBUG (every library's records too) and searching it for each code, password,
client secret and token the flows used."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from blueprints import logs
from tests.conftest import ADMIN_TOKEN
from tests.factories import TENANT_CLIENT_ID, TENANT_CLIENT_SECRET, applications, auth_sources, users
from tests.helpers import send_sms, sms_login
from tests.web.conftest import csrf_token

ACCESS_KEYS = {"ts", "level", "logger", "event", "request_id", "method", "endpoint", "status", "duration_ms"}


@pytest.fixture
def json_logs(settings_overrides) -> Iterator[io.StringIO]:
    """The app logs JSON; everything logged, at DEBUG and from any logger, lands in the
    returned stream through the app's own formatter."""
    settings_overrides["log_format"] = "json"
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logs.JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root, app_logger = logging.getLogger(), logging.getLogger("gatehouse")
    levels = root.level, app_logger.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield captured
    root.removeHandler(handler)
    root.setLevel(levels[0])
    app_logger.setLevel(levels[1])
    logs.configure("text")  # drop the stderr handler the JSON app installed


def lines(captured: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]


def access_lines(captured: io.StringIO) -> list[dict]:
    return [line for line in lines(captured) if line["logger"] == "gatehouse.access"]


def test_every_line_is_json_and_each_request_has_one_access_line(json_logs, client, seeded):
    client.get("/healthz", headers={"X-Request-Id": "probe-1"})
    sent = send_sms(client)
    client.get("/no/such/page?code=123456")
    access = access_lines(json_logs)
    assert [line["endpoint"] for line in access] == ["ops.healthz", "ciam.otp_send", "unmatched"]
    for line in access:
        assert set(line) >= ACCESS_KEYS
        assert line["event"] == "request" and line["level"] == "info"
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert (access[0]["request_id"], access[0]["status"], access[0]["method"]) == ("probe-1", 200, "GET")
    assert access[1]["request_id"] == sent.headers["X-Request-Id"]
    assert access[1]["client_id"] == TENANT_CLIENT_ID  # the application that asked, from the audit event
    assert access[2]["status"] == 404
    assert "123456" not in json_logs.getvalue()  # no query string


def test_a_token_request_names_the_client_and_the_person(json_logs, client, seeded, outbox):
    users.create(seeded, with_verified_phone="+8613612345678")
    token = send_sms(client).get_json()["otp_token"]
    issued = sms_login(client, token, outbox.last_code())
    assert issued.status_code == 200, issued.get_json()
    line = access_lines(json_logs)[-1]
    assert line["endpoint"] == "oauth.token"
    assert line["client_id"] == TENANT_CLIENT_ID
    assert line["sub"] and line["sub"] == issued_sub(issued.get_json()["id_token"])


def test_app_records_share_the_format(json_logs, client):
    logging.getLogger("gatehouse").warning("a notice from the app")
    (line,) = [line for line in lines(json_logs) if line["event"] == "a notice from the app"]
    assert line["level"] == "warning" and line["logger"] == "gatehouse"


def issued_sub(id_token: str) -> str:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_no_secret_reaches_the_log(json_logs, client, services, seeded, outbox, admin_headers):
    secrets: dict[str, str] = {"admin token": ADMIN_TOKEN, "tenant client secret": TENANT_CLIENT_SECRET}

    # Tencent CIAM: send a code, exchange it for tokens, refresh them
    users.create(services, "li", with_password="Li's long passphrase", with_verified_phone="+8613612345678")
    secrets["ciam user password"] = "Li's long passphrase"
    sent = send_sms(client).get_json()
    code = outbox.last_code()
    issued = sms_login(client, sent["otp_token"], code).get_json()
    assert "access_token" in issued, issued
    secrets.update(otp_token=sent["otp_token"], sms_code=code)
    secrets.update(
        {f"ciam {name}": issued[name] for name in ("access_token", "id_token", "refresh_token") if name in issued}
    )
    refreshed = client.post(
        "/oauth2/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": TENANT_CLIENT_ID,
            "client_secret": TENANT_CLIENT_SECRET,
        },
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    secrets.update({f"refreshed {k}": v for k, v in refreshed.get_json().items() if k.endswith("token")})
    # a token in a query string (RP-Initiated Logout's id_token_hint) stays out of the log too
    client.get(f"/oauth2/logout?id_token_hint={issued['id_token']}")

    # Tencent CloudBase: sign in with a password, and with an email code
    applications.create(
        services, client_id="cb-app", client_secret="cb-Secret-4f1d9a", auth_sources=auth_sources.both(services)
    )
    users.create(services, "mei", with_password="Mei's long passphrase", with_verified_email="mei@example.com")
    cloudbase = basic("cb-app", "cb-Secret-4f1d9a")
    signin = client.post(
        "/auth/v1/signin", json={"username": "mei", "password": "Mei's long passphrase"}, headers=cloudbase
    )
    assert signin.status_code == 200, signin.get_json()
    verification = client.post(
        "/auth/v1/verification", json={"email": "mei@example.com", "target": "USER"}, headers=cloudbase
    ).get_json()
    email_code = outbox.last_code("mei@example.com")
    verified = client.post(
        "/auth/v1/verification/verify",
        json={"verification_id": verification["verification_id"], "verification_code": email_code},
        headers=cloudbase,
    ).get_json()
    secrets.update(
        {
            "cloudbase password": "Mei's long passphrase",
            "cloudbase secret": "cb-Secret-4f1d9a",
            "email code": email_code,
        }
    )
    secrets.update({f"cloudbase {k}": v for k, v in signin.get_json().items() if k.endswith("token")})
    secrets["verification_token"] = verified["verification_token"]

    # the hosted pages: a password sign-in, then the authorization code flow to tokens
    applications.create(
        services, client_id="web-app", client_secret="web-Secret-77c2e0", auth_sources=auth_sources.both(services)
    )
    users.create(services, "ada", with_password="Ada's long passphrase")
    page = client.get("/login")
    signed_in = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "username": "ada",
            "password": "Ada's long passphrase",
        },
    )
    assert signed_in.status_code == 302
    sso = client.get_cookie("gh_sso")
    secrets.update({"hosted password": "Ada's long passphrase", "web secret": "web-Secret-77c2e0"})
    if sso is not None:
        secrets["sso cookie"] = sso.value

    # the admin API: a person created with a password
    created = client.post(
        "/admin/api/v1/users", json={"username": "grace", "password": "Grace's long passphrase"}, headers=admin_headers
    )
    assert created.status_code == 201, created.get_json()
    secrets["admin-set password"] = "Grace's long passphrase"

    # the Authorization headers as sent (base64 of client_id:secret)
    secrets.update(
        {f"basic {name}": header["Authorization"].split()[1] for name, header in (("cloudbase", cloudbase),)}
    )
    text = json_logs.getvalue()
    assert len(access_lines(json_logs)) == 10  # every request of the flows was logged, once
    leaked = {name: value for name, value in secrets.items() if value and value in text}
    assert leaked == {}
