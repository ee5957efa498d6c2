"""One brute-force policy for every way in: the same attack — wrong passwords for one identifier
— through CloudBase ``/auth/v1/signin``, OneAccess ``/api/v2/sdk/login`` and the hosted
``/login`` page meets the same thresholds, the same captcha, the same lock (for every IP, not
extended by attempts during it) and the same unlock after the lock time; a CIAM OTP grant
reaches the same lock with wrong codes; an admin can unlock; two app instances share the
counters; and an unknown identifier is answered exactly like a wrong password.

Real Redis, real database, real captchas (their answer fixed by ``captcha_answers``); the lock
ends on the services' clock, which the tests move past it.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.models import AuditEvent
from tests.conftest import basic
from tests.factories import applications, auth_sources, users
from tests.helpers import TENANT, send_sms, sms_login, without_passkey_challenge
from tests.web.conftest import csrf_token

CTX = RequestContext(ip="127.0.0.1")
CB_ID, CB_SECRET = "bf-cloudbase", "bf-cloudbase-secret"
OA_ID = "bf-oneaccess"
PASSWORD, WRONG = "correct horse battery", "wrong password!"
PHONE = "+8613612345678"
ANSWER = "K7HM3"
OTHER_IP = {"REMOTE_ADDR": "198.51.100.9"}
# small numbers, so the whole attack fits in a test: captcha after 3 failures from one IP,
# lock after 6, for 30 seconds (less than an SMS code lives)
POLICY = {
    "login_captcha_after": 3,
    "login_captcha_after_identifier": 5,
    "login_captcha_after_ip": 50,
    "login_lock_after": 6,
    "login_lock_seconds": 30,
    "login_failure_window": 120,
}
NO_CAPTCHA = {**POLICY, "login_captcha_after": 0, "login_captcha_after_identifier": 0, "login_captcha_after_ip": 0}
OA_HEADERS = {
    "X-operating-sys-version": "android14",
    "X-device-fingerprint": "bf-device",
    "X-agent": "tests",
    "X-client-id": OA_ID,
    "X-L": "en",
}
CHALLENGE = re.compile(r'name="captcha_challenge"[^>]*value="([^"]+)"')


@pytest.fixture
def apps(services):
    base = {"auth_sources": auth_sources.both(services), "scopes": ["openid"], "redirect_uris": []}
    applications.create(services, client_id=CB_ID, client_secret=CB_SECRET, name="CloudBase app", **base)
    applications.create(services, "native", client_id=OA_ID, name="OneAccess app", **base)
    return services


@pytest.fixture
def user(apps):
    return users.create(
        apps, "zhangsan", with_password=PASSWORD, with_verified_phone=PHONE, with_verified_email="zhangsan@example.com"
    )


@pytest.fixture
def captcha_answers():
    """Every captcha drawn says ANSWER (the answer is stored only as an HMAC)."""
    return lambda: ANSWER


# -- one adapter per way in: attempt(...) -> "ok" | "invalid" | "captcha" | "locked" ---------
@dataclass
class Surface:
    name: str
    attempt: Callable[..., str]  # (client, identifier, password, *, solve=False, environ=None)
    body: Callable[..., tuple[int, object]]  # the raw answer, for the enumeration comparisons


def _cloudbase_captcha(client, headers, environ) -> str:
    challenge = client.post("/auth/v1/captcha/data", json={}, headers=headers, environ_base=environ or {})
    assert challenge.status_code == 200, challenge.get_json()
    solved = client.post(
        "/auth/v1/captcha/data/verify",
        json={"token": challenge.get_json()["token"], "key": ANSWER},
        headers=headers,
        environ_base=environ or {},
    )
    assert solved.status_code == 200, solved.get_json()
    return solved.get_json()["captcha_token"]


def cloudbase_call(client, identifier, password, *, solve=False, environ=None):
    headers = basic(CB_ID, CB_SECRET)
    extra = {"x-captcha-token": _cloudbase_captcha(client, headers, environ)} if solve else {}
    return client.post(
        "/auth/v1/signin",
        json={"username": identifier, "password": password},
        headers={**headers, **extra},
        environ_base=environ or {},
    )


def cloudbase_attempt(client, identifier, password, **kwargs) -> str:
    response = cloudbase_call(client, identifier, password, **kwargs)
    if response.status_code == 200:
        return "ok"
    return {"invalid_username_or_password": "invalid", "captcha_required": "captcha", "invalid_status": "locked"}[
        response.get_json()["error"]
    ]


def oneaccess_call(client, identifier, password, *, solve=False, environ=None):
    # a OneAccess app fetches and solves its captcha at the CloudBase endpoints (Basic "client_id:")
    extra = {"X-captcha-token": _cloudbase_captcha(client, basic(OA_ID), environ)} if solve else {}
    return client.post(
        "/api/v2/sdk/login",
        json={"user_name": identifier, "password": password},
        headers={**OA_HEADERS, **extra},
        environ_base=environ or {},
    )


def oneaccess_attempt(client, identifier, password, **kwargs) -> str:
    response = oneaccess_call(client, identifier, password, **kwargs)
    if response.status_code == 200:
        return "ok"
    body = response.get_json()
    assert body["status"] == "ACCESS_DENIED", body
    return {"SDK.LOGIN.1001": "invalid", "SDK.LOGIN.1003": "captcha", "SDK.LOGIN.1002": "locked"}[body["error_code"]]


def page_call(client, identifier, password, *, solve=False, environ=None):
    """GET /login (CSRF token; the captcha when the page shows one), then POST it."""
    environ = environ or {}
    page = client.get("/login", environ_base=environ)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data = {"csrf_token": csrf_token(html), "username": identifier, "password": password}
    challenge = CHALLENGE.search(html)
    if solve and challenge is None:  # the page did not offer one yet: ask for an image
        html = client.get("/login?captcha=new", environ_base=environ).get_data(as_text=True)
        challenge = CHALLENGE.search(html)
    if solve:
        assert challenge is not None, "the page shows no captcha"
        data.update(captcha_challenge=challenge.group(1), captcha=ANSWER)
    return client.post("/login", data=data, environ_base=environ)


def page_attempt(client, identifier, password, **kwargs) -> str:
    response = page_call(client, identifier, password, **kwargs)
    html = response.get_data(as_text=True)
    if response.status_code == 302:
        return "ok"
    if response.status_code == 403 and "Retry-After" in response.headers:
        assert "Too many failed attempts" in html
        return "locked"
    if response.status_code == 400 and CHALLENGE.search(html):
        return "captcha"
    assert response.status_code == 401, (response.status_code, html[:300])
    assert "The username or password is incorrect." in html
    return "invalid"


SURFACES = {
    "cloudbase": Surface("cloudbase", cloudbase_attempt, cloudbase_call),
    "oneaccess": Surface("oneaccess", oneaccess_attempt, oneaccess_call),
    "page": Surface("page", page_attempt, page_call),
}


def lock_ttl(services, sub: str) -> int:
    return services.bruteforce.locked_for(sub, sub=sub)


# -- the same attack through each way in ---------------------------------------------------
@pytest.mark.limits(**POLICY)
@pytest.mark.parametrize("who", ["known", "unknown"])
@pytest.mark.parametrize("surface", list(SURFACES))
def test_the_same_attack_meets_the_same_policy_everywhere(app, services, user, clock, surface, who):
    way_in = SURFACES[surface]
    identifier = "zhangsan" if who == "known" else "nobody-here"

    def attempt(password=WRONG, **kwargs):
        return way_in.attempt(client, identifier, password, **kwargs)

    client = app.test_client()
    outcomes = [attempt() for _ in range(3)]  # failures 1-3
    outcomes.append(attempt())  # a captcha is due now: no password is checked without one
    outcomes.append(attempt(solve=True))  # failure 4, with a solved captcha
    outcomes.append(attempt(solve=True))  # failure 5
    outcomes.append(attempt(solve=True))  # failure 6: the lock starts
    outcomes.append(attempt(solve=True))  # locked
    # (the page announces the lock together with the 6th failure; that answer is "locked" there)
    sixth = "locked" if surface == "page" else "invalid"
    assert outcomes == ["invalid"] * 3 + ["captcha"] + ["invalid"] * 2 + [sixth, "locked"]

    # the lock holds for the right password too, and from any IP
    assert attempt(PASSWORD) == "locked"
    assert way_in.attempt(app.test_client(), identifier, PASSWORD, environ=OTHER_IP) == "locked"

    # attempts during the lock never extend it
    sub = user.sub if who == "known" else None
    subject = {"sub": sub} if sub else {}
    first = services.bruteforce.locked_for(identifier, **subject)
    assert 0 < first <= POLICY["login_lock_seconds"]
    for _ in range(3):
        attempt()
    assert services.bruteforce.locked_for(identifier, **subject) <= first

    clock.advance(POLICY["login_lock_seconds"])  # the lock ends by itself
    if who == "known":
        # the per-identifier count restarted: another IP signs in straight away...
        assert way_in.attempt(app.test_client(), identifier, PASSWORD, environ=OTHER_IP) == "ok"
        # ...and the attacking IP still owes a captcha, then gets in with the right password
        assert attempt(PASSWORD) == "captcha"
        assert attempt(PASSWORD, solve=True) == "ok"
    else:
        assert way_in.attempt(app.test_client(), identifier, WRONG, environ=OTHER_IP) == "invalid"


@pytest.mark.limits(**POLICY)
def test_the_ways_in_share_one_count(app, services, user):
    """Failures on one face count on the others: the lock is the account's."""
    client = app.test_client()
    sequence = ["cloudbase", "oneaccess", "page", "cloudbase", "oneaccess", "page"]
    outcomes = [SURFACES[name].attempt(client, "zhangsan", WRONG, solve=i >= 3) for i, name in enumerate(sequence)]
    assert outcomes == ["invalid"] * 5 + ["locked"]  # the 6th (on the page) announces the lock
    assert [SURFACES[name].attempt(client, "zhangsan", PASSWORD) for name in SURFACES] == ["locked"] * 3
    events = services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == "login.locked")).all()
    assert [e.sub for e in events] == [user.sub]


@pytest.mark.limits(**POLICY)
def test_username_email_and_phone_share_the_account_count(app, services, user):
    client = app.test_client()
    for identifier in ("zhangsan", "ZhangSan@Example.com", "13612345678"):
        assert cloudbase_attempt(client, identifier, WRONG) == "invalid"
    # three failures under three spellings of one account: a captcha is due under any of them
    assert cloudbase_attempt(client, "zhangsan", PASSWORD) == "captcha"
    assert services.bruteforce.captcha_due("+86 136 1234 5678", CTX)


# -- CIAM OTP grant: wrong codes reach the same lock ---------------------------------------
@pytest.mark.limits(**POLICY, target_interval=0)
def test_ciam_wrong_codes_reach_the_same_lock(client, seeded, services, outbox, clock):
    user = users.create(services, "ciam-user", with_password=PASSWORD, with_verified_phone=PHONE)
    answers = []
    for budget in (5, 1):  # a token dies after 5 wrong codes; the 6th failure is on a new one
        token = send_sms(client).get_json()["otp_token"]
        wrong = str((int(outbox.last_code()) + 1) % 1_000_000).zfill(6)
        answers += [sms_login(client, token, wrong).get_json()["error_description"] for _ in range(budget)]
    # no captcha on this face (it cannot carry one); the 6th failure starts the lock
    assert answers == ["Unknown or expired OTP"] * 6
    token = send_sms(client).get_json()["otp_token"]  # the live code again
    locked = sms_login(client, token, outbox.last_code())  # the right code, during the lock
    assert locked.status_code == 400
    assert locked.get_json() == {"error": "invalid_grant", "error_description": "Abnormal user status"}
    # the lock is the account's: the password faces answer it too
    cb = client.post("/auth/v1/signin", json={"username": "ciam-user", "password": PASSWORD}, headers=TENANT)
    assert cb.get_json()["error"] == "invalid_status"
    assert lock_ttl(services, user.sub) > 0
    clock.advance(POLICY["login_lock_seconds"])
    assert sms_login(client, token, outbox.last_code()).status_code == 200  # the code was never spent


# -- OneAccess MFA codes are failures too --------------------------------------------------
@pytest.mark.limits(**NO_CAPTCHA, target_interval=0)
def test_oneaccess_mfa_codes_count_under_the_user(client, services, outbox):
    applications.create(
        services,
        "native",
        client_id=OA_ID,
        name="mfa app",
        redirect_uris=[],
        auth_sources=[auth_sources.create(services, "sms")],
        scopes=["openid"],
        login_methods=["password", "sms_otp"],
        mfa="required",
    )
    user = users.create(services, "louxi", with_password=PASSWORD, with_verified_phone=PHONE)
    denied = []
    for budget in (5, 1):  # the 5th wrong code kills the state token: sign in again for the 6th
        state = client.post(
            "/api/v2/sdk/login", json={"user_name": "louxi", "password": PASSWORD}, headers=OA_HEADERS
        ).get_json()["state_token"]
        client.post(
            "/api/v2/sdk/sms/send",
            json={"mobile": "13612345678", "type": "MFA_AUTH_SMS"},
            headers={**OA_HEADERS, "X-state-token": state},
        )
        wrong = str((int(outbox.last_code()) + 1) % 1_000_000).zfill(6)
        for _ in range(budget):
            response = client.post(
                "/api/v2/sdk/mfa/sms",
                json={"mobile": "13612345678", "verify_code": wrong},
                headers={**OA_HEADERS, "X-state-token": state},
            )
            denied.append(response.get_json()["error_code"])
    assert denied == ["SDK.MFA.1002"] * 6
    assert lock_ttl(services, user.sub) > 0
    again = client.post("/api/v2/sdk/login", json={"user_name": "louxi", "password": PASSWORD}, headers=OA_HEADERS)
    assert again.get_json()["error_code"] == "SDK.LOGIN.1002"


# -- admin unlock --------------------------------------------------------------------------
@pytest.mark.limits(**{**NO_CAPTCHA, "login_lock_seconds": 600})
def test_admin_unlock(app, services, user, admin_headers):
    client = app.test_client()
    for _ in range(6):
        cloudbase_call(client, "zhangsan", WRONG)
    assert cloudbase_attempt(client, "zhangsan", PASSWORD) == "locked"
    response = client.post(f"/admin/api/v1/users/{user.sub}/unlock", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json() == {"sub": user.sub, "was_locked": True}
    assert cloudbase_attempt(client, "zhangsan", PASSWORD) == "ok"
    again = client.post(f"/admin/api/v1/users/{user.sub}/unlock", headers=admin_headers)
    assert again.get_json() == {"sub": user.sub, "was_locked": False}
    assert client.post("/admin/api/v1/users/nobody/unlock", headers=admin_headers).status_code == 404
    types = [e.type for e in services.db.session.scalars(select(AuditEvent).where(AuditEvent.sub == user.sub))]
    assert {"login.locked", "login.unlocked", "admin.user.unlock"} <= set(types)


@pytest.mark.limits(**{**NO_CAPTCHA, "login_lock_seconds": 600})
def test_patch_status_active_also_lifts_a_temporary_lock(app, services, user, admin_headers):
    client = app.test_client()
    for _ in range(6):
        cloudbase_call(client, "zhangsan", WRONG)
    assert cloudbase_attempt(client, "zhangsan", PASSWORD) == "locked"
    patched = client.patch(f"/admin/api/v1/users/{user.sub}", json={"status": "active"}, headers=admin_headers)
    assert patched.status_code == 200
    assert cloudbase_attempt(client, "zhangsan", PASSWORD) == "ok"


def test_an_admin_lock_is_permanent_and_distinct(client, services, user):
    services.users.update(user.sub, {"status": "locked"}, CTX)
    response = cloudbase_call(client, "zhangsan", PASSWORD)
    assert response.get_json()["error"] == "invalid_status"
    assert lock_ttl(services, user.sub) == 0  # not a temporary lock: nothing expires it


# -- two app instances share the counters ----------------------------------------------------
@pytest.mark.limits(**POLICY)
def test_counters_hold_across_app_instances(app, services, user, settings_overrides):
    from app import create_app

    second = create_app(settings_overrides)  # same Redis, same database
    try:
        clients = [app.test_client(), second.test_client()]
        ips = [{"REMOTE_ADDR": f"192.0.2.{i}"} for i in range(6)]  # no captcha per IP: per identifier only
        outcomes = [cloudbase_attempt(clients[i % 2], "zhangsan", WRONG, environ=ips[i]) for i in range(5)]
        assert outcomes == ["invalid"] * 5
        # five failures across two instances: the per-identifier captcha is due on both
        assert cloudbase_attempt(clients[1], "zhangsan", WRONG, environ=ips[5]) == "captcha"
        assert cloudbase_attempt(clients[0], "zhangsan", WRONG, environ=ips[5]) == "captcha"
    finally:
        second.extensions["gatehouse"].db.remove()
        second.extensions["gatehouse"].db.engine.dispose()


# -- no enumeration --------------------------------------------------------------------------
_VOLATILE = re.compile(r'(name="csrf_token" type="hidden" value=")[^"]+|(value=")(zhangsan|nobody-here)"')


def _comparable(surface: str, response) -> tuple[int, object]:
    if surface == "page":
        return response.status_code, without_passkey_challenge(_VOLATILE.sub(r"\1\2", response.get_data(as_text=True)))
    return response.status_code, response.get_json()


@pytest.mark.parametrize("surface", list(SURFACES))
def test_unknown_user_and_wrong_password_answer_alike(app, user, surface):
    way_in = SURFACES[surface]
    wrong = _comparable(surface, way_in.body(app.test_client(), "zhangsan", WRONG))
    unknown = _comparable(surface, way_in.body(app.test_client(), "nobody-here", WRONG))
    assert wrong == unknown
    assert wrong[0] in (400, 401)


@pytest.mark.limits(
    login_captcha_after=1000, login_captcha_after_identifier=1000, login_captcha_after_ip=1000, login_lock_after=1000
)
@pytest.mark.parametrize("surface", list(SURFACES))
def test_unknown_user_and_wrong_password_take_similar_time(app, user, surface):
    way_in = SURFACES[surface]
    client = app.test_client()

    def timed(identifier: str) -> float:
        start = time.perf_counter()
        way_in.body(client, identifier, WRONG)
        return time.perf_counter() - start

    timed("zhangsan"), timed("nobody-here")  # warm up both paths
    known, unknown = [], []
    for _ in range(20):  # interleaved, so drift hits both alike
        known.append(timed("zhangsan"))
        unknown.append(timed("nobody-here"))
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 1 / 2 < ratio < 2, (statistics.median(known), statistics.median(unknown))


# -- captcha images are rate limited per IP --------------------------------------------------
@pytest.mark.limits(captcha_ip_per_minute=3)
def test_captcha_images_per_ip_are_limited(client, apps):
    headers = basic(CB_ID, CB_SECRET)
    assert [client.post("/auth/v1/captcha/data", json={}, headers=headers).status_code for _ in range(3)] == [200] * 3
    refused = client.post("/auth/v1/captcha/data", json={}, headers=headers)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "resource_exhausted"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = client.post("/auth/v1/captcha/data", json={}, headers=headers, environ_base=OTHER_IP)
    assert other.status_code == 200
