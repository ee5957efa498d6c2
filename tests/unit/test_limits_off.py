"""``GATEHOUSE_LIMIT_<NAME>=0`` switches that rule off (README "Limits"), for every limit:
sends, wrong codes, failed sign-ins and captcha images. Each test sets one limit to 0 (the
others keep their defaults, or a value that keeps them out of the way) and goes past the point
where the default would have stopped it; where it is cheap, the same steps with a small
positive value show the rule still stops them. On a real Redis (embedded or TEST_REDIS_URL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import pytest

from idp.context import RequestContext
from idp.errors import IdpError
from idp.settings import LUA_REACHED, Limits, SettingsError, load_settings, reached
from idp.store import Keys
from tests.factories import applications, users

DEFAULT = Limits()
DAY = 86400
ADDRESS = "ada@example.com"


def ip(i: int) -> str:
    return f"198.51.{i // 250}.{i % 250 + 1}"


@pytest.fixture
def app(services):
    return applications.create(services, client_id="APP")


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def refusal(call: Callable[[], object]) -> IdpError | None:
    try:
        call()
    except IdpError as exc:
        return exc
    return None


# -- sends ----------------------------------------------------------------------------------
# One scenario per send rule: the i-th send, all of them under that rule's subject and spread
# over the other rules' subjects, so only the rule under test can refuse. ``count`` goes past
# the default where that is cheap (one more than 50 a day, 30 an hour per IP, 20 an hour per
# number range); the client, country and quota defaults (thousands) are not walked past, and
# the counter key that rule would keep must not exist: a rule that is off counts nothing.


@dataclass(frozen=True)
class Scenario:
    channel: str
    target: Callable[[int], str]  # the i-th send's number or address
    ip_of: Callable[[int], str]  # and its client IP
    count: int  # sends that a limit of 0 lets through
    key: str  # the rule's counter in Redis (``Keys.rate``)
    step: int = 0  # seconds the clock moves after each send


SCENARIOS = {
    # one address: the interval is waited out on the clock between sends
    "target_daily": Scenario(
        "email", lambda i: ADDRESS, ip, DEFAULT.target_daily + 1, "day", step=DEFAULT.target_interval
    ),
    "target_interval": Scenario("email", lambda i: ADDRESS, lambda i: ip(0), 2, "int"),
    "ip_hourly": Scenario("email", lambda i: f"user{i}@example.com", lambda i: ip(0), DEFAULT.ip_hourly + 1, "ip"),
    "client_hourly": Scenario("email", lambda i: f"user{i}@example.com", ip, 4, "cli"),
    # one number range (all but the last 4 digits), many numbers in it
    "prefix_hourly": Scenario("sms", lambda i: f"+861361234{i:04d}", ip, DEFAULT.prefix_hourly + 1, "pfx"),
    # one country, many ranges
    "country_hourly": Scenario("sms", lambda i: f"+86136{i:04d}5678", ip, 4, "cc"),
    "sms_daily_quota": Scenario("sms", lambda i: f"+86136{i:04d}5678", ip, 4, "quota"),
    "email_daily_quota": Scenario("email", lambda i: f"user{i}@example.com", ip, 4, "quota"),
}
SEND_RULE = {"target_daily": "target_daily", "target_interval": "target_interval", "ip_hourly": "ip"}
SEND_RULE |= {"client_hourly": "client", "prefix_hourly": "prefix", "country_hourly": "country"}


def start_of_a_day(clock) -> None:
    """Move the clock to just after a UTC midnight, so a run of sends stays in one day's window."""
    clock.advance(DAY - clock.time() % DAY + 60)


def run(services, app, clock, scenario: Scenario, count: int) -> None:
    for i in range(count):
        ctx = RequestContext(ip=scenario.ip_of(i))
        services.otp.send(app, scenario.channel, scenario.target(i), "signup", None, ctx)
        clock.advance(scenario.step)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.limits(**{name: 0})) for name in SCENARIOS])
def test_a_send_limit_of_0_never_refuses(services, app, clock, name):
    scenario = SCENARIOS[name]
    start_of_a_day(clock)
    run(services, app, clock, scenario, scenario.count)
    subject = scenario.channel if name.endswith("_quota") else "*"
    assert list(services.redis.scan_iter(Keys.rate(scenario.key, subject, 0).rsplit(":", 1)[0] + ":*")) == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.limits(**{name: 3 if name != "target_interval" else 30}))
        for name in SCENARIOS
    ],
)
def test_the_same_sends_stop_at_a_small_limit(services, app, clock, name):
    scenario = SCENARIOS[name]
    start_of_a_day(clock)
    allowed = 1 if name == "target_interval" else 3
    run(services, app, clock, scenario, allowed)
    ctx = RequestContext(ip=scenario.ip_of(allowed))
    refused = refusal(lambda: services.otp.send(app, scenario.channel, scenario.target(allowed), "signup", None, ctx))
    assert refused is not None
    if name.endswith("_quota"):
        assert refused.code == "otp.quota_exhausted"
    else:
        assert (refused.code, refused.details["rule"]) == ("otp.rate_limited", SEND_RULE[name])


# -- wrong codes ----------------------------------------------------------------------------


def send_code(services, app, outbox) -> tuple[str, str]:
    sent = services.otp.send(app, "email", ADDRESS, "signup", None, RequestContext(ip=ip(0)))
    return sent.otp_token, outbox.last_code(ADDRESS)


def check(services, app, token: str, code: str) -> None:
    services.otp.verify(app, "email", ADDRESS, "signup", "", token, code, ctx=RequestContext(ip=ip(0)))


def check_wrong(services, app, token: str, code: str) -> None:
    """A wrong code for ``token`` (whose right code is ``code``): answered ``otp.wrong_code``."""
    with pytest.raises(IdpError) as caught:
        check(services, app, token, wrong(code))
    assert caught.value.code == "otp.wrong_code"


def wrong_codes_across_resends(services, app, outbox, clock, count: int) -> tuple[str, str]:
    """``count`` wrong codes; whenever a code dies (its own budget) the next one is sent. Returns
    the live otp_token and its code."""
    token, code = send_code(services, app, outbox)
    for _ in range(count):
        if not services.redis.exists(Keys.otp_token(token)):
            clock.advance(DEFAULT.target_interval)
            token, code = send_code(services, app, outbox)
        check_wrong(services, app, token, code)
    if not services.redis.exists(Keys.otp_token(token)):
        clock.advance(DEFAULT.target_interval)
        token, code = send_code(services, app, outbox)
    return token, code


@pytest.mark.limits(token_attempts=0)
def test_token_attempts_0_lets_a_code_outlive_any_number_of_wrong_guesses(services, app, outbox, clock):
    token, code = send_code(services, app, outbox)
    # past the default 5 per code, short of the default 10 per address (TARGET_FAILURES)
    for _ in range(DEFAULT.target_failures - 1):
        check_wrong(services, app, token, code)
    check(services, app, token, code)


# the sign-in lock (10 failures by default) is moved out of the way: it counts wrong codes too
@pytest.mark.limits(target_failures=0, login_lock_after=100)
def test_target_failures_0_lets_the_right_code_in_after_any_number_of_wrong_ones(services, app, outbox, clock):
    token, code = wrong_codes_across_resends(services, app, outbox, clock, DEFAULT.target_failures + 2)
    check(services, app, token, code)


@pytest.mark.limits(target_failure_window=0, login_lock_after=100)
def test_target_failure_window_0_counts_no_wrong_code_across_resends(services, app, outbox, clock):
    token, code = wrong_codes_across_resends(services, app, outbox, clock, DEFAULT.target_failures + 2)
    assert not services.redis.exists(Keys.otp_failures("signup", "email", ADDRESS))
    check(services, app, token, code)


# -- failed sign-ins --------------------------------------------------------------------------
A = RequestContext(ip="203.0.113.1", client_id="APP")
CAPTCHAS = ("login_captcha_after", "login_captcha_after_identifier", "login_captcha_after_ip")
OUT_OF_THE_WAY = 100


def captcha_failures(guard, name: str) -> tuple[str, RequestContext]:
    """One more failure than the default of captcha rule ``name``, shaped so that only that
    rule counts them; returns the identifier and the IP whose next attempt is asked about."""
    default = getattr(DEFAULT, name)
    if name == "login_captcha_after":  # one identifier from one IP
        for _ in range(default + 1):
            guard.failed("ada", A)
        return "ada", A
    if name == "login_captcha_after_identifier":  # one identifier from many IPs
        for i in range(default + 1):
            guard.failed("ada", RequestContext(ip=ip(i), client_id="APP"))
        return "ada", RequestContext(ip=ip(default + 1), client_id="APP")
    for i in range(default + 1):  # one IP over many identifiers (spraying)
        guard.failed(f"user{i}", A)
    return "someone-else", A


def captcha_policy(name: str, value: int) -> pytest.MarkDecorator:
    others = {other: OUT_OF_THE_WAY for other in CAPTCHAS if other != name}
    return pytest.mark.limits(**others, **{name: value}, login_lock_after=OUT_OF_THE_WAY)


@pytest.mark.parametrize("name", [pytest.param(name, marks=captcha_policy(name, 0)) for name in CAPTCHAS])
def test_a_captcha_threshold_of_0_never_asks_for_a_captcha(services, name):
    identifier, ctx = captcha_failures(services.bruteforce, name)
    assert not services.bruteforce.captcha_due(identifier, ctx)
    services.bruteforce.check(identifier, ctx)


@pytest.mark.parametrize("name", [pytest.param(name, marks=captcha_policy(name, 2)) for name in CAPTCHAS])
def test_the_same_failures_ask_for_a_captcha_at_a_small_threshold(services, name):
    identifier, ctx = captcha_failures(services.bruteforce, name)
    assert services.bruteforce.captcha_due(identifier, ctx)
    refused = refusal(lambda: services.bruteforce.check(identifier, ctx))
    assert refused is not None and refused.code == "login.captcha_required"


def never_locked(guard, failures: int) -> None:
    for _ in range(failures):
        assert guard.failed("ada", A) is None
    assert guard.locked_for("ada") == 0
    guard.check("ada", A, captcha=False)


@pytest.mark.limits(login_lock_after=0)
def test_login_lock_after_0_never_locks(services):
    never_locked(services.bruteforce, DEFAULT.login_lock_after + 5)


@pytest.mark.limits(login_lock_seconds=0)
def test_login_lock_seconds_0_never_locks_and_the_captcha_still_applies(services):
    never_locked(services.bruteforce, DEFAULT.login_lock_after + 5)
    assert services.bruteforce.captcha_due("ada", A)  # the failures are still counted
    assert list(services.redis.scan_iter(Keys.login_lock("*"))) == []


@pytest.mark.limits(login_failure_window=0)
def test_login_failure_window_0_counts_no_failure_so_no_captcha_and_no_lock(services):
    never_locked(services.bruteforce, DEFAULT.login_captcha_after_ip + 5)
    assert not services.bruteforce.captcha_due("ada", A)
    assert list(services.redis.scan_iter(Keys.login_failures("*"))) == []
    assert list(services.redis.scan_iter(Keys.ip_failures("*"))) == []


@pytest.mark.limits(
    login_captcha_after=0, login_captcha_after_identifier=0, login_captcha_after_ip=0, login_lock_after=0
)
def test_with_captcha_and_lock_off_the_right_password_still_signs_in(services, app):
    ada = users.create(services, "ada", with_password="a long passphrase")
    for _ in range(DEFAULT.login_captcha_after_ip + 5):
        refused = refusal(lambda: services.login.password(app, A, "ada", "not the passphrase"))
        assert refused is not None and refused.code == "login.invalid_credentials"
    assert services.login.password(app, A, "ada", "a long passphrase").user.sub == ada.sub


# -- captcha images -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "served"),
    [
        pytest.param(0, DEFAULT.captcha_ip_per_minute + 1, marks=pytest.mark.limits(captcha_ip_per_minute=0)),
        pytest.param(2, 2, marks=pytest.mark.limits(captcha_ip_per_minute=2)),
    ],
)
def test_captcha_images_per_ip_0_is_no_limit(services, limit, served):
    for _ in range(served):
        services.bruteforce.new_captcha(A)
    refused = refusal(lambda: services.bruteforce.new_captcha(A))
    assert (refused is None) == (limit == 0)
    assert refused is None or refused.code == "captcha.rate_limited"


# -- every limit at once ----------------------------------------------------------------------
# A limit, window or duration of 0 must never reach Redis as an expiry of 0: ``EXPIRE key 0``
# deletes the key and ``SET ... EX 0`` is an error, which would answer 500.


@pytest.mark.limits(**{f.name: 0 for f in fields(Limits)})
def test_every_limit_at_0_sends_checks_and_signs_in(services, app, outbox, clock):
    ada = users.create(services, "ada", with_password="a long passphrase")
    for _ in range(3):
        send_code(services, app, outbox)  # no wait between sends
    token, code = wrong_codes_across_resends(services, app, outbox, clock, DEFAULT.target_failures + 2)
    check(services, app, token, code)
    for _ in range(DEFAULT.login_captcha_after_ip + 5):
        assert refusal(lambda: services.login.password(app, A, "ada", "nope nope nope")) is not None
    assert services.login.password(app, A, "ada", "a long passphrase").user.sub == ada.sub
    for _ in range(DEFAULT.captcha_ip_per_minute + 1):
        services.bruteforce.new_captcha(A)


# -- the one rule, and what is refused ------------------------------------------------------


def test_the_scripts_read_a_limit_exactly_as_python_does(services):
    script = LUA_REACHED + "return reached(tonumber(ARGV[1]), tonumber(ARGV[2])) and 1 or 0"
    for count in range(4):
        for limit in range(4):
            assert bool(services.redis.eval(script, 0, count, limit)) == reached(count, limit), (count, limit)
    assert not reached(10**9, 0)  # 0 is no limit


@pytest.mark.parametrize("name", [f.name for f in fields(Limits)])
def test_a_negative_limit_is_refused_at_startup_by_its_name(monkeypatch, tmp_path, name):
    variable = f"GATEHOUSE_LIMIT_{name.upper()}"
    monkeypatch.setenv("GATEHOUSE_ENV", "test")
    monkeypatch.setenv("GATEHOUSE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv(variable, "-1")
    with pytest.raises(SettingsError, match=variable):
        load_settings()
