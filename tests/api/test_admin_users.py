"""An administrator's view of one person: ``GET /admin/api/v1/users/<sub>`` with the temporary
lock (``locked_until``) and the second factors; the factors resource (list, enrol an SMS or
email OTP factor, remove); the standard profile claims (OpenID Connect Core 1.0, 5.1) passed to
the accounts service and rendered; ``{"status": "active"}`` lifting a temporary lock.

Real Redis (the lock), real database; locks come from real wrong passwords at Tencent
CloudBase ``POST /auth/v1/signin``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.models import AuditEvent
from tests.conftest import basic
from tests.factories import applications

API = "/admin/api/v1"
PASSWORD, WRONG = "correct horse battery", "wrong password!"
PHONE = "+8613612345678"
CB = basic("cb-app", "cb-app-secret")
LOCK = {
    "login_captcha_after": 0,
    "login_captcha_after_identifier": 0,
    "login_captcha_after_ip": 0,
    "login_lock_after": 3,
    "login_lock_seconds": 600,
    "login_failure_window": 600,
}
CLAIMS = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "middle_name": "King",
    "nickname": "ada",
    "profile": "https://example.com/ada",
    "picture": "https://example.com/ada.png",
    "website": "https://ada.example",
    "gender": "female",
    "birthdate": "1815-12-10",
    "zoneinfo": "Europe/London",
}


def new_user(client, admin_headers, **body) -> dict:
    response = client.post(f"{API}/users", json=body, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get_user(client, admin_headers, sub: str) -> dict:
    response = client.get(f"{API}/users/{sub}", headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def audit_rows(services, **where) -> list[AuditEvent]:
    services.db.session.rollback()  # see what the requests committed
    return list(services.db.session.scalars(select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)))


@pytest.fixture
def ada(client, admin_headers) -> dict:
    return new_user(
        client,
        admin_headers,
        username="ada",
        password=PASSWORD,
        phone_number=PHONE,
        phone_verified=True,
        email="ada@example.com",
        email_verified=True,
    )


# -- factors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor_type", ["otp_sms", "otp_email"])
def test_enrol_list_and_remove_a_factor(client, services, admin_headers, ada, factor_type):
    sub, url = ada["sub"], f"{API}/users/{ada['sub']}/factors"
    assert client.get(url, headers=admin_headers).get_json() == []

    added = client.post(url, json={"type": factor_type}, headers=admin_headers)
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert (body["type"], body["state"]) == (factor_type, "ready")
    datetime.fromisoformat(body["created_at"])
    assert services.factors.ready_types(sub) == [factor_type]  # usable at the next sign-in
    assert client.get(url, headers=admin_headers).get_json() == [body]
    assert get_user(client, admin_headers, sub)["factors"] == [body]

    again = client.post(url, json={"type": factor_type}, headers=admin_headers)
    assert again.status_code == 409
    assert again.get_json()["error"] == "factor.exists"

    removed = client.delete(f"{url}/{factor_type}", headers=admin_headers)
    assert removed.status_code == 204
    assert removed.get_data() == b""
    assert services.factors.ready_types(sub) == []
    assert client.get(url, headers=admin_headers).get_json() == []
    assert client.delete(f"{url}/{factor_type}", headers=admin_headers).status_code == 404

    changes = audit_rows(services, sub=sub)
    assert [(e.type, e.actor, e.details.get("factor")) for e in changes if e.type.startswith("factor.")] == [
        ("factor.add", "admin_token", factor_type),
        ("factor.remove", "admin_token", factor_type),
    ]


@pytest.mark.parametrize(
    ("factor_type", "unverified"),
    [
        ("otp_sms", {"phone_number": PHONE}),
        ("otp_email", {"email": "ada@example.com"}),
        ("otp_sms", {"email": "ada@example.com", "email_verified": True}),  # no phone at all
    ],
)
def test_an_otp_factor_needs_a_verified_contact(client, services, admin_headers, factor_type, unverified):
    user = new_user(client, admin_headers, **unverified)
    response = client.post(f"{API}/users/{user['sub']}/factors", json={"type": factor_type}, headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "factor.contact_not_verified"
    assert services.factors.list(user["sub"]) == []
    assert get_user(client, admin_headers, user["sub"])["sequence"] == user["sequence"]
    assert not [e for e in audit_rows(services, sub=user["sub"]) if e.type == "factor.add"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "totp"},
        {"type": "passkey"},
        {"type": "recovery_code"},
        {"type": "sms"},
        {},
        {"type": None},
        {"type": "otp_sms", "phone_number": PHONE},
        ["otp_sms"],
        "otp_sms",
    ],
)
def test_other_factor_types_are_400_and_enrol_nothing(client, services, admin_headers, ada, body):
    response = client.post(f"{API}/users/{ada['sub']}/factors", json=body, headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "request.invalid"
    assert services.factors.list(ada["sub"]) == []


def test_a_factor_body_that_is_not_json_is_400(client, services, admin_headers, ada):
    response = client.post(f"{API}/users/{ada['sub']}/factors", data="type=otp_sms", headers=admin_headers)
    assert response.status_code == 400
    assert services.factors.list(ada["sub"]) == []


def test_factors_of_an_unknown_user_are_404(client, admin_headers):
    url = f"{API}/users/no-such-sub/factors"
    for response in (
        client.get(url, headers=admin_headers),
        client.post(url, json={"type": "otp_sms"}, headers=admin_headers),
        client.delete(f"{url}/otp_sms", headers=admin_headers),
    ):
        assert response.status_code == 404
        assert response.mimetype == "application/json"


def test_a_persons_totp_is_listed_and_can_be_removed(client, services, admin_headers, ada):
    """TOTP is set up by the person (they scan the secret); an administrator sees and resets it."""
    services.factors.start_totp(ada["sub"], RequestContext(ip="127.0.0.1"))
    listed = client.get(f"{API}/users/{ada['sub']}/factors", headers=admin_headers).get_json()
    assert [(f["type"], f["state"]) for f in listed] == [("totp", "not_ready")]
    assert "secret" not in listed[0]
    assert client.delete(f"{API}/users/{ada['sub']}/factors/totp", headers=admin_headers).status_code == 204
    assert services.factors.list(ada["sub"]) == []


def test_factor_changes_need_the_admin_api_credentials(client, services, ada):
    url = f"{API}/users/{ada['sub']}/factors"
    for response in (
        client.get(url),
        client.post(url, json={"type": "otp_sms"}),
        client.delete(f"{url}/otp_sms", headers={"Authorization": "Bearer nope"}),
    ):
        assert response.status_code == 401
    assert services.factors.list(ada["sub"]) == []


# -- the temporary lock --------------------------------------------------------------------------


@pytest.fixture
def cloudbase_app(services):
    applications.create(
        services, client_id="cb-app", client_secret="cb-app-secret", name="CloudBase", scopes=["openid"]
    )


def signin(client, password: str) -> int:
    return client.post("/auth/v1/signin", json={"username": "ada", "password": password}, headers=CB).status_code


def lock_out(client) -> None:
    for _ in range(LOCK["login_lock_after"]):
        assert signin(client, WRONG) != 200
    assert signin(client, PASSWORD) != 200  # locked: even the right password is refused


@pytest.mark.limits(**LOCK)
def test_locked_until_says_when_a_temporary_lock_ends(client, services, admin_headers, ada, cloudbase_app):
    assert get_user(client, admin_headers, ada["sub"])["locked_until"] is None
    lock_out(client)
    start = services.clock.now()
    locked_until = get_user(client, admin_headers, ada["sub"])["locked_until"]
    end = datetime.fromisoformat(locked_until)
    assert end.utcoffset() == timedelta(0)
    lock = timedelta(seconds=LOCK["login_lock_seconds"])
    assert start + lock - timedelta(seconds=3) <= end <= services.clock.now() + lock

    unlocked = client.post(f"{API}/users/{ada['sub']}/unlock", headers=admin_headers)
    assert unlocked.get_json() == {"sub": ada["sub"], "was_locked": True}
    assert get_user(client, admin_headers, ada["sub"])["locked_until"] is None
    assert signin(client, PASSWORD) == 200


@pytest.mark.limits(**LOCK)
def test_status_active_lifts_a_temporary_lock(client, services, admin_headers, ada, cloudbase_app):
    """One call makes the account usable again (the rule lives in ``UserService.update``)."""
    lock_out(client)
    assert get_user(client, admin_headers, ada["sub"])["locked_until"] is not None
    patched = client.patch(f"{API}/users/{ada['sub']}", json={"status": "active"}, headers=admin_headers)
    assert patched.status_code == 200
    assert get_user(client, admin_headers, ada["sub"])["locked_until"] is None
    assert signin(client, PASSWORD) == 200
    [update] = [e for e in audit_rows(services, sub=ada["sub"]) if e.type == "admin.user.update"]
    assert update.actor == "admin_token"


def test_a_redis_outage_is_503_in_the_admin_shape(own_redis, client, admin_headers):
    user = new_user(client, admin_headers, username="ada")
    own_redis.stop()
    response = client.get(f"{API}/users/{user['sub']}", headers=admin_headers)
    assert response.status_code == 503
    assert response.get_json()["error"] == "store.unavailable"


# -- the standard profile claims -----------------------------------------------------------------


def test_profile_claims_are_stored_and_rendered(client, services, admin_headers):
    created = new_user(client, admin_headers, username="ada", **CLAIMS)
    assert {k: created[k] for k in CLAIMS} == CLAIMS
    stored = services.users.by_sub(created["sub"])
    assert {k: getattr(stored, k) for k in CLAIMS} == CLAIMS

    patched = client.patch(
        f"{API}/users/{created['sub']}", json={"nickname": "countess", "website": None}, headers=admin_headers
    )
    assert patched.status_code == 200, patched.get_json()
    fetched = get_user(client, admin_headers, created["sub"])
    assert {k: fetched[k] for k in CLAIMS} == {**CLAIMS, "nickname": "countess", "website": None}
    assert (
        client.get(f"{API}/users", query_string={"username": "ada"}, headers=admin_headers).get_json()[0]["nickname"]
        == "countess"
    )


def test_profile_claims_are_null_until_set(client, admin_headers):
    created = new_user(client, admin_headers, username="bob")
    assert {k: created[k] for k in CLAIMS} == dict.fromkeys(CLAIMS)


@pytest.mark.parametrize(
    "claims",
    [
        {"given_name": 5},
        {"birthdate": ["1815-12-10"]},
        {"zoneinfo": {"tz": "Europe/London"}},  # not strings
        {"website": "ftp://ada.example"},
        {"birthdate": "1815-02-30"},
        {"zoneinfo": "Mars/Olympus_Mons"},
    ],
)
def test_a_bad_profile_claim_is_400_and_changes_nothing(client, services, admin_headers, claims):
    response = client.post(f"{API}/users", json={"username": "ada", **claims}, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    assert services.users.search() == []
    existing = new_user(client, admin_headers, username="bob")
    patched = client.patch(f"{API}/users/{existing['sub']}", json=claims, headers=admin_headers)
    assert patched.status_code == 400, patched.get_json()
    assert get_user(client, admin_headers, existing["sub"])["sequence"] == existing["sequence"]
