"""A request that answers 503 spends nothing: a one-time code the Tencent CIAM OTP grant spent
before a store failed (here the database refusing the refresh token's row) is given back, so
the client's retry with the same code gets its tokens, once.

The database refuses for real: a trigger on ``refresh_tokens`` raises SQLSTATE 57P01
(admin_shutdown, what PostgreSQL says to a session it ends for a restart), which psycopg raises
as an ``OperationalError``: the same class of error a stopped server gives, aimed exactly
between the spend and the save. The OTP service's ``give_back`` is tested on its own too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from idp.context import RequestContext
from idp.errors import IdpError
from idp.store import Keys, decoded
from tests.factories import users
from tests.helpers import send_sms, sms_login
from tests.outage.conftest import count_rows
from tests.outage.test_postgres_down import assert_ciam_503

PHONE, E164 = "13612345678", "+8613612345678"
UNKNOWN = {"error": "invalid_grant", "error_description": "Unknown or expired otp_token"}
SMS_SOURCE = "MOCK_SMS_OTP_AUTH_SOURCE_ID"

REFUSE = """
CREATE OR REPLACE FUNCTION gatehouse_test_refuse() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the database is shutting down' USING ERRCODE = '57P01';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER gatehouse_test_refuse BEFORE INSERT ON refresh_tokens
  FOR EACH ROW EXECUTE FUNCTION gatehouse_test_refuse();
"""
ALLOW = "DROP TRIGGER IF EXISTS gatehouse_test_refuse ON refresh_tokens"


def _execute(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def refusing(postgres):
    """``refuse()`` makes the database refuse every new refresh token until ``allow()``."""

    class Switch:
        def refuse(self) -> None:
            _execute(postgres.url, REFUSE)

        def allow(self) -> None:
            _execute(postgres.url, ALLOW)

    switch = Switch()
    yield switch
    switch.allow()


def sent_code(client, outbox, phone=PHONE) -> tuple[str, str]:
    response = send_sms(client, phone=phone)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["otp_token"], outbox.last_code()


def test_code_given_back_when_the_tokens_cannot_be_saved(postgres, refusing, client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone=E164)
    otp_token, code = sent_code(client, outbox)
    tokens = count_rows(postgres.url, "refresh_tokens")

    refusing.refuse()
    assert_ciam_503(sms_login(client, otp_token, code))
    assert count_rows(postgres.url, "refresh_tokens") == tokens

    refusing.allow()
    retry = sms_login(client, otp_token, code)  # the same code: the 503 spent nothing
    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["refresh_token"]
    assert count_rows(postgres.url, "refresh_tokens") == tokens + 1
    again = sms_login(client, otp_token, code)  # and the retry spent it, once
    assert again.status_code == 400 and again.get_json() == UNKNOWN


def test_auto_signup_user_stays_and_the_retry_signs_them_in(postgres, refusing, client, seeded, outbox, services):
    otp_token, code = sent_code(client, outbox, phone="13712345678")
    people = count_rows(postgres.url, "users")

    refusing.refuse()
    assert_ciam_503(sms_login(client, otp_token, code, phone="13712345678", auto_signup="true"))
    user = services.users.by_contact("sms", "+8613712345678")
    assert user is not None  # committed with its sign-up

    refusing.allow()
    retry = sms_login(client, otp_token, code, phone="13712345678", auto_signup="true")
    assert retry.status_code == 200, retry.get_json()
    assert count_rows(postgres.url, "users") == people + 1  # the same user, not a second one
    again = sms_login(client, otp_token, code, phone="13712345678", auto_signup="true")
    assert again.get_json() == UNKNOWN


# -- the OTP service's give_back ------------------------------------------------------------


@pytest.fixture
def tenant(seeded):
    return seeded.clients.by_client_id("TENANT_CLIENT_ID")


def _send(services, tenant):
    return services.otp.send(tenant, "sms", PHONE, "login", SMS_SOURCE, RequestContext(ip="203.0.113.7"))


def _verify(services, tenant, sent, code, consume=True):
    return services.otp.verify(tenant, "sms", E164, "login", SMS_SOURCE, sent.otp_token, code, consume=consume)


def _give_back(services, sent) -> bool:
    return services.otp.give_back(sent.otp_token, "login", "sms", E164)


def _refused(services, tenant, sent, code) -> str:
    with pytest.raises(IdpError) as refused:
        _verify(services, tenant, sent, code, consume=False)
    return refused.value.code


def test_spent_code_given_back_verifies_once(services, tenant, outbox):
    sent = _send(services, tenant)
    code = outbox.last_code()
    _verify(services, tenant, sent, code)
    assert services.redis.exists(Keys.otp_spent(sent.otp_token))  # kept to be given back...
    assert _refused(services, tenant, sent, code) == "otp.unknown_token"  # ...but never verifies
    assert services.redis.get(Keys.otp_inflight("login", "sms", E164)) is None

    assert _give_back(services, sent) is True
    assert decoded(services.redis.get(Keys.otp_inflight("login", "sms", E164))) == sent.otp_token
    assert 0 < services.redis.pttl(Keys.otp_inflight("login", "sms", E164)) <= 60_000
    _verify(services, tenant, sent, code)  # usable again, once
    assert _refused(services, tenant, sent, code) == "otp.unknown_token"


def test_never_spent_code_is_not_given_back(services, tenant, outbox):
    sent = _send(services, tenant)
    code = outbox.last_code()
    _verify(services, tenant, sent, code, consume=False)
    assert _give_back(services, sent) is False
    _verify(services, tenant, sent, code)
    assert _refused(services, tenant, sent, code) == "otp.unknown_token"
    assert services.otp.give_back("no-such-token", "login", "sms", E164) is False


def test_code_given_back_cannot_be_given_back_into_a_second_use(services, tenant, outbox):
    sent = _send(services, tenant)
    code = outbox.last_code()
    _verify(services, tenant, sent, code)
    assert _give_back(services, sent) is True
    assert _give_back(services, sent) is False  # nothing spent since
    _verify(services, tenant, sent, code)
    assert _refused(services, tenant, sent, code) == "otp.unknown_token"


def test_proof_gives_back_only_what_it_spent(services, tenant, outbox):
    from idp.accounts.proofs import CodeProof, ContactCode

    sent = _send(services, tenant)
    code = outbox.last_code()
    given = ContactCode("sms", PHONE, sent.otp_token, code, SMS_SOURCE)
    ctx = RequestContext(ip="203.0.113.7")
    checking = CodeProof(services.otp, tenant, ctx, "login", given)
    checking.check()
    assert checking.give_back() is False  # checked, not spent
    spending = CodeProof(services.otp, tenant, ctx, "login", given)
    spending.spend()
    assert checking.give_back() is False  # another proof's spend is not this one's to undo
    assert spending.give_back() is True
    assert spending.give_back() is False
    again = CodeProof(services.otp, tenant, ctx, "login", given)
    again.spend()
    with pytest.raises(IdpError):
        CodeProof(services.otp, tenant, ctx, "login", given).spend()
