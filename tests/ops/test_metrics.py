"""``/metrics`` under the test client (the process's default registry): every family is
exported and moves when its event happens; the optional bearer token is enforced."""

from __future__ import annotations

import pytest

from idp import metrics
from tests.factories import PASSWORD, applications, auth_sources, users
from tests.helpers import send_sms
from tests.ops.conftest import families, value


@pytest.fixture
def cloudbase_app(services):
    import base64

    applications.create(
        services, client_id="metrics-app", client_secret="metrics-secret", auth_sources=auth_sources.both(services)
    )
    users.create(services, "mei", with_password=PASSWORD)
    raw = base64.b64encode(b"metrics-app:metrics-secret").decode()
    return {"Authorization": f"Basic {raw}"}


def test_every_family_is_exported(client):
    exported = families(client)
    names = {f"{name}_total" if family.type == "counter" else name for name, family in exported.items()}
    assert set(metrics.FAMILIES) <= names


def test_requests_are_counted_by_endpoint_method_and_status(client):
    before = value(client, "gatehouse_http_requests_total", endpoint="ops.healthz", method="GET", status="200")
    unmatched = value(client, "gatehouse_http_requests_total", endpoint="unmatched", method="GET", status="404")
    observed = value(client, "gatehouse_http_request_duration_seconds_count", endpoint="ops.healthz")
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/page")
    assert (
        value(client, "gatehouse_http_requests_total", endpoint="ops.healthz", method="GET", status="200") == before + 2
    )
    assert (
        value(client, "gatehouse_http_requests_total", endpoint="unmatched", method="GET", status="404")
        == unmatched + 1
    )
    assert value(client, "gatehouse_http_request_duration_seconds_count", endpoint="ops.healthz") == observed + 2


def test_a_sent_code_counts_by_channel_and_country(client, seeded):
    sent = value(client, "gatehouse_otp_sent_total", channel="sms", result="sent")
    china = value(client, "gatehouse_otp_sent_by_country_total", country="86")
    us = value(client, "gatehouse_otp_sent_by_country_total", country="1")
    assert send_sms(client, "13612345678").status_code == 200
    assert value(client, "gatehouse_otp_sent_total", channel="sms", result="sent") == sent + 1
    assert value(client, "gatehouse_otp_sent_by_country_total", country="86") == china + 1
    assert value(client, "gatehouse_otp_sent_by_country_total", country="1") == us
    exposition = client.get("/metrics").get_data(as_text=True)
    assert "13612345678" not in exposition  # a calling code, never the number


def test_a_refused_send_counts_its_rule(client, seeded):
    interval = value(client, "gatehouse_rate_limited_total", rule="target_interval")
    refused = value(client, "gatehouse_otp_sent_total", channel="sms", result="refused")
    assert send_sms(client, "13612345679").status_code == 200
    refusal = send_sms(client, "13612345679")  # within TARGET_INTERVAL
    assert refusal.get_json()["error"] == "sms_rate_limit_exceeded", refusal.get_json()
    assert value(client, "gatehouse_rate_limited_total", rule="target_interval") == interval + 1
    assert value(client, "gatehouse_otp_sent_total", channel="sms", result="refused") == refused + 1


@pytest.mark.limits(sms_daily_quota=1)
def test_a_spent_quota_counts_as_rule_quota(client, seeded):
    quota = value(client, "gatehouse_rate_limited_total", rule="quota")
    assert send_sms(client, "13612345670").status_code == 200
    assert send_sms(client, "13612345671").status_code != 200
    assert value(client, "gatehouse_rate_limited_total", rule="quota") == quota + 1


def test_sign_ins_count_by_method_and_result(client, cloudbase_app):
    failure = value(client, "gatehouse_logins_total", method="password", result="failure")
    success = value(client, "gatehouse_logins_total", method="password", result="success")
    wrong = client.post(
        "/auth/v1/signin", json={"username": "mei", "password": "not the password"}, headers=cloudbase_app
    )
    assert wrong.status_code == 400
    right = client.post("/auth/v1/signin", json={"username": "mei", "password": PASSWORD}, headers=cloudbase_app)
    assert right.status_code == 200
    assert value(client, "gatehouse_logins_total", method="password", result="failure") == failure + 1
    assert value(client, "gatehouse_logins_total", method="password", result="success") == success + 1


@pytest.mark.limits(login_captcha_after=1, login_captcha_after_identifier=0, login_captcha_after_ip=0)
def test_a_captcha_demanded_by_the_brute_force_policy_counts(client, cloudbase_app):
    captcha = value(client, "gatehouse_rate_limited_total", rule="login_captcha")
    body = {"username": "mei", "password": "not the password"}
    client.post("/auth/v1/signin", json=body, headers=cloudbase_app)
    again = client.post("/auth/v1/signin", json=body, headers=cloudbase_app)
    assert again.get_json()["error"] == "captcha_required"
    assert value(client, "gatehouse_rate_limited_total", rule="login_captcha") == captcha + 1


def test_a_store_outage_counts_by_store(own_redis, client, seeded, authz):
    authz_id = authz()
    errors = value(client, "gatehouse_store_errors_total", store="redis")
    own_redis.stop()
    assert send_sms(client).status_code == 503
    assert client.get(f"/login?authz={authz_id}").status_code == 503  # a hosted page's outage
    assert value(client, "gatehouse_store_errors_total", store="redis") == errors + 2


@pytest.fixture
def token_required(settings_overrides):
    settings_overrides["metrics_token"] = "metrics-token-0123456789"
    return settings_overrides["metrics_token"]


def test_metrics_token_is_required_when_set(token_required, client):
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {token_required}"},
        {"Authorization": "Bearer metrics-token-012345678é"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"gatehouse_" not in refused.data
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token_required}"})
    assert allowed.status_code == 200
    assert allowed.content_type.startswith("text/plain")
    assert b"gatehouse_http_requests_total" in allowed.data


def test_metrics_is_open_without_a_token(client):
    assert client.get("/metrics").status_code == 200
