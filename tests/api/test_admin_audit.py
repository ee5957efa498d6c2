"""GET /admin/api/v1/audit-events: events from real actions, naming who acted,
listed newest first with filters and a cursor, never holding a secret."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from idp import audit
from idp.context import RequestContext
from tests.factories import users
from tests.helpers import send_sms, sms_login

API = "/admin/api/v1/audit-events"
PHONE = "+8613612345678"
EVENT_KEYS = {"id", "type", "at", "sub", "client_id", "actor", "ip", "user_agent", "result", "details"}
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def listing(client, admin_headers, **params):
    response = client.get(API, query_string=params, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    return response


def events(client, admin_headers, **params) -> list[dict]:
    return listing(client, admin_headers, **params).get_json()


def types(client, admin_headers, **params) -> list[str]:
    return [e["type"] for e in events(client, admin_headers, **params)]


@pytest.fixture
def activity(client, seeded, outbox, services):
    """Real traffic: a user, an OTP send, a wrong code and a sign-in (OTP grant)."""
    user = users.create(services, None, with_password=False, with_verified_phone=PHONE)
    otp_token = send_sms(client).get_json()["otp_token"]
    code = outbox.last_code()
    wrong = "000000" if code != "000000" else "111111"
    assert sms_login(client, otp_token, wrong).status_code == 400
    assert sms_login(client, otp_token, code).status_code == 200
    return {"sub": user.sub, "code": code, "wrong": wrong, "otp_token": otp_token}


def record_at(services, type_: str, at: datetime, **fields) -> None:
    with services.db.transaction() as session:
        audit.record(session, type_, RequestContext(ip="192.0.2.7", user_agent="script/1", now=at), **fields)


# -- what real actions leave behind ----------------------------------------------------------


def test_lists_real_events_newest_first(client, admin_headers, activity):
    body = events(client, admin_headers)
    assert [e["type"] for e in body[:5]] == [
        "login.token",
        "login.success",
        "login.failure",
        "otp.send",
        "admin.user.create",
    ]
    ids = [e["id"] for e in body]
    assert ids == sorted(ids, reverse=True)
    for event in body:
        assert set(event) == EVENT_KEYS
        assert ISO_Z.fullmatch(event["at"])
    token, success, failure, send = body[:4]
    assert (token["sub"], token["client_id"], token["result"]) == (activity["sub"], "TENANT_CLIENT_ID", "success")
    assert (success["sub"], success["client_id"], success["details"]["amr"]) == (
        activity["sub"],
        "TENANT_CLIENT_ID",
        ["otp", "sms"],
    )
    assert (failure["result"], failure["details"]["reason"]) == ("failure", "otp.wrong_code")
    assert send["details"] == {"channel": "sms", "usage": "login", "resent": False}
    assert send["ip"] == "127.0.0.1" and send["user_agent"]


def test_actor_names_who_acted(client, admin_headers, activity):
    """null when the person acted on their own account; ``admin_token`` for the bootstrap token."""
    made = client.post("/admin/api/v1/users", json={"username": "made-by-admin"}, headers=admin_headers)
    assert made.status_code == 201
    body = events(client, admin_headers)
    actors = {(e["type"], e["sub"]): e["actor"] for e in body}
    assert actors[("admin.user.create", made.get_json()["sub"])] == "admin_token"
    assert actors[("login.token", activity["sub"])] is None
    assert {e["actor"] for e in body if e["type"] in ("otp.send", "login.failure")} == {None}


def test_no_code_or_token_in_any_listed_event(client, admin_headers, activity):
    dumped = json.dumps(events(client, admin_headers, limit=1000))
    for secret in (activity["code"], activity["wrong"], activity["otp_token"]):
        assert secret not in dumped


# -- filters -----------------------------------------------------------------------------------


def test_filter_by_sub(client, admin_headers, activity, services):
    other = users.create(services, "someone-else", with_password=False)
    mine = events(client, admin_headers, sub=activity["sub"])
    assert [e["type"] for e in mine] == ["login.token", "login.success", "login.failure", "admin.user.create"]
    assert {e["sub"] for e in mine} == {activity["sub"]}
    assert types(client, admin_headers, sub=other.sub) == ["admin.user.create"]
    assert events(client, admin_headers, sub="no-such-sub") == []


def test_filter_by_exact_type_and_prefix(client, admin_headers, activity):
    assert types(client, admin_headers, type="otp.send") == ["otp.send"]
    assert types(client, admin_headers, type="login.*") == ["login.token", "login.success", "login.failure"]
    assert types(client, admin_headers, type="login.") == []  # without the star: exact
    assert types(client, admin_headers, type="login") == []
    assert set(types(client, admin_headers, type="admin.*")) == {
        "admin.user.create",
        "admin.application.create",
        "admin.auth_source.create",
    }
    assert len(types(client, admin_headers, type="*")) == len(types(client, admin_headers))


def test_prefix_is_literal_not_a_like_pattern(client, admin_headers, services):
    record_at(services, "admin.auth_source.create", T0)
    record_at(services, "admin.authXsource.create", T0)  # "_" must not match any character
    record_at(services, "100%.done", T0)
    record_at(services, "100x.done", T0)
    assert types(client, admin_headers, type="admin.auth_source*") == ["admin.auth_source.create"]
    assert types(client, admin_headers, type="100%*") == ["100%.done"]


def test_filter_by_client_and_result_combined(client, admin_headers, activity):
    assert types(client, admin_headers, result="failure") == ["login.failure"]
    assert types(client, admin_headers, client_id="TENANT_CLIENT_ID", type="login.*", result="success") == [
        "login.token",
        "login.success",
    ]
    assert types(client, admin_headers, client_id="SPA_CLIENT_ID") == ["admin.application.create"]
    assert types(client, admin_headers, sub=activity["sub"], result="failure") == ["login.failure"]
    assert events(client, admin_headers, sub=activity["sub"], result="failure", type="otp.*") == []


@pytest.fixture
def timeline(services):
    """Four events an hour apart from T0, with known instants."""
    for hour in range(4):
        record_at(services, f"test.h{hour}", T0 + timedelta(hours=hour))


@pytest.mark.usefixtures("timeline")
@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2026-01-01T01:00:00Z", None, ["test.h3", "test.h2", "test.h1"]),  # since is inclusive
        (None, "2026-01-01T02:00:00Z", ["test.h1", "test.h0"]),  # until is exclusive
        ("2026-01-01T01:00:00Z", "2026-01-01T03:00:00Z", ["test.h2", "test.h1"]),
        ("2026-01-01T09:00:00+08:00", None, ["test.h3", "test.h2", "test.h1"]),  # an offset
        ("2026-01-01T01:00:00", None, ["test.h3", "test.h2", "test.h1"]),  # naive means UTC
        ("2026-01-01T00:30:00.5Z", "2026-01-01T02:59:59Z", ["test.h2", "test.h1"]),
        (str(int((T0 + timedelta(hours=2)).timestamp())), None, ["test.h3", "test.h2"]),  # epoch seconds
        (None, f"{(T0 + timedelta(hours=1)).timestamp() + 0.5}", ["test.h1", "test.h0"]),  # fractional epoch
        ("2026-01-01", "2026-01-02", ["test.h3", "test.h2", "test.h1", "test.h0"]),  # dates
        ("2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z", []),
    ],
)
def test_time_range(client, admin_headers, since, until, expected):
    params = {k: v for k, v in {"since": since, "until": until}.items() if v is not None}
    assert types(client, admin_headers, type="test.*", **params) == expected


def test_the_at_of_an_event_works_as_a_bound(client, admin_headers, activity):
    send = events(client, admin_headers, type="otp.send")[0]
    assert send["id"] in [e["id"] for e in events(client, admin_headers, since=send["at"])]
    assert send["id"] not in [e["id"] for e in events(client, admin_headers, until=send["at"])]


# -- limit and cursor --------------------------------------------------------------------------


def test_default_limit_is_100(client, admin_headers, services):
    for i in range(105):
        record_at(services, "test.bulk", T0 + timedelta(seconds=i))
    response = listing(client, admin_headers)
    assert len(response.get_json()) == 100
    assert 'rel="next"' in response.headers["Link"]
    assert len(events(client, admin_headers, limit=1000)) == 105


def test_limit_and_cursor_walk_every_event_once(client, admin_headers, activity, services):
    everything = [e["id"] for e in events(client, admin_headers)]
    walked, pages, params = [], 0, {"limit": "3"}
    while True:
        response = listing(client, admin_headers, **params)
        page = response.get_json()
        assert 1 <= len(page) <= 3
        walked += [e["id"] for e in page]
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            break
        assert link.endswith('>; rel="next"')
        params = {"limit": "3", "before_id": str(page[-1]["id"])}
        assert link.startswith(f"<{API}?") and f"before_id={page[-1]['id']}" in link
    assert walked == everything
    assert pages == -(-len(everything) // 3)


def test_the_next_link_keeps_the_filters(client, admin_headers, activity):
    response = listing(client, admin_headers, type="admin.*", limit=2)
    link = response.headers["Link"][1:].split(">")[0]
    assert "type=admin.%2A" in link or "type=admin.*" in link
    second = client.get(link, headers=admin_headers).get_json()
    assert second and all(e["type"].startswith("admin.") for e in second)
    first_ids = {e["id"] for e in response.get_json()}
    assert not first_ids & {e["id"] for e in second}


def test_last_page_has_no_link(client, admin_headers, activity):
    response = listing(client, admin_headers, limit=1000)
    assert "Link" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="}])
def test_requires_the_admin_token(client, headers, activity):
    response = client.get(API, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "admin.unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
        {"since": "1e9"},
        {"since": "-5"},
        {"since": "99999999999999999999"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"limit": "1.5"},
        {"before_id": "0"},
        {"before_id": "abc"},
        {"before_id": "1" * 30},
        {"type": "lo*in.*"},
        {"type": "*.failure"},
        {"user": "abc"},  # a typo must not silently list everything
    ],
)
def test_bad_filters_are_400_in_the_admin_shape(client, admin_headers, params):
    response = client.get(API, query_string=params, headers=admin_headers)
    assert response.status_code == 400, params
    body = response.get_json()
    assert body["error"] == "request.invalid"
    assert next(iter(params)) in body["error_description"] or "since" in body["error_description"]


def test_blank_filters_are_ignored(client, admin_headers, activity):
    assert types(client, admin_headers, sub="", type="", since="") == types(client, admin_headers)


# -- secrets never stored ------------------------------------------------------------------------


def test_secret_named_details_are_dropped(client, admin_headers, services):
    record_at(
        services,
        "test.secrets",
        T0,
        sub="s1",
        otp="123456",
        code="654321",
        otp_token="tok-abc",
        new_password="hunter2hunter2",
        client_secret="cs-xyz",
        refreshToken="rt-123",
        password_hash="$argon",
        recovery_codes=["r1", "r2"],
        nested={"verification_code": "777777", "channel": "sms"},
        refresh_tokens_revoked=2,
        code_length=6,
        grant_type="password",
        reason="otp.wrong_code",
    )
    [event] = events(client, admin_headers, type="test.secrets")
    assert event["details"] == {
        "nested": {"channel": "sms"},
        "refresh_tokens_revoked": 2,
        "code_length": 6,
        "grant_type": "password",
        "reason": "otp.wrong_code",
    }
    dumped = json.dumps(event)
    for secret in ("123456", "654321", "tok-abc", "hunter2", "cs-xyz", "rt-123", "$argon", "r1", "777777"):
        assert secret not in dumped


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("otp", True),
        ("code", True),
        ("otp_token", True),
        ("password", True),
        ("newPassword", True),
        ("client-secret", True),
        ("id_token", True),
        ("access_token", True),
        ("recovery_codes", True),
        ("api_key", True),
        ("pin", True),
        ("refresh_tokens_revoked", False),
        ("code_length", False),
        ("grant_type", False),
        ("reason", False),
        ("channel", False),
        ("auth_source_id", False),
        ("fields", False),
        ("amr", False),
        ("device_id", False),
    ],
)
def test_secret_names(name, secret):
    assert audit.is_secret_name(name) is secret
