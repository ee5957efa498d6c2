"""One sign-up (``SignUpFlow``) for Tencent CIAM ``POST /signup``, CloudBase
``/auth/v1/signup``, the hosted sign-up page and auto sign-up: it returns the login flow's
``Completed`` (the hosted page no longer builds one), and sign-up codes go only to free
contacts, a rule the sign-up flow decides (the OTP service knows nothing of accounts)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from idp.accounts.proofs import ContactCode
from idp.context import RequestContext
from idp.errors import IdpError
from idp.models import User
from tests.clock import ManualClock
from tests.factories import users
from tests.helpers import redis_calls

CTX = RequestContext(ip="127.0.0.1")
PHONE = "+8613712345678"


@pytest.fixture
def clock():
    """Well behind the wall clock: a sign-in stamped with the system time stands out."""
    return ManualClock(time.time() - 1000)


@pytest.fixture
def tenant(seeded):
    return seeded.clients.by_client_id("TENANT_CLIENT_ID")


def test_sign_up_completes_a_sign_in_on_the_flows_clock(services, tenant, outbox, clock):
    sent = services.signup.send_code(tenant, CTX, "sms", "13712345678", None)
    done = services.signup.sign_up(
        tenant, CTX, ContactCode("sms", "13712345678", sent.otp_token, outbox.last_code()), profile={"name": "New"}
    )
    assert (done.user.phone_number, done.user.phone_verified, done.user.name) == (PHONE, True, "New")
    assert (done.amr, done.auth_time) == (["otp", "sms"], int(clock.time()))
    password_only = services.signup.sign_up(tenant, CTX, username="newbie", password="a long password")
    assert password_only.amr == ["pwd"]


def test_sign_up_codes_go_only_to_free_contacts(services, tenant, outbox):
    users.create(services, None, with_password=False, phone_number=PHONE)
    with pytest.raises(IdpError) as caught:
        services.signup.send_code(tenant, CTX, "sms", "13712345678", None)
    assert caught.value.code == "account.phone_taken"
    with pytest.raises(IdpError) as caught:  # an unknown auth source is said before the contact's fate
        services.signup.send_code(tenant, CTX, "sms", "13712345678", "NO_SUCH_SOURCE")
    assert caught.value.code == "otp.invalid_auth_source"
    assert outbox.records() == []


def test_concurrent_sign_ups_with_one_code_create_one_user(services, tenant, outbox):
    sent = services.signup.send_code(tenant, CTX, "sms", "13712345678", None)
    code = ContactCode("sms", "13712345678", sent.otp_token, outbox.last_code())

    def sign_up(i: int):
        try:
            return services.signup.sign_up(tenant, CTX, code, username=f"person{i}").user.username
        except IdpError as exc:
            return exc.code
        finally:
            services.db.remove()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(sign_up, range(6)))
    winners = [r for r in results if r.startswith("person")]
    assert len(winners) == 1, results
    assert set(results) - set(winners) <= {"otp.unknown_token", "account.phone_taken"}
    assert services.db.session.scalar(select(func.count()).select_from(User)) == 1


def script_runs(services) -> int:
    """Lua scripts run (the code check is one: EVALSHA, or EVAL when Redis had not cached it)."""
    return redis_calls(services, "evalsha") + redis_calls(services, "eval")


def test_a_sign_up_checks_its_code_once_when_it_spends_it(services, tenant, outbox):
    sent = services.signup.send_code(tenant, CTX, "sms", "13712345678", None)
    code = ContactCode("sms", "13712345678", sent.otp_token, outbox.last_code())
    before = script_runs(services)
    services.signup.sign_up(tenant, CTX, code)
    assert script_runs(services) == before + 1


def test_a_wrong_code_signs_nobody_up_and_leaves_the_right_one_usable(services, tenant, outbox):
    sent = services.signup.send_code(tenant, CTX, "sms", "13712345678", None)
    right = outbox.last_code()
    wrong = "0" * len(right) if right != "0" * len(right) else "1" * len(right)
    with pytest.raises(IdpError) as caught:
        services.signup.sign_up(tenant, CTX, ContactCode("sms", "13712345678", sent.otp_token, wrong))
    assert caught.value.code == "otp.wrong_code"
    assert services.db.session.scalar(select(func.count()).select_from(User)) == 0
    done = services.signup.sign_up(tenant, CTX, ContactCode("sms", "13712345678", sent.otp_token, right))
    assert done.user.phone_number == PHONE


def test_only_a_right_code_learns_that_its_contact_was_taken_meanwhile(services, tenant, outbox):
    sent = services.signup.send_code(tenant, CTX, "sms", "13712345678", None)
    right = outbox.last_code()
    wrong = "0" * len(right) if right != "0" * len(right) else "1" * len(right)
    users.create(services, None, with_password=False, phone_number=PHONE)  # someone else got there first
    with pytest.raises(IdpError) as caught:
        services.signup.sign_up(tenant, CTX, ContactCode("sms", "13712345678", sent.otp_token, wrong))
    assert caught.value.code == "otp.wrong_code"
    for _ in range(2):  # the right code is told, and not spent by being told
        with pytest.raises(IdpError) as caught:
            services.signup.sign_up(tenant, CTX, ContactCode("sms", "13712345678", sent.otp_token, right))
        assert caught.value.code == "account.phone_taken"
    assert services.db.session.scalar(select(func.count()).select_from(User)) == 1
