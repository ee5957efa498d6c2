"""FactorService: SMS/email OTP factors, TOTP (RFC 6238), recovery codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.errors import IdpError, Kind
from idp.factors import recovery
from idp.models import AuditEvent, Factor, RecoveryCode
from tests.factories import users

CTX = RequestContext(ip="127.0.0.1", user_agent="pytest")
PHONE = "+8613612345678"


@pytest.fixture
def alice(services):
    return users.create(
        services,
        "alice",
        with_password="alice password",
        with_verified_phone=PHONE,
        with_verified_email="alice@example.com",
    )


@pytest.fixture
def bob(services):
    """Contacts present but not verified."""
    return users.create(services, "bob", with_password=False, phone_number="+8613612340000", email="bob@example.com")


def fresh() -> RequestContext:
    """A context whose ``now`` is now (TOTP codes computed by pyotp use the real clock)."""
    return RequestContext(ip="127.0.0.1", user_agent="pytest")


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def sequence(services, sub: str) -> int:
    services.db.session.expire_all()
    return services.users.by_sub(sub).sequence


def test_add_list_ready_remove(services, alice):
    factors = services.factors
    before = sequence(services, alice.sub)
    sms = factors.add_otp(alice.sub, "sms", CTX)
    assert (sms.type, sms.state) == ("otp_sms", "ready")
    factors.add_otp(alice.sub, "email", CTX)
    assert [f.type for f in factors.list(alice.sub)] == ["otp_sms", "otp_email"]
    assert factors.ready_types(alice.sub) == ["otp_sms", "otp_email"]
    assert sequence(services, alice.sub) == before + 2
    new_sequence = factors.remove(alice.sub, "otp_sms", CTX)
    assert new_sequence == before + 3 == sequence(services, alice.sub) == factors.sequence(alice.sub)
    assert factors.ready_types(alice.sub) == ["otp_email"]
    assert [e.details["factor"] for e in events(services, "factor.add")] == ["otp_sms", "otp_email"]
    assert len(events(services, "factor.remove")) == 1


def test_unverified_contact_is_a_failed_precondition(services, bob):
    for channel in ("sms", "email"):
        with pytest.raises(IdpError) as caught:
            services.factors.add_otp(bob.sub, channel, CTX)
        assert caught.value.code == "factor.contact_not_verified"
        assert caught.value.kind is Kind.FAILED_PRECONDITION
    assert services.factors.list(bob.sub) == []


def test_one_of_each_per_user(services, alice):
    services.factors.add_otp(alice.sub, "sms", CTX)
    with pytest.raises(IdpError) as caught:
        services.factors.add_otp(alice.sub, "otp_sms", CTX)
    assert (caught.value.code, caught.value.kind) == ("factor.exists", Kind.CONFLICT)


def test_unknown_user_channel_and_factor(services, alice):
    with pytest.raises(IdpError, match=r"account\.not_found"):
        services.factors.add_otp("nobody", "sms", CTX)
    with pytest.raises(IdpError, match=r"factor\.invalid_type"):
        services.factors.add_otp(alice.sub, "pigeon", CTX)
    with pytest.raises(IdpError, match=r"factor\.not_found"):
        services.factors.remove(alice.sub, "totp", CTX)


def test_sms_factor_unusable_once_phone_is_unverified(services, alice):
    services.factors.add_otp(alice.sub, "sms", CTX)
    services.users.update(alice.sub, {"phone_verified": False}, CTX)
    assert services.factors.ready_types(alice.sub) == []


# -- TOTP -------------------------------------------------------------------------------------
def test_totp_enrol_and_confirm(services, alice):
    setup = services.factors.start_totp(alice.sub, CTX)
    assert len(setup.secret) == 32  # 160 bits of base32
    assert setup.uri.startswith("otpauth://totp/Gatehouse:alice?")
    assert "issuer=Gatehouse" in setup.uri and f"secret={setup.secret}" in setup.uri
    assert setup.qr_data_uri.startswith("data:image/svg+xml") and "script" not in setup.qr_data_uri.lower()
    assert services.factors.get(alice.sub, "totp").state == "not_ready"
    assert services.factors.ready_types(alice.sub) == []
    # the secret is sealed at rest
    assert setup.secret not in services.factors.get(alice.sub, "totp").secret

    with pytest.raises(IdpError) as caught:
        services.factors.confirm_totp(
            alice.sub, "000000" if pyotp.TOTP(setup.secret).now() != "000000" else "111111", fresh()
        )
    assert (caught.value.code, caught.value.kind) == ("totp.wrong_code", Kind.WRONG_CODE)

    factor = services.factors.confirm_totp(alice.sub, pyotp.TOTP(setup.secret).now(), fresh())
    assert factor.state == "ready"
    assert services.factors.ready_types(alice.sub) == ["totp"]
    with pytest.raises(IdpError, match=r"factor\.exists"):
        services.factors.start_totp(alice.sub, CTX)
    assert [e.result for e in events(services, "factor.totp.confirm")] == ["failure", "success"]


def test_start_totp_replaces_a_not_ready_one(services, alice):
    first = services.factors.start_totp(alice.sub, CTX)
    second = services.factors.start_totp(alice.sub, CTX)
    assert first.secret != second.secret
    with pytest.raises(IdpError, match=r"totp\.wrong_code"):
        # a code of the abandoned secret (unless both secrets collide on this step: ~1e-6)
        services.factors.confirm_totp(alice.sub, pyotp.TOTP(first.secret).now(), fresh())
    services.factors.confirm_totp(alice.sub, pyotp.TOTP(second.secret).now(), fresh())


def test_confirm_without_start(services, alice):
    with pytest.raises(IdpError, match=r"factor\.not_found"):
        services.factors.confirm_totp(alice.sub, "123456", CTX)


def ready_totp(services, sub) -> pyotp.TOTP:
    setup = services.factors.start_totp(sub, CTX)
    totp = pyotp.TOTP(setup.secret)
    # confirm with the previous step's code so the current one is still unused
    now = fresh()
    earlier = replace(now, now=now.now - timedelta(seconds=30))
    services.factors.confirm_totp(sub, totp.at(earlier.now), earlier)
    return totp


def test_totp_code_is_accepted_once(services, alice):
    totp = ready_totp(services, alice.sub)
    ctx = RequestContext(ip="127.0.0.1")
    code = totp.at(ctx.now)
    assert services.factors.check_totp(alice.sub, code, ctx) is True
    assert services.factors.check_totp(alice.sub, code, ctx) is False  # replay


def test_totp_window_is_one_step(services, alice):
    totp = ready_totp(services, alice.sub)
    now = RequestContext().now
    assert (
        services.factors.check_totp(alice.sub, totp.at(now + timedelta(seconds=90)), RequestContext(now=now)) is False
    )
    assert services.factors.check_totp(alice.sub, totp.at(now + timedelta(seconds=30)), RequestContext(now=now)) is True
    # an older step than the last one used is refused even inside the window
    assert services.factors.check_totp(alice.sub, totp.at(now), RequestContext(now=now)) is False
    assert services.factors.check_totp(alice.sub, "abcdef", RequestContext(now=now)) is False


def test_check_totp_without_ready_factor(services, alice):
    assert services.factors.check_totp(alice.sub, "123456", CTX) is False
    services.factors.start_totp(alice.sub, CTX)
    assert services.factors.check_totp(alice.sub, "123456", CTX) is False


def test_remove_totp(services, alice):
    ready_totp(services, alice.sub)
    services.factors.remove(alice.sub, "totp", CTX)
    assert services.factors.list(alice.sub) == []


# -- recovery codes -----------------------------------------------------------------------------
def test_recovery_codes_single_use(services, alice):
    codes = services.factors.new_recovery_codes(alice.sub, CTX)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    stored = list(services.db.session.scalars(select(RecoveryCode.code_hash)))
    assert not set(codes) & set(stored)
    assert services.factors.recovery_codes_left(alice.sub) == 10
    assert services.factors.use_recovery_code(alice.sub, codes[0], CTX) is True
    assert services.factors.use_recovery_code(alice.sub, codes[0], CTX) is False
    # typed loosely: upper case, spaces, no dash
    assert services.factors.use_recovery_code(alice.sub, f" {codes[1].upper().replace('-', ' ')} ", CTX)
    assert services.factors.recovery_codes_left(alice.sub) == 8
    assert services.factors.use_recovery_code(alice.sub, "not-a-code", CTX) is False
    assert len(events(services, "factor.recovery_code.use")) == 2


def test_recovery_codes_are_bound_to_the_user(services, alice, bob):
    codes = services.factors.new_recovery_codes(alice.sub, CTX)
    assert services.factors.use_recovery_code(bob.sub, codes[0], CTX) is False


def test_regenerate_replaces_all(services, alice):
    old = services.factors.new_recovery_codes(alice.sub, CTX)
    new = services.factors.new_recovery_codes(alice.sub, CTX)
    assert services.factors.recovery_codes_left(alice.sub) == 10
    assert services.factors.use_recovery_code(alice.sub, old[0], CTX) is False
    assert services.factors.use_recovery_code(alice.sub, new[0], CTX) is True


def test_recovery_normalise():
    assert recovery.normalise("ABCDE-FGHJK") == "abcdefghjk"
    assert recovery.normalise("o1lI0-abcde") == "01110abcde"
    assert recovery.normalise("abcde-fghj") is None
    assert recovery.normalise("abcde-fghju") is None  # u is not in the alphabet


def test_factor_model_has_no_plain_secret(services, alice):
    ready_totp(services, alice.sub)
    factor = services.db.session.scalar(select(Factor).where(Factor.type == "totp"))
    assert factor.secret and len(factor.secret) > 40
