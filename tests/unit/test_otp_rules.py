"""The OTP service's rules (code lifetimes, single use, attempt budgets, send limits, resend of
the live code), rule by rule, against a real Redis (embedded or TEST_REDIS_URL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from idp.context import RequestContext
from idp.errors import IdpError
from idp.models import AuthSource
from idp.store import Keys

CTX = RequestContext(ip="203.0.113.7")
SMS_SOURCE = "MOCK_SMS_OTP_AUTH_SOURCE_ID"


@pytest.fixture
def tenant(seeded):
    return seeded.clients.by_client_id("TENANT_CLIENT_ID")


def send(services, tenant, phone="13612345678", ctx=CTX, usage="login", source=SMS_SOURCE):
    return services.otp.send(tenant, "sms", phone, usage, source, ctx)


def verify(services, tenant, result, code, consume=True):
    return services.otp.verify(
        tenant, "sms", result.target, "login", SMS_SOURCE, result.otp_token, code, consume=consume
    )


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


# -- codes --------------------------------------------------------------------------------


def edit_sms_source(services, **values):
    """Change the auth source in SQL; returns the tenant as the app sees it afterwards."""
    with services.db.transaction() as session:
        session.execute(update(AuthSource).where(AuthSource.id == SMS_SOURCE).values(**values))
    services.clients.forget("TENANT_CLIENT_ID")  # applications (and their sources) are cached
    return services.clients.by_client_id("TENANT_CLIENT_ID")


def test_code_length_comes_from_the_auth_source(seeded, services, outbox):
    send(services, edit_sms_source(services, code_length=8))
    code = outbox.last_code()
    assert len(code) == 8 and code.isdigit()


def test_codes_are_stored_only_as_hashes(services, tenant, outbox):
    result = send(services, tenant)
    code = outbox.last_code()
    stored = services.redis.hgetall(Keys.otp_token(result.otp_token))
    assert stored and all(code not in value for value in stored.values())


def test_code_expires_after_the_auth_source_lifetime(seeded, services, outbox, clock):
    tenant = edit_sms_source(services, code_ttl=45)  # not the default 60 s
    result = send(services, tenant)
    clock.advance(45)
    verify(services, tenant, result, outbox.last_code(), consume=False)  # good to its last moment
    clock.advance(1)
    with pytest.raises(IdpError) as caught:
        verify(services, tenant, result, outbox.last_code())
    assert caught.value.code == "otp.expired_code"


def test_otp_token_lives_five_minutes(services, tenant):
    result = send(services, tenant)
    ttl = services.redis.ttl(Keys.otp_token(result.otp_token))
    assert 295 <= ttl <= 300
    assert result.expires_in == 300


def test_exactly_one_of_many_concurrent_correct_submissions_wins(services, tenant, outbox):
    result = send(services, tenant)
    code = outbox.last_code()
    outcomes: list[str] = []
    barrier = threading.Barrier(12)

    def attempt():
        barrier.wait()
        try:
            verify(services, tenant, result, code)
            outcomes.append("ok")
        except IdpError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1
    assert set(outcomes) - {"ok"} == {"otp.unknown_token"}


def test_five_wrong_codes_kill_the_token(services, tenant, outbox):
    result = send(services, tenant)
    code = outbox.last_code()
    for _ in range(5):
        with pytest.raises(IdpError) as caught:
            verify(services, tenant, result, wrong(code))
        assert caught.value.code == "otp.wrong_code"
    with pytest.raises(IdpError) as caught:
        verify(services, tenant, result, code)
    assert caught.value.code == "otp.unknown_token"


@pytest.mark.limits(target_interval=0, target_failures=7)
def test_a_new_code_does_not_reset_the_guess_budget(services, tenant, outbox):
    app_services = services
    first = send(app_services, tenant)
    for _ in range(5):
        with pytest.raises(IdpError):
            verify(app_services, tenant, first, wrong(outbox.last_code()))
    second = send(app_services, tenant)  # the first token is dead, so this is a new code
    assert second.otp_token != first.otp_token
    for _ in range(2):
        with pytest.raises(IdpError):
            verify(app_services, tenant, second, wrong(outbox.last_code()))
    with pytest.raises(IdpError) as caught:
        verify(app_services, tenant, second, outbox.last_code())
    assert caught.value.code == "otp.too_many_failures"


def test_check_without_consuming_leaves_the_code_usable(services, tenant, outbox):
    result = send(services, tenant)
    code = outbox.last_code()
    verify(services, tenant, result, code, consume=False)
    verify(services, tenant, result, code, consume=True)
    with pytest.raises(IdpError):
        verify(services, tenant, result, code)


# -- send limits --------------------------------------------------------------------------


def rule_of(exc_info) -> str:
    return exc_info.value.details["rule"]


def test_one_send_per_30_seconds_per_number(services, tenant):
    send(services, tenant)
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone="+86 136 1234 5678")  # the same number, written differently
    assert caught.value.code == "otp.rate_limited" and rule_of(caught) == "target_interval"
    assert 25 <= caught.value.retry_after <= 30


def test_a_refused_send_is_audited_with_its_rule(services, tenant):
    from idp.audit import AuditQuery, search

    send(services, tenant)
    with pytest.raises(IdpError):
        send(services, tenant)
    events = search(services.db, AuditQuery(type="otp.send", limit=10)).events
    assert [(e.result, e.details.get("reason"), e.details.get("rule")) for e in events] == [
        ("failure", "otp.rate_limited", "target_interval"),
        ("success", None, None),
    ]


@pytest.mark.limits(target_interval=0, target_daily=3)
def test_daily_count_per_number(services, tenant):
    for _ in range(3):
        send(services, tenant, usage="signup", source=None)
    with pytest.raises(IdpError) as caught:
        send(services, tenant, usage="signup", source=None)
    assert rule_of(caught) == "target_daily"


def test_the_same_limits_hold_for_an_email_address(services, tenant):
    services.otp.send(tenant, "email", "a@example.com", "signup", None, CTX)
    with pytest.raises(IdpError) as caught:
        services.otp.send(tenant, "email", "A@example.com", "signup", None, CTX)
    assert rule_of(caught) == "target_interval"


def numbers(count: int, start: int = 13612340000) -> list[str]:
    return [str(start + i) for i in range(count)]


@pytest.mark.limits(ip_hourly=3)
def test_per_ip_ceiling(services, tenant):
    for phone in numbers(3, 13612340000):
        send(services, tenant, phone=phone)
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone="13912345678")
    assert rule_of(caught) == "ip"
    send(services, tenant, phone="13912345678", ctx=RequestContext(ip="198.51.100.1"))  # another IP is fine


@pytest.mark.limits(client_hourly=2)
def test_per_client_ceiling(services, tenant, seeded):
    send(services, tenant, phone="13612345678")
    send(services, tenant, phone="13712345678")
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone="13812345678")
    assert rule_of(caught) == "client"
    other = seeded.clients.by_client_id("CLIENT_4_ID")
    send(services, other, phone="13812345678")


@pytest.mark.limits(prefix_hourly=3, ip_hourly=0)
def test_per_prefix_ceiling_stops_a_pumping_run(services, tenant):
    for index, phone in enumerate(numbers(3)):
        send(services, tenant, phone=phone, ctx=RequestContext(ip=f"198.51.100.{index}"))
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone=numbers(4)[-1], ctx=RequestContext(ip="198.51.100.99"))
    assert rule_of(caught) == "prefix"
    send(services, tenant, phone="13912345678")  # another range is not affected


@pytest.mark.limits(country_hourly=2, ip_hourly=0)
def test_per_country_ceiling(services, tenant):
    send(services, tenant, phone="13612345678")
    send(services, tenant, phone="13712345678")
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone="13812345678")
    assert rule_of(caught) == "country"
    send(services, tenant, phone="+14155552671")  # another country


def test_default_limits_let_a_busy_country_through(services, tenant):
    # hundreds of distinct numbers an hour from one country, from many IPs, must work
    for i in range(300):
        phone = str(13600000000 + i * 10007)
        send(services, tenant, phone=phone, ctx=RequestContext(ip=f"10.{i // 250}.{i % 250}.1"))


@pytest.mark.limits(sms_daily_quota=2)
def test_global_quota(services, tenant):
    send(services, tenant, phone="13612345678")
    send(services, tenant, phone="13712345678")
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone="13812345678")
    assert caught.value.code == "otp.quota_exhausted"


def test_resend_while_valid_sends_the_same_code(services, tenant, outbox, clock):
    first = send(services, tenant)
    clock.advance(services.settings.limits.target_interval)  # the interval is over; the code lives 60 s
    second = send(services, tenant)
    records = outbox.records()
    assert second.resent and second.otp_token == first.otp_token
    assert records[0]["code"] == records[1]["code"]


@pytest.fixture
def sms_provider_down(settings_overrides):
    settings_overrides.update(sms_sender="webhook", sms_webhook_url="http://127.0.0.1:9/sms", delivery_timeout=1.0)


def test_delivery_failure_spends_no_quota(sms_provider_down, services, tenant):
    with pytest.raises(IdpError) as caught:
        send(services, tenant)
    assert caught.value.code == "otp.delivery_failed"
    assert list(services.redis.scan_iter("gh:rl:*")) == []
    assert list(services.redis.scan_iter("gh:otp:*")) == []


def test_sms_ends_with_the_webotp_line(services, tenant, outbox):
    send(services, tenant)
    record = outbox.records()[0]
    assert record["text"].splitlines()[-1] == f"@127.0.0.1 #{record['code']}"


@pytest.mark.parametrize("raw", ["+8613612345678", "+86 136 1234 5678", "13612345678", "136-1234-5678"])
def test_phone_formats(services, tenant, outbox, raw):
    send(services, tenant, phone=raw)
    assert outbox.records()[0]["to"] == "+8613612345678"


@pytest.mark.parametrize("raw", ["12345", "+86 1", "phone", "+999 12345678", "1" * 40])
def test_malformed_phone_numbers(services, tenant, raw):
    with pytest.raises(IdpError) as caught:
        send(services, tenant, phone=raw)
    assert caught.value.code == "contact.malformed_phone"


@pytest.fixture
def custom_blocklist(settings_overrides):
    settings_overrides["email_blocklist"] = ("spam.example",)


def test_email_blocklist_is_a_setting(custom_blocklist, services, tenant):
    with pytest.raises(IdpError) as caught:
        services.otp.send(tenant, "email", "x@mail.spam.example", "signup", None, CTX)
    assert caught.value.code == "contact.blocked_email"
    services.otp.send(tenant, "email", "x@mailinator.com", "signup", None, CTX)  # default list replaced
