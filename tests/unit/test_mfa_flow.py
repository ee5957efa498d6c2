"""MfaFlow: policy, state tokens, the second factor, remembered devices."""

from __future__ import annotations

import threading
import time

import pyotp
import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.errors import IdpError, Kind
from idp.flows.login import Completed
from idp.flows.mfa import NeedsFactor
from idp.models import AuditEvent
from idp.store import Keys
from tests.factories import applications, auth_sources, users

PHONE = "+8613612345678"
EMAIL = "alice@example.com"


def ctx(device: str | None = None) -> RequestContext:
    return RequestContext(ip="127.0.0.1", user_agent="pytest", device=device)


CTX = ctx()


@pytest.fixture
def make_app(services):
    sources = auth_sources.both(services)

    def make(client_id="APP", **extra):
        return applications.create(
            services, client_id=client_id, **{"mfa": "optional", "auth_sources": sources, **extra}
        )

    return make


@pytest.fixture
def app_(make_app):
    return make_app()


@pytest.fixture
def alice(services):
    return users.create(
        services, "alice", with_password="alice password", with_verified_phone=PHONE, with_verified_email=EMAIL
    )


@pytest.fixture
def with_sms(services, alice):
    services.factors.add_otp(alice.sub, "sms", CTX)
    return alice


def first(user, amr=("pwd",)) -> Completed:
    return Completed(user, list(amr), int(time.time()))


def challenge(services, client, user, context=CTX, **kwargs) -> NeedsFactor:
    result = services.mfa.after_first_factor(client, context, first(user), **kwargs)
    assert isinstance(result, NeedsFactor), result
    return result


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


# -- policy ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "enrolled", "needs"),
    [
        ("off", False, False),
        ("off", True, False),
        ("optional", False, False),
        ("optional", True, True),
        ("required", False, True),
        ("required", True, True),
    ],
)
def test_policy_matrix(services, make_app, alice, policy, enrolled, needs):
    client = make_app(mfa=policy)
    if enrolled:
        services.factors.add_otp(alice.sub, "sms", CTX)
    result = services.mfa.after_first_factor(client, CTX, first(alice))
    if not needs:
        assert isinstance(result, Completed) and result.amr == ["pwd"]
        return
    assert isinstance(result, NeedsFactor)
    # required with nothing enrolled: the verified phone serves (OneAccess mfa_types ["SMS"])
    assert result.factors == ["otp_sms"] and not result.enrol
    assert result.masked_phone == "+86 136****5678" and result.masked_email is None
    assert len(result.state_token) >= 22 and 0 < result.expires_in <= 300
    assert events(services, "mfa.challenge")[0].sub == alice.sub


def test_required_without_anything_usable_asks_to_enrol(services, make_app):
    user = users.create(services, "carol", with_password="carol password", phone_number="+8613600000000")
    result = services.mfa.after_first_factor(make_app(mfa="required"), CTX, first(user))
    assert isinstance(result, NeedsFactor) and result.enrol and result.factors == []


def test_factors_listed_with_recovery_codes(services, app_, with_sms):
    services.factors.add_otp(with_sms.sub, "email", CTX)
    services.factors.new_recovery_codes(with_sms.sub, CTX)
    result = challenge(services, app_, with_sms)
    assert result.factors == ["otp_sms", "otp_email", "recovery_code"]
    assert result.masked_email == "a***@example.com"


# -- the whole step, SMS ----------------------------------------------------------------------
def test_sms_second_factor(services, app_, with_sms, outbox, clock):
    needs = challenge(services, app_, with_sms)
    sent = services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    assert sent.target == PHONE
    assert services.mfa.peek(app_, CTX, needs.state_token).otp_token == sent.otp_token
    clock.advance(20)
    done = services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE))
    assert done.user.sub == with_sms.sub
    assert done.amr == ["pwd", "sms", "mfa"]
    assert done.auth_time == int(clock.time())  # the sign-in completes now, with the second factor
    assert [e.details["factor"] for e in events(services, "mfa.success")] == ["otp_sms"]
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):  # single use
        services.mfa.peek(app_, CTX, needs.state_token)


def test_send_code_only_to_the_users_own_number(services, app_, with_sms, outbox):
    needs = challenge(services, app_, with_sms)
    with pytest.raises(IdpError) as caught:
        services.mfa.send_code(app_, CTX, needs.state_token, "sms", target="+8613699999999")
    assert (caught.value.code, caught.value.kind) == ("mfa.target_mismatch", Kind.INVALID_INPUT)
    with pytest.raises(IdpError, match=r"mfa\.target_mismatch"):
        services.mfa.send_code(app_, CTX, needs.state_token, "sms", target="not a number")
    assert outbox.records() == []
    services.mfa.send_code(app_, CTX, needs.state_token, "sms", target="136 1234 5678")  # normalised
    assert outbox.records()[0]["to"] == PHONE and outbox.records()[0]["usage"] == "mfa"
    with pytest.raises(IdpError, match=r"mfa\.target_mismatch"):
        services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE), target="+8613699999999")
    done = services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE), target=PHONE)
    assert "mfa" in done.amr


def test_send_code_for_a_factor_not_offered(services, app_, with_sms):
    needs = challenge(services, app_, with_sms)
    with pytest.raises(IdpError) as caught:
        services.mfa.send_code(app_, CTX, needs.state_token, "email")
    assert (caught.value.code, caught.value.kind) == ("mfa.factor_not_allowed", Kind.FAILED_PRECONDITION)
    with pytest.raises(IdpError, match=r"mfa\.invalid_channel"):
        services.mfa.send_code(app_, CTX, needs.state_token, "fax")


def test_mfa_code_is_not_a_login_code(services, app_, with_sms, outbox):
    needs = challenge(services, app_, with_sms)
    sent = services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    with pytest.raises(IdpError, match=r"otp\.mismatch"):
        services.login.verify_code(app_, CTX, "sms", PHONE, sent.otp_token, outbox.last_code(PHONE))


def test_send_code_falls_back_to_the_default_code_policy(services, make_app, with_sms, outbox):
    client = make_app("BARE", auth_sources=[])
    needs = challenge(services, client, with_sms)
    services.mfa.send_code(client, CTX, needs.state_token, "sms")
    assert len(outbox.last_code(PHONE)) == 6
    assert "mfa" in services.mfa.verify(client, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE)).amr


def test_verify_sms_without_a_sent_code(services, app_, with_sms):
    needs = challenge(services, app_, with_sms)
    with pytest.raises(IdpError, match=r"otp\.unknown_token"):
        services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", "123456")
    assert services.mfa.peek(app_, CTX, needs.state_token).failures == 1


def test_email_second_factor_amr(services, app_, alice, outbox):
    services.factors.add_otp(alice.sub, "email", CTX)
    needs = challenge(services, app_, alice)
    services.mfa.send_code(app_, CTX, needs.state_token, "email")
    done = services.mfa.verify(app_, CTX, needs.state_token, "otp_email", outbox.last_code(EMAIL))
    assert done.amr == ["pwd", "otp", "email", "mfa"]


def test_sms_first_factor_amr_is_deduplicated(services, app_, with_sms, outbox):
    needs = services.mfa.after_first_factor(app_, CTX, first(with_sms, ["otp", "sms"]))
    services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    done = services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE))
    assert done.amr == ["otp", "sms", "mfa"]


# -- TOTP and recovery codes ------------------------------------------------------------------
def test_totp_second_factor_and_replay(services, app_, alice):
    totp = users.enrol_totp(services, alice)
    needs = challenge(services, app_, alice)
    assert needs.factors == ["totp"]
    code = totp.now()
    done = services.mfa.verify(app_, ctx(), needs.state_token, "totp", code)
    assert done.amr == ["pwd", "otp", "mfa"]
    again = challenge(services, app_, alice)
    with pytest.raises(IdpError) as caught:
        services.mfa.verify(app_, ctx(), again.state_token, "totp", code)
    assert (caught.value.code, caught.value.kind) == ("totp.wrong_code", Kind.WRONG_CODE)


def test_recovery_code_second_factor(services, app_, alice):
    users.enrol_totp(services, alice)
    codes = services.factors.new_recovery_codes(alice.sub, CTX)
    needs = challenge(services, app_, alice)
    assert needs.factors == ["totp", "recovery_code"]
    with pytest.raises(IdpError, match=r"recovery\.wrong_code"):
        services.mfa.verify(app_, CTX, needs.state_token, "recovery_code", "aaaaa-aaaaa")
    done = services.mfa.verify(app_, CTX, needs.state_token, "recovery_code", codes[0])
    assert done.amr == ["pwd", "otp", "mfa"]
    again = challenge(services, app_, alice)
    with pytest.raises(IdpError, match=r"recovery\.wrong_code"):
        services.mfa.verify(app_, CTX, again.state_token, "recovery_code", codes[0])


def test_factor_not_offered_is_refused(services, app_, with_sms):
    needs = challenge(services, app_, with_sms)
    with pytest.raises(IdpError, match=r"mfa\.factor_not_allowed"):
        services.mfa.verify(app_, CTX, needs.state_token, "totp", "123456")
    with pytest.raises(IdpError, match=r"mfa\.factor_not_allowed"):
        services.mfa.verify(app_, CTX, needs.state_token, "password", "123456")
    assert services.mfa.peek(app_, CTX, needs.state_token).failures == 0


def test_enrolment_during_login(services, make_app):
    client = make_app(mfa="required")
    user = users.create(services, "carol", with_password="carol password")
    needs = challenge(services, client, user)
    assert needs.enrol
    setup = services.mfa.start_enrolment(client, CTX, needs.state_token)
    with pytest.raises(IdpError, match=r"totp\.wrong_code"):
        services.mfa.confirm_enrolment(client, ctx(), needs.state_token, "abcdef")
    done = services.mfa.confirm_enrolment(client, ctx(), needs.state_token, pyotp.TOTP(setup.secret).now())
    assert done.amr == ["pwd", "otp", "mfa"]
    assert services.factors.ready_types(user.sub) == ["totp"]


def test_no_enrolment_for_a_user_with_a_factor(services, app_, with_sms):
    needs = challenge(services, app_, with_sms)
    with pytest.raises(IdpError, match=r"mfa\.factor_not_allowed"):
        services.mfa.start_enrolment(app_, CTX, needs.state_token)
    with pytest.raises(IdpError, match=r"mfa\.factor_not_allowed"):
        services.mfa.confirm_enrolment(app_, CTX, needs.state_token, "123456")


# -- state token ------------------------------------------------------------------------------
def test_state_token_bound_to_client(services, make_app, with_sms):
    app_a, app_b = make_app("A"), make_app("B")
    needs = challenge(services, app_a, with_sms)
    with pytest.raises(IdpError) as caught:
        services.mfa.peek(app_b, CTX, needs.state_token)
    assert (caught.value.code, caught.value.kind) == ("mfa.invalid_state_token", Kind.NOT_FOUND)
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):  # killed by the foreign use
        services.mfa.peek(app_a, CTX, needs.state_token)
    failure = events(services, "mfa.failure")[0]
    assert (failure.sub, failure.client_id, failure.details["reason"]) == (with_sms.sub, "B", "mfa.foreign_state_token")


@pytest.mark.parametrize("other", [None, "device-2"])
def test_state_token_bound_to_device(services, app_, with_sms, outbox, other):
    needs = challenge(services, app_, with_sms, context=ctx("device-1"))
    services.mfa.send_code(app_, ctx("device-1"), needs.state_token, "sms")
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.verify(app_, ctx(other), needs.state_token, "otp_sms", outbox.last_code(PHONE))
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.verify(app_, ctx("device-1"), needs.state_token, "otp_sms", outbox.last_code(PHONE))


def test_state_token_expires(services, app_, with_sms, clock):
    needs = challenge(services, app_, with_sms)
    assert needs.expires_in == services.mfa.state_ttl == 300
    clock.advance(299)
    services.mfa.peek(app_, CTX, needs.state_token)
    clock.advance(1)
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.peek(app_, CTX, needs.state_token)


def test_garbage_tokens(services, app_):
    for token in ("", "x" * 200, "nope"):
        with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
            services.mfa.peek(app_, CTX, token)


def test_rotate_spends_and_never_extends(services, app_, with_sms, outbox, clock):
    needs = challenge(services, app_, with_sms)
    services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    expires_at = services.mfa.peek(app_, CTX, needs.state_token).expires_at
    clock.advance(200)
    cleanup_left = services.redis.pttl(Keys.mfa_state(needs.state_token))
    fresh = services.mfa.rotate(app_, CTX, needs.state_token)
    assert fresh != needs.state_token
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.peek(app_, CTX, needs.state_token)
    state = services.mfa.peek(app_, CTX, fresh)
    assert state.sub == with_sms.sub and state.otp_token  # the sent code carries over
    assert state.expires_at == expires_at
    assert 0 < services.redis.pttl(Keys.mfa_state(fresh)) <= cleanup_left  # nor its Redis clean-up
    clock.advance(99)
    services.mfa.peek(app_, CTX, fresh)
    clock.advance(1)  # 300 s after the first factor, as the first token would have
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.peek(app_, CTX, fresh)


def test_rotate_with_foreign_client(services, make_app, with_sms):
    app_a, app_b = make_app("A"), make_app("B")
    needs = challenge(services, app_a, with_sms)
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.rotate(app_b, CTX, needs.state_token)


def test_wrong_codes_keep_the_token_until_five(services, app_, alice):
    totp = users.enrol_totp(services, alice)
    needs = challenge(services, app_, alice)
    wrong = "000000" if totp.now() != "000000" else "111111"
    for attempt in range(1, 5):
        with pytest.raises(IdpError, match=r"totp\.wrong_code"):
            services.mfa.verify(app_, ctx(), needs.state_token, "totp", wrong)
        assert services.mfa.peek(app_, CTX, needs.state_token).failures == attempt
    with pytest.raises(IdpError, match=r"totp\.wrong_code"):
        services.mfa.verify(app_, ctx(), needs.state_token, "totp", wrong)
    with pytest.raises(IdpError, match=r"mfa\.invalid_state_token"):
        services.mfa.verify(app_, ctx(), needs.state_token, "totp", totp.now())
    assert len(events(services, "mfa.failure")) == 5


def test_wrong_sms_code_then_right_one(services, app_, with_sms, outbox):
    needs = challenge(services, app_, with_sms)
    services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    code = outbox.last_code(PHONE)
    with pytest.raises(IdpError, match=r"otp\.wrong_code"):
        services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", "0" * 6 if code != "0" * 6 else "1" * 6)
    assert "mfa" in services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", code).amr


def test_concurrent_verifies_exactly_one_wins(services, app_, with_sms, outbox):
    needs = challenge(services, app_, with_sms)
    services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    code = outbox.last_code(PHONE)
    barrier = threading.Barrier(8)
    results: list = []

    def attempt():
        barrier.wait()
        try:
            results.append(services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", code))
        except IdpError as exc:
            results.append(exc.code)
        finally:
            services.db.remove()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wins = [r for r in results if isinstance(r, Completed)]
    assert len(wins) == 1, results
    assert {r for r in results if not isinstance(r, Completed)} <= {"mfa.invalid_state_token", "otp.unknown_token"}


def test_locked_user_cannot_finish(services, app_, with_sms, outbox):
    needs = challenge(services, app_, with_sms)
    services.mfa.send_code(app_, CTX, needs.state_token, "sms")
    services.users.update(with_sms.sub, {"status": "locked"}, CTX)
    with pytest.raises(IdpError, match=r"account\.abnormal_status"):
        services.mfa.verify(app_, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE))


# -- remembered devices -----------------------------------------------------------------------
def test_remembered_device_skips_only_the_second_factor(services, make_app, with_sms, outbox):
    client = make_app(remember_device_days=30)
    needs = challenge(services, client, with_sms)
    services.mfa.send_code(client, CTX, needs.state_token, "sms")
    done = services.mfa.verify(client, CTX, needs.state_token, "otp_sms", outbox.last_code(PHONE))
    raw = services.mfa.remember_device(client, CTX, done)
    assert raw
    result = services.mfa.after_first_factor(client, CTX, first(with_sms), remembered_device=raw)
    assert isinstance(result, Completed) and result.amr == ["pwd"]  # no "mfa": it was skipped
    assert events(services, "mfa.skipped")[0].details["reason"] == "remembered_device"
    # revoking brings MFA back
    device = services.devices.list(with_sms.sub)[0]
    services.devices.revoke(with_sms.sub, device.id, CTX)
    challenge(services, client, with_sms, remembered_device=raw)


def test_remembered_device_needs_the_application_to_allow_it(services, make_app, with_sms):
    raw = services.devices.remember(with_sms.sub, CTX)
    client = make_app()  # remember_device_days 0
    assert client.remember_device_days == 0
    challenge(services, client, with_sms, remembered_device=raw)
    assert (
        services.mfa.remember_device(client, CTX, Completed(with_sms, ["pwd", "sms", "mfa"], int(time.time()))) is None
    )


def test_remembered_device_of_another_user(services, make_app, with_sms):
    other = users.create(services, "bob", with_password="bob password")
    raw = services.devices.remember(other.sub, CTX)
    challenge(services, make_app(remember_device_days=7), with_sms, remembered_device=raw)


def test_invalid_remember_days(services, make_app):
    with pytest.raises(IdpError, match=r"client\.invalid_remember_device_days"):
        make_app(remember_device_days=-1)


# -- outage -----------------------------------------------------------------------------------
def test_redis_outage_is_store_unavailable(own_redis, services, app_, with_sms):
    needs = challenge(services, app_, with_sms)
    own_redis.stop()  # a real outage: the server is gone
    flow = services.mfa
    calls = [
        lambda: flow.after_first_factor(app_, CTX, first(with_sms)),
        lambda: flow.peek(app_, CTX, needs.state_token),
        lambda: flow.send_code(app_, CTX, needs.state_token, "sms"),
        lambda: flow.verify(app_, CTX, needs.state_token, "otp_sms", "123456"),
        lambda: flow.rotate(app_, CTX, needs.state_token),
    ]
    for call in calls:
        with pytest.raises(IdpError) as caught:
            call()
        assert (caught.value.code, caught.value.kind) == ("store.unavailable", Kind.UNAVAILABLE)
