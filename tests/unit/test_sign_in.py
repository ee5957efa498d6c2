"""One sign-in by a proven contact (``LoginFlow.sign_in``) for the hosted pages, the Tencent
CIAM OTP grants and CloudBase verification tokens; what their contracts differ in are
explicit options with safe defaults. And one password sign-in whose "no password set" answer
is an option too."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.accounts.proofs import ContactCode
from idp.context import RequestContext
from idp.errors import IdpError
from idp.models import AuditEvent
from tests.conftest import basic
from tests.factories import MOCK_SMS_OTP_AUTH_SOURCE_ID, applications, auth_sources, users
from tests.helpers import send_sms, sms_login

CTX = RequestContext(ip="198.51.100.7")
PHONE, UNKNOWN = "+8613612345678", "+8613712345678"
POLICY = {
    "login_captcha_after": 2,
    "login_captcha_after_identifier": 5,
    "login_captcha_after_ip": 50,
    "login_lock_after": 4,
    "login_lock_seconds": 60,
    "login_failure_window": 120,
}


@pytest.fixture
def make_app(services):
    sms = auth_sources.create(services, "sms", id="SMS")

    def make(client_id="APP", **extra):
        return applications.create(
            services, client_id=client_id, **{"auth_sources": [sms], "scopes": ["openid"], **extra}
        )

    return make


@pytest.fixture
def ada(services):
    return users.create(services, "ada", with_password="a long passphrase", with_verified_phone=PHONE)


def code_for(services, outbox, client, target=PHONE, source="SMS") -> ContactCode:
    sent = services.otp.send(client, "sms", target, "login", source, CTX)
    return ContactCode("sms", target, sent.otp_token, outbox.last_code(target))


def wrong(code: ContactCode) -> ContactCode:
    return ContactCode(code.channel, code.target, code.otp_token, "000000" if code.code != "000000" else "111111")


def refusal(call) -> str:
    with pytest.raises(IdpError) as caught:
        call()
    return caught.value.code


def unspent(services, client, code: ContactCode) -> bool:
    services.otp.verify(client, "sms", code.target, "login", "SMS", code.otp_token, code.code, consume=False)
    return True


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def test_an_account_signs_in_and_the_proof_is_spent(services, make_app, ada, outbox):
    client = make_app()
    code = code_for(services, outbox, client)
    done = services.login.sign_in(client, CTX, code)
    assert (done.user.sub, done.amr) == (ada.sub, ["otp", "sms"])
    assert refusal(lambda: services.login.sign_in(client, CTX, code)) == "otp.unknown_token"
    [success] = events(services, "login.success")
    assert (success.sub, success.client_id, success.details["method"]) == (ada.sub, "APP", "sms")


@pytest.mark.limits(**POLICY)
def test_unknown_contact_answers_and_counts_like_a_wrong_code_by_default(services, make_app, outbox):
    client = make_app()
    code = code_for(services, outbox, client, UNKNOWN)
    assert refusal(lambda: services.login.sign_in(client, CTX, code)) == "otp.wrong_code"
    assert refusal(lambda: services.login.sign_in(client, CTX, wrong(code))) == "otp.wrong_code"
    assert services.bruteforce.captcha_due(UNKNOWN, CTX)  # both counted alike
    assert unspent(services, client, code)
    assert [e.details["reason"] for e in events(services, "login.failure")] == ["otp.wrong_code"] * 2


@pytest.mark.limits(**POLICY)
def test_a_contract_that_names_user_not_found_opts_in(services, make_app, outbox):
    client = make_app()
    code = code_for(services, outbox, client, UNKNOWN)
    assert refusal(lambda: services.login.sign_in(client, CTX, code, reveal_unknown=True)) == "account.user_not_found"
    assert not services.bruteforce.captcha_due(UNKNOWN, CTX)  # a right code is no failure
    assert unspent(services, client, code)
    # only someone who received the code learns it: a wrong code is a wrong code
    assert refusal(lambda: services.login.sign_in(client, CTX, wrong(code), reveal_unknown=True)) == "otp.wrong_code"


def test_auto_sign_up_is_the_applications_unless_the_request_says_so(services, make_app, outbox):
    plain, auto = make_app("PLAIN"), make_app("AUTO", auto_signup=True)
    done = services.login.sign_in(auto, CTX, code_for(services, outbox, auto, UNKNOWN))
    assert (done.user.phone_number, done.user.phone_verified, done.amr) == (UNKNOWN, True, ["otp", "sms"])
    other = "+8613812345678"
    code = code_for(services, outbox, plain, other)
    assert refusal(lambda: services.login.sign_in(plain, CTX, code, auto_signup=False)) == "otp.wrong_code"
    assert services.login.sign_in(plain, CTX, code, auto_signup=True).user.phone_number == other
    # the one sign-up created both, in the unit of work that spent the code
    signups = events(services, "user.signup")
    assert [(e.client_id, e.details["method"]) for e in signups] == [("AUTO", "otp_sms"), ("PLAIN", "otp_sms")]
    assert refusal(lambda: services.login.sign_in(plain, CTX, code, auto_signup=True)) == "otp.unknown_token"


def test_the_auth_source_is_the_applications_unless_the_request_names_it(services, make_app, ada, outbox):
    client = make_app()
    code = code_for(services, outbox, client)
    assert (
        refusal(lambda: services.login.sign_in(client, CTX, code, source_from_request=True))
        == "otp.auth_source_required"
    )
    other = auth_sources.create(services, "sms", id="OTHER")
    named = ContactCode("sms", PHONE, code.otp_token, code.code, other.id)
    assert (
        refusal(lambda: services.login.sign_in(client, CTX, named, source_from_request=True))
        == "otp.invalid_auth_source"
    )
    assert unspent(services, client, code)
    named = ContactCode("sms", PHONE, code.otp_token, code.code, "SMS")
    assert services.login.sign_in(client, CTX, named, source_from_request=True).user.sub == ada.sub


@pytest.mark.limits(**POLICY)
def test_a_captcha_is_asked_only_of_a_face_that_can_carry_one(services, make_app, ada, outbox):
    client = make_app()
    code = code_for(services, outbox, client)
    for _ in range(POLICY["login_captcha_after"]):
        assert refusal(lambda: services.login.sign_in(client, CTX, wrong(code))) == "otp.wrong_code"
    assert refusal(lambda: services.login.sign_in(client, CTX, code, captcha=True)) == "login.captcha_required"
    assert unspent(services, client, code)
    assert services.login.sign_in(client, CTX, code).user.sub == ada.sub  # the grant, CloudBase


@pytest.mark.limits(**POLICY)
def test_a_temporary_lock_checks_no_proof_and_spends_nothing(services, make_app, ada, outbox):
    client = make_app()
    code = code_for(services, outbox, client)
    for _ in range(POLICY["login_lock_after"]):
        services.bruteforce.failed(PHONE, CTX, sub=ada.sub)
    assert refusal(lambda: services.login.sign_in(client, CTX, code)) == "account.locked"
    services.bruteforce.unlock(PHONE, CTX)
    assert unspent(services, client, code)


def test_a_disabled_account_is_told_only_to_a_right_code(services, make_app, ada, outbox):
    client = make_app()
    services.users.update(ada.sub, {"status": "disabled"}, CTX)
    code = code_for(services, outbox, client)
    assert refusal(lambda: services.login.sign_in(client, CTX, wrong(code))) == "otp.wrong_code"
    assert refusal(lambda: services.login.sign_in(client, CTX, code)) == "account.abnormal_status"
    assert unspent(services, client, code)


@pytest.mark.limits(target_interval=0)
def test_a_disabled_login_method_is_refused_before_the_code(services, make_app, ada, outbox):
    sender = make_app("SENDER")
    client = make_app("PASSWORD_ONLY", login_methods=["password"])
    sent = services.otp.send(client, "sms", PHONE, "login", "SMS", CTX)
    code = ContactCode("sms", PHONE, sent.otp_token, outbox.last_code(PHONE), "SMS")
    assert (
        refusal(lambda: services.login.sign_in(client, CTX, code, source_from_request=True)) == "login.method_disabled"
    )
    assert refusal(lambda: services.login.sign_in(client, CTX, code)) == "login.method_disabled"
    assert unspent(services, client, code)
    assert services.login.sign_in(sender, CTX, code_for(services, outbox, sender)).user.sub == ada.sub


def test_ciam_grant_refuses_an_application_without_sms_login(client, services, seeded, outbox):
    ada = users.create(services, None, with_password=False, with_verified_phone=PHONE)
    applications.create(
        services,
        client_id="NO_SMS_LOGIN",
        client_secret="NO_SMS_SECRET",
        redirect_uris=[],
        auth_sources=[MOCK_SMS_OTP_AUTH_SOURCE_ID],
        scopes=["openid"],
        login_methods=["password", "email_otp"],
    )
    otp_token = send_sms(client, headers=basic("NO_SMS_LOGIN", "NO_SMS_SECRET")).get_json()["otp_token"]
    code = outbox.last_code(PHONE)
    response = sms_login(client, otp_token, code, client_id="NO_SMS_LOGIN", client_secret="NO_SMS_SECRET")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "unauthorized_client",
        "error_description": "The login method is not enabled for the application",
    }
    [failure] = events(services, "login.failure")
    assert (failure.sub, failure.details["reason"]) == (None, "login.method_disabled")
    assert services.login.find_user(PHONE).sub == ada.sub


# -- "no password set" ------------------------------------------------------------------------
def test_no_password_is_a_wrong_password_unless_the_face_reveals_it(services, make_app):
    client = make_app()
    users.create(services, "codesonly", with_password=False, phone_number=PHONE)
    assert (
        refusal(lambda: services.login.password(client, CTX, "codesonly", "whatever it is"))
        == "login.invalid_credentials"
    )
    assert (
        refusal(
            lambda: services.login.password(client, CTX, "codesonly", "whatever it is", reveal_password_not_set=True)
        )
        == "password.not_set"
    )
    assert [e.details["reason"] for e in events(services, "login.failure")] == ["password.not_set"] * 2


def test_oneaccess_answers_a_user_without_password_like_a_wrong_one(client, services):
    from tests.api.test_oneaccess import SEED_CLIENT_ID, headers

    applications.create(
        services, "native", client_id=SEED_CLIENT_ID, name="oneaccess", redirect_uris=[], scopes=["openid"]
    )
    users.create(services, "codesonly", with_password=False, phone_number=PHONE)
    users.create(services, "haspassword", with_password="a long passphrase")
    answers = [
        client.post(
            "/api/v2/sdk/login", json={"user_name": name, "password": "not the password"}, headers=headers()
        ).get_json()
        for name in ("codesonly", "haspassword", "nobody")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["error_code"] == "SDK.LOGIN.1001"
