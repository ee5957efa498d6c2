"""LoginFlow: the hosted pages' first factor, without HTTP."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from idp.accounts.passwords import Passwords
from idp.accounts.users import UserService
from idp.contacts import mask_target
from idp.context import RequestContext
from idp.errors import IdpError
from idp.flows.login import LoginFlow
from idp.models import AuditEvent
from tests.factories import applications, auth_sources, users
from tests.helpers import redis_calls

CTX = RequestContext(ip="127.0.0.1")
PHONE = "+8613612345678"


@pytest.fixture
def app_client(services):
    sources = [auth_sources.create(services, "sms", id="SMS"), auth_sources.create(services, "email", id="EMAIL")]

    def make(**extra):
        return applications.create(services, client_id="APP", name="App", **{"auth_sources": sources, **extra})

    return make


@pytest.fixture
def alice(services):
    return users.create(
        services, "alice", with_password="alice password", phone_number=PHONE, email="alice@example.com"
    )


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


@pytest.mark.parametrize("identifier", ["alice", "alice@example.com", PHONE, "136 1234 5678"])
def test_password_with_any_identifier(services, app_client, alice, identifier):
    done = services.login.password(app_client(), CTX, identifier, "alice password")
    assert done.user.sub == alice.sub
    assert done.amr == ["pwd"]
    assert events(services, "login.success")[0].sub == alice.sub


class CountingPasswords(Passwords):
    """The real hasher, which also notes every hash a password is checked against."""

    def __init__(self, settings) -> None:
        super().__init__(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
        self.checked: list[str | None] = []

    def verify(self, stored_hash: str | None, password: str) -> bool:
        self.checked.append(stored_hash)
        return super().verify(stored_hash, password)


def test_unknown_user_and_no_password_cost_one_verification_each(services, app_client, alice):
    users.create(services, "nopass", with_password=False)
    counting = CountingPasswords(services.settings)
    login = LoginFlow(
        services.settings,
        services.db,
        UserService(services.db, services.settings.default_region, counting, services.bruteforce),
        services.otp,
        services.sessions,
        services.bruteforce,
        services.signup,
        services.clock,
    )
    client = app_client()
    codes = []
    for name in ("alice", "nobody", "nopass"):
        with pytest.raises(IdpError) as caught:
            login.password(client, CTX, name, "wrong password")
        codes.append(caught.value.code)
    # a user without a password answers like a wrong password, after the same argon2
    # verification as everyone else (against a dummy hash); the audit event keeps the real reason
    assert codes == ["login.invalid_credentials"] * 3
    assert counting.checked == [alice.password_hash, None, None]
    assert counting._dummy.startswith("$argon2id$")  # what "no hash" is verified against
    failures = events(services, "login.failure")
    assert [e.result for e in failures] == ["failure"] * 3
    assert sorted(e.details["reason"] for e in failures) == [
        "login.invalid_credentials",
        "login.invalid_credentials",
        "password.not_set",
    ]


def test_locked_user(services, app_client, alice):
    services.users.update(alice.sub, {"status": "locked"}, CTX)
    client = app_client()
    with pytest.raises(IdpError) as caught:
        services.login.password(client, CTX, "alice", "alice password")
    assert caught.value.code == "account.abnormal_status"
    with pytest.raises(IdpError) as caught:  # without the password, the status stays hidden
        services.login.password(client, CTX, "alice", "wrong password")
    assert caught.value.code == "login.invalid_credentials"


def test_methods_the_client_does_not_enable_are_refused(services, app_client, alice):
    client = app_client(login_methods=["email_otp"])
    with pytest.raises(IdpError) as caught:
        services.login.password(client, CTX, "alice", "alice password")
    assert caught.value.code == "login.method_disabled"
    with pytest.raises(IdpError) as caught:
        services.login.send_code(client, CTX, "sms", PHONE)
    assert caught.value.code == "login.method_disabled"
    assert services.login.send_code(client, CTX, "email", "alice@example.com").otp_token


def test_code_login(services, app_client, alice, outbox):
    client = app_client()
    sent = services.login.send_code(client, CTX, "sms", "13612345678")
    assert sent.target == PHONE
    done = services.login.verify_code(client, CTX, "sms", PHONE, sent.otp_token, outbox.last_code(PHONE))
    assert done.user.sub == alice.sub
    assert done.amr == ["otp", "sms"]


def test_unknown_number_answers_like_a_wrong_code_and_keeps_the_code(services, app_client, outbox):
    client = app_client()
    sent = services.login.send_code(client, CTX, "sms", "+8613700001234")  # no account: sent all the same
    code = outbox.last_code("+8613700001234")
    with pytest.raises(IdpError) as caught:
        services.login.verify_code(client, CTX, "sms", "+8613700001234", sent.otp_token, code)
    assert caught.value.code == "otp.wrong_code"
    # not spent
    services.otp.verify(client, "sms", "+8613700001234", "login", "SMS", sent.otp_token, code, consume=False)


def test_auto_signup(services, app_client, outbox):
    client = app_client(auto_signup=True)
    sent = services.login.send_code(client, CTX, "email", "new@example.com")
    done = services.login.verify_code(
        client, CTX, "email", "new@example.com", sent.otp_token, outbox.last_code("new@example.com")
    )
    assert done.user.email == "new@example.com" and done.user.email_verified


def test_rehash_on_login_when_parameters_change(services, app_client, alice):
    old_hash = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash("alice password")
    with services.db.transaction() as session:  # stored when the parameters were other than today's
        session.merge(alice).password_hash = old_hash
    services.login.password(app_client(), CTX, "alice", "alice password")
    user = services.users.by_sub(alice.sub)
    services.db.session.refresh(user)
    assert user.password_hash != old_hash
    assert "m=8,t=1" in user.password_hash


def test_start_session_rotates(services, app_client, alice):
    done = services.login.password(app_client(), CTX, "alice", "alice password")
    first = services.login.start_session(done, CTX)
    second = services.login.start_session(done, CTX, replaces=first.id)
    assert first.id != second.id
    assert services.sessions.get(first.id) is None
    assert services.sessions.get(second.id).amr == ["pwd"]


@pytest.mark.parametrize(
    ("channel", "target", "masked"),
    [
        ("sms", "+8613612345678", "+86 136****5678"),
        ("sms", "+14155550123", "+1 415****0123"),
        ("email", "alice@example.com", "a***@example.com"),
    ],
)
def test_mask_target(channel, target, masked):
    assert mask_target(channel, target) == masked


def hdel_calls(services) -> int:
    return redis_calls(services, "hdel")


def test_a_success_clears_the_failures_only_when_some_were_counted(services, app_client, alice):
    app = app_client()
    before = hdel_calls(services)
    services.login.password(app, CTX, "alice", "alice password")
    assert hdel_calls(services) == before  # nothing counted from this IP: no call to clear it

    with pytest.raises(IdpError):
        services.login.password(app, CTX, "alice", "a wrong password")
    assert services.bruteforce.check("alice", CTX, sub=alice.sub) is True  # one failure counted here
    services.login.password(app, CTX, "alice", "alice password")
    assert hdel_calls(services) == before + 1
    assert services.bruteforce.check("alice", CTX, sub=alice.sub) is False  # cleared by the success
