"""BruteForceGuard on a real Redis: subjects, thresholds, the lock that never extends itself,
captchas spent only when due, unlock, and the code ways in (verification tokens, MFA TOTP)."""

from __future__ import annotations

import pytest

from idp.context import RequestContext
from idp.errors import IdpError
from tests.factories import applications, auth_sources, users

A = RequestContext(ip="203.0.113.1", client_id="app-1")
B = RequestContext(ip="203.0.113.2", client_id="app-1")
LOCK_SECONDS = 600
POLICY = {
    "login_captcha_after": 3,
    "login_captcha_after_identifier": 5,
    "login_captcha_after_ip": 8,
    "login_lock_after": 6,
    "login_lock_seconds": LOCK_SECONDS,
    "login_failure_window": 120,
}
ANSWER = "K7HM3"


@pytest.fixture
def captcha_answers():
    return lambda: ANSWER


@pytest.fixture
def guard(services):
    return services.bruteforce


@pytest.fixture
def ada(services):
    return users.create(
        services,
        "ada",
        with_password="a long passphrase",
        email="ada@example.com",
        with_verified_phone="+8613612345678",
    )


def fail(guard, identifier, ctx=A, times=1):
    return [guard.failed(identifier, ctx) for _ in range(times)][-1]


def code_of(guard, identifier, ctx=A, captcha_token=None) -> str:
    try:
        guard.check(identifier, ctx, captcha_token)
    except IdpError as exc:
        return exc.code
    return "ok"


@pytest.mark.limits(**POLICY)
def test_every_spelling_of_an_account_shares_one_count(guard, ada):
    for identifier in ("ada", "ADA@example.com", "13612345678"):
        fail(guard, identifier)
    assert guard.captcha_due("+86 136 1234 5678", A)
    assert not guard.captcha_due("Ada", A)  # usernames are exact: "Ada" is another (unknown) subject


@pytest.mark.limits(**POLICY)
def test_unknown_identifiers_are_normalised_and_counted_like_accounts(guard):
    for identifier in ("Nobody@Example.com", "nobody@example.com ", "NOBODY@EXAMPLE.COM"):
        fail(guard, identifier)
    assert code_of(guard, "nobody@example.com") == "login.captcha_required"
    fail(guard, "nobody@example.com", B, times=3)
    assert code_of(guard, "nobody@example.com", B) == "account.locked"


@pytest.mark.limits(**POLICY)
def test_thresholds_per_identifier_ip_identifier_and_ip(guard, ada):
    fail(guard, "ada", A, times=2)
    assert not guard.captcha_due("ada", A)
    fail(guard, "ada", A)
    assert guard.captcha_due("ada", A) and not guard.captcha_due("ada", B)  # 3 from A
    fail(guard, "ada", B, times=2)
    assert guard.captcha_due("ada", B)  # 5 for the identifier, from anywhere
    sprayer = RequestContext(ip="198.51.100.7", client_id="app-1")
    for i in range(8):
        guard.failed(f"user{i}", sprayer)
    assert guard.captcha_due("someone-else", sprayer)  # 8 from one IP over many identifiers


@pytest.mark.limits(**POLICY)
def test_the_lock_is_never_extended_and_the_count_restarts(guard, services, ada, clock):
    assert fail(guard, "ada", times=5) is None
    lock = fail(guard, "ada")
    assert lock is not None and lock.code == "account.locked" and lock.retry_after == LOCK_SECONDS
    key = guard._keys("ada", ada.sub).lock
    ends = services.redis.get(key)
    clock.advance(LOCK_SECONDS - 1)
    for ctx in (A, B):
        assert fail(guard, "ada", ctx, times=5) is None  # counted nowhere during the lock
        assert code_of(guard, "ada", ctx) == "account.locked"
    assert services.redis.get(key) == ends  # never moved
    assert guard.locked_for("ada") == 1  # only ever running down
    clock.advance(1)  # the lock ends when it said it would
    assert guard.locked_for("ada") == 0
    assert code_of(guard, "ada", B) == "ok"  # per-identifier count restarted with the lock
    assert fail(guard, "ada", B) is None


@pytest.mark.limits(**POLICY)
def test_a_captcha_is_spent_only_when_due(guard, services):
    def solved() -> str:
        return services.captcha.solve(services.captcha.new(A).token, ANSWER, A)

    token = solved()
    assert code_of(guard, "ada", A, token) == "ok"
    fail(guard, "ada", times=3)
    assert code_of(guard, "ada", A, token) == "ok"  # the unneeded one was left alone: still good
    assert code_of(guard, "ada", A, token) == "login.captcha_required"  # single use
    assert code_of(guard, "ada", A, "forged") == "login.captcha_required"
    other_app = RequestContext(ip=A.ip, client_id="app-2")
    assert code_of(guard, "ada", other_app, solved()) == "login.captcha_required"  # bound to its app


@pytest.mark.limits(**POLICY)
def test_success_clears_this_ips_count(guard, ada):
    fail(guard, "ada", A, times=3)
    guard.succeeded("ada", A)
    assert not guard.captcha_due("ada", A)


@pytest.mark.limits(**POLICY)
def test_unlock_clears_lock_and_counts(guard, ada, services):
    fail(guard, "ada", times=6)
    assert guard.locked_for("ada") > 0
    assert guard.unlock_account(ada.sub, A) is True
    assert code_of(guard, "ada", A) == "ok" and not guard.captcha_due("ada", A)
    assert guard.unlock_account(ada.sub, A) is False
    with pytest.raises(IdpError) as caught:
        guard.unlock_account("no-such-sub", A)
    assert caught.value.code == "account.not_found"


@pytest.mark.limits(**POLICY)
def test_subjects_are_stored_hashed(guard, services):
    fail(guard, "my secret password typed as a username")
    assert not any("secret" in key for key in list(services.redis.scan_iter("gh:bf:*")))


@pytest.mark.limits(**POLICY, target_interval=0)
def test_a_locked_contact_gets_no_verification_token_sign_in(services, ada, outbox):
    ctx = RequestContext(ip="127.0.0.1")
    client = applications.create(
        services, "native", auth_sources=[auth_sources.create(services, "sms")], scopes=["openid"]
    )
    verifications = services.verifications
    sent = verifications.send(client, ctx, "sms", "+8613612345678", "login")
    issued = verifications.verify(client, ctx, sent.verification_id, outbox.last_code())
    fail(services.bruteforce, "ada", times=6)
    with pytest.raises(IdpError) as caught:
        verifications.sign_in(client, ctx, issued.verification_token)
    assert caught.value.code == "account.locked"
    services.bruteforce.unlock_account(ada.sub, ctx)
    assert verifications.sign_in(client, ctx, issued.verification_token).user.sub == ada.sub  # not spent


@pytest.mark.limits(**POLICY, target_interval=0)
def test_wrong_verification_codes_count_for_the_account(services, ada, outbox):
    ctx = RequestContext(ip="127.0.0.1")
    client = applications.create(
        services, "native", auth_sources=[auth_sources.create(services, "sms")], scopes=["openid"]
    )
    sent = services.verifications.send(client, ctx, "sms", "+8613612345678", "login")
    wrong = str((int(outbox.last_code()) + 1) % 1_000_000).zfill(6)
    for _ in range(3):
        with pytest.raises(IdpError):
            services.verifications.verify(client, ctx, sent.verification_id, wrong)
    assert services.bruteforce.captcha_due("ada", ctx)  # the phone's failures are ada's


@pytest.mark.limits(**POLICY)
def test_wrong_totp_codes_count_under_the_users_sub_and_the_lock_stops_mfa(services, ada):
    from tests.unit.test_mfa_flow import challenge

    ctx = RequestContext(ip="127.0.0.1")
    client = applications.create(services, mfa="optional", auth_sources=[auth_sources.create(services, "sms")])
    totp = users.enrol_totp(services, ada)
    wrong = "000000" if totp.now() != "000000" else "111111"
    for _ in range(2):  # 3 wrong codes per state token (a token dies at 5)
        needs = challenge(services, client, ada, ctx)
        for _ in range(3):
            with pytest.raises(IdpError, match=r"totp\.wrong_code"):
                services.mfa.verify(client, ctx, needs.state_token, "totp", wrong)
    assert services.bruteforce.locked_for("ada") > 0  # 6 wrong second factors lock the account
    needs = challenge(services, client, ada, ctx)
    with pytest.raises(IdpError) as caught:
        services.mfa.verify(client, ctx, needs.state_token, "totp", totp.now())
    assert caught.value.code == "account.locked"
