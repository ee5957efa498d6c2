"""SelfService on real Redis and SQL: every rule once, including failures that change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.accounts.passwords import verify_password
from idp.accounts.proofs import ContactCode
from idp.context import RequestContext
from idp.errors import IdpError
from idp.models import AuditEvent, RefreshToken, User
from idp.oauth.tokens import Principal
from idp.store import Keys
from tests.factories import users

PHONE, PHONE_RAW = "+8613712345678", "13712345678"
EMAIL = "new.person@example.com"


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(ip="127.0.0.1", user_agent="pytest")


@pytest.fixture
def tenant(seeded):
    return seeded.clients.by_client_id("TENANT_CLIENT_ID")


@pytest.fixture
def selfsvc(services):
    return services.self_service


def send(services, client, ctx, channel, target, usage, auth_source_id=None):
    return services.otp.send(client, channel, target, usage, auth_source_id, ctx).otp_token


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def users_count(services) -> int:
    return len(list(services.db.session.scalars(select(User))))


def still_usable(services, client, channel, target, usage, token, code) -> bool:
    """The code was not spent: a check without consuming it still passes."""
    services.otp.verify(client, channel, target, usage, "", token, code, consume=False)
    return True


def give_sessions_and_tokens(services, user, client, ctx, n=2):
    for _ in range(n):
        services.sessions.create(user.sub, ["pwd"], ctx)
    with services.db.transaction():
        for i in range(n):
            services.refresh_tokens.add(
                f"refresh-{user.sub}-{i}", client, Principal(user=user, auth_time=0, amr=["pwd"]), "openid"
            )
    return services.devices.remember(user.sub, ctx, days=30)  # a "remember this device" credential


def live_refresh_tokens(services, sub) -> int:
    query = select(RefreshToken).where(RefreshToken.sub == sub, RefreshToken.revoked_at.is_(None))
    return len(list(services.db.session.scalars(query)))


def code_error(excinfo) -> str:
    return excinfo.value.code


def code_of(channel, target, otp_token, code, auth_source_id):
    return ContactCode(channel, target, otp_token, code, auth_source_id) if channel else None


@pytest.fixture
def signup(services):
    """The one sign-up (``SignUpFlow.sign_up``) with a code, or none; the new user."""

    def call(client, ctx, *, channel, target, otp_token, code, auth_source_id, **extra):
        proof = code_of(channel, target, otp_token, code, auth_source_id)
        return services.signup.sign_up(client, ctx, proof, **extra).user

    return call


@pytest.fixture
def reset(services):
    """The one password reset (``SelfService.reset_password``) with a code."""

    def call(client, ctx, *, channel, target, otp_token, code, new_password, auth_source_id):
        proof = code_of(channel, target, otp_token, code, auth_source_id)
        return services.self_service.reset_password(client, ctx, proof, new_password)

    return call


# -- signup ---------------------------------------------------------------------------------


def test_signup_with_sms_code_marks_the_phone_verified(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "signup")
    code = outbox.last_code(PHONE)
    user = signup(
        tenant,
        ctx,
        channel="sms",
        target=PHONE_RAW,
        otp_token=token,
        code=code,
        auth_source_id=None,
        profile={"name": "New Person"},
    )
    stored = services.users.by_sub(user.sub)
    assert stored.phone_number == PHONE and stored.phone_verified and stored.name == "New Person"
    assert stored.password_hash is None
    with pytest.raises(IdpError) as excinfo:  # single use
        services.otp.verify(tenant, "sms", PHONE, "signup", "", token, code)
    assert code_error(excinfo) == "otp.unknown_token"
    [event] = events(services, "user.signup")
    assert event.sub == user.sub and event.details["method"] == "otp_sms"


def test_signup_with_email_code_username_and_password(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "email", "New.Person@Example.com", "signup")
    user = signup(
        tenant,
        ctx,
        channel="email",
        target="New.Person@Example.com",
        otp_token=token,
        code=outbox.last_code(EMAIL),
        auth_source_id=None,
        username="newperson",
        password="a long password",
    )
    assert user.email == EMAIL and user.email_verified and not user.phone_verified
    assert user.username == "newperson"
    assert verify_password(user.password_hash, "a long password")


def test_signup_with_auth_source_code(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "signup", "MOCK_SMS_OTP_AUTH_SOURCE_ID")
    user = signup(
        tenant,
        ctx,
        channel="sms",
        target=PHONE,
        otp_token=token,
        code=outbox.last_code(),
        auth_source_id="MOCK_SMS_OTP_AUTH_SOURCE_ID",
    )
    assert user.phone_number == PHONE


def test_signup_with_username_and_password_only(services, selfsvc, tenant, ctx, signup):
    user = signup(
        tenant,
        ctx,
        channel=None,
        target=None,
        otp_token=None,
        code=None,
        auth_source_id=None,
        username="alice",
        password="correct horse",
    )
    assert services.users.by_sub(user.sub).username == "alice"
    assert events(services, "user.signup")[0].details["method"] == "password"


@pytest.mark.parametrize(("username", "password"), [(None, "correct horse"), ("alice", None), (None, None)])
def test_signup_without_an_identifier_is_refused(services, selfsvc, tenant, ctx, username, password, signup):
    with pytest.raises(IdpError) as excinfo:
        signup(
            tenant,
            ctx,
            channel=None,
            target=None,
            otp_token=None,
            code=None,
            auth_source_id=None,
            username=username,
            password=password,
        )
    assert code_error(excinfo) == "signup.identifier_required"
    assert users_count(services) == 0


@pytest.mark.parametrize(
    ("username", "error"),
    [("a", "account.invalid_username"), ("-dash", "account.invalid_username"), ("x" * 49, "account.invalid_username")],
)
def test_signup_username_rules(selfsvc, tenant, ctx, username, error, signup):
    with pytest.raises(IdpError) as excinfo:
        signup(
            tenant,
            ctx,
            channel=None,
            target=None,
            otp_token=None,
            code=None,
            auth_source_id=None,
            username=username,
            password="correct horse",
        )
    assert code_error(excinfo) == error


def test_signup_taken_username_leaves_the_code_unspent(services, selfsvc, tenant, outbox, ctx, signup):
    users.create(services, "taken", with_password=False)
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "signup")
    code = outbox.last_code(PHONE)
    with pytest.raises(IdpError) as excinfo:
        signup(
            tenant,
            ctx,
            channel="sms",
            target=PHONE_RAW,
            otp_token=token,
            code=code,
            auth_source_id=None,
            username="taken",
            password="correct horse",
        )
    assert code_error(excinfo) == "account.username_taken"
    assert users_count(services) == 1
    assert services.users.by_contact("sms", PHONE) is None
    # the same code still works with another username
    user = signup(
        tenant,
        ctx,
        channel="sms",
        target=PHONE_RAW,
        otp_token=token,
        code=code,
        auth_source_id=None,
        username="free",
        password="correct horse",
    )
    assert user.username == "free"


def test_signup_contact_taken_after_the_send_leaves_the_code_unspent(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "signup")
    code = outbox.last_code(PHONE)
    users.create(services, None, with_password=False, phone_number=PHONE)  # someone else got there first
    with pytest.raises(IdpError) as excinfo:
        signup(tenant, ctx, channel="sms", target=PHONE_RAW, otp_token=token, code=code, auth_source_id=None)
    assert code_error(excinfo) == "account.phone_taken"
    assert users_count(services) == 1
    assert still_usable(services, tenant, "sms", PHONE, "signup", token, code)


def test_signup_wrong_code_creates_nobody(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "signup")
    code = outbox.last_code(PHONE)
    with pytest.raises(IdpError) as excinfo:
        signup(tenant, ctx, channel="sms", target=PHONE_RAW, otp_token=token, code=wrong(code), auth_source_id=None)
    assert code_error(excinfo) == "otp.wrong_code"
    assert users_count(services) == 0
    [event] = events(services, "user.signup")  # refusals are audited with the reason only
    assert (event.result, event.client_id, event.details) == (
        "failure",
        "TENANT_CLIENT_ID",
        {"reason": "otp.wrong_code"},
    )


def test_signup_short_password_is_refused_before_the_code_is_tried(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "signup")
    code = outbox.last_code(PHONE)
    with pytest.raises(IdpError) as excinfo:
        signup(
            tenant,
            ctx,
            channel="sms",
            target=PHONE_RAW,
            otp_token=token,
            code=code,
            auth_source_id=None,
            password="short",
        )
    assert code_error(excinfo) == "password.too_short"
    assert still_usable(services, tenant, "sms", PHONE, "signup", token, code)


def test_signup_with_a_login_code_is_a_mismatch(services, selfsvc, tenant, outbox, ctx, signup):
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "login", "MOCK_SMS_OTP_AUTH_SOURCE_ID")
    with pytest.raises(IdpError) as excinfo:
        signup(
            tenant,
            ctx,
            channel="sms",
            target=PHONE_RAW,
            otp_token=token,
            code=outbox.last_code(PHONE),
            auth_source_id=None,
        )
    assert code_error(excinfo) == "otp.mismatch"


def test_signup_unknown_profile_field_is_refused(selfsvc, tenant, ctx, signup):
    with pytest.raises(IdpError) as excinfo:
        signup(
            tenant,
            ctx,
            channel=None,
            target=None,
            otp_token=None,
            code=None,
            auth_source_id=None,
            username="alice",
            password="correct horse",
            profile={"status": "active"},
        )
    assert code_error(excinfo) == "account.invalid_field"


# -- reset password -------------------------------------------------------------------------


@pytest.fixture
def person(services):
    return users.create(services, "person", with_password="old password", with_verified_phone=PHONE, email=EMAIL)


def test_reset_password_sets_the_hash_and_signs_out_everywhere(services, selfsvc, tenant, outbox, ctx, person, reset):
    device = give_sessions_and_tokens(services, person, tenant, ctx)
    assert services.devices.is_remembered(person.sub, device)
    token = send(services, tenant, ctx, "email", EMAIL, "reset_password")
    reset(
        tenant,
        ctx,
        channel="email",
        target=EMAIL,
        otp_token=token,
        code=outbox.last_code(EMAIL),
        new_password="brand new password",
        auth_source_id=None,
    )
    stored = services.users.by_sub(person.sub)
    assert verify_password(stored.password_hash, "brand new password")
    assert not verify_password(stored.password_hash, "old password")
    assert stored.email_verified  # receiving the code proved the address
    assert services.redis.smembers(Keys.user_sessions(person.sub)) == set()
    assert live_refresh_tokens(services, person.sub) == 0
    assert not services.devices.is_remembered(person.sub, device)  # MFA is asked again
    [event] = events(services, "password.reset")
    assert event.details["refresh_tokens_revoked"] == 2
    assert "brand new password" not in str(event.details)


def test_reset_password_unknown_contact_spends_nothing(services, selfsvc, tenant, outbox, ctx, person, reset):
    token = send(services, tenant, ctx, "sms", "13812345678", "reset_password")
    code = outbox.last_code("+8613812345678")
    with pytest.raises(IdpError) as excinfo:
        reset(
            tenant,
            ctx,
            channel="sms",
            target="13812345678",
            otp_token=token,
            code=code,
            new_password="brand new password",
            auth_source_id=None,
        )
    assert code_error(excinfo) == "account.user_not_found"
    assert still_usable(services, tenant, "sms", "+8613812345678", "reset_password", token, code)
    assert events(services, "password.reset")[0].result == "failure"


def test_reset_password_wrong_code_changes_nothing(services, selfsvc, tenant, outbox, ctx, person, reset):
    give_sessions_and_tokens(services, person, tenant, ctx, n=1)
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "reset_password")
    with pytest.raises(IdpError) as excinfo:
        reset(
            tenant,
            ctx,
            channel="sms",
            target=PHONE_RAW,
            otp_token=token,
            code=wrong(outbox.last_code(PHONE)),
            new_password="brand new password",
            auth_source_id=None,
        )
    assert code_error(excinfo) == "otp.wrong_code"
    assert verify_password(services.users.by_sub(person.sub).password_hash, "old password")
    assert live_refresh_tokens(services, person.sub) == 1
    assert len(services.redis.smembers(Keys.user_sessions(person.sub))) == 1


def test_reset_password_locked_user_is_refused(services, selfsvc, tenant, outbox, ctx, person, reset):
    services.users.update(person.sub, {"status": "locked"}, ctx)
    token = send(services, tenant, ctx, "sms", PHONE_RAW, "reset_password")
    code = outbox.last_code(PHONE)
    with pytest.raises(IdpError) as excinfo:
        reset(
            tenant,
            ctx,
            channel="sms",
            target=PHONE_RAW,
            otp_token=token,
            code=code,
            new_password="brand new password",
            auth_source_id=None,
        )
    assert code_error(excinfo) == "account.abnormal_status"
    assert still_usable(services, tenant, "sms", PHONE, "reset_password", token, code)


def test_reset_password_too_short(selfsvc, tenant, ctx, person, reset):
    with pytest.raises(IdpError) as excinfo:
        reset(
            tenant,
            ctx,
            channel="sms",
            target=PHONE_RAW,
            otp_token="x",
            code="1",
            new_password="short",
            auth_source_id=None,
        )
    assert code_error(excinfo) == "password.too_short"


# -- change password ------------------------------------------------------------------------


def test_change_password(services, selfsvc, ctx, person):
    before = person.sequence
    selfsvc.change_password(person.sub, ctx, old_password="old password", new_password="brand new password")
    stored = services.users.by_sub(person.sub)
    assert verify_password(stored.password_hash, "brand new password")
    assert stored.sequence == before + 1
    assert events(services, "password.change")[0].result == "success"


def test_change_password_wrong_old_password(services, selfsvc, ctx, person):
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_password(person.sub, ctx, old_password="not it", new_password="brand new password")
    assert code_error(excinfo) == "password.mismatch"
    assert verify_password(services.users.by_sub(person.sub).password_hash, "old password")
    assert events(services, "password.change")[0].result == "failure"


def test_change_password_to_the_same_password(services, selfsvc, ctx, person):
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_password(person.sub, ctx, old_password="old password", new_password="old password")
    assert code_error(excinfo) == "password.same_as_old"


def test_change_password_when_none_is_set(services, selfsvc, ctx):
    user = users.create(services, None, with_password=False, phone_number=PHONE)
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_password(user.sub, ctx, old_password="", new_password="brand new password")
    assert code_error(excinfo) == "password.not_set"


def test_change_password_new_too_short(services, selfsvc, ctx, person):
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_password(person.sub, ctx, old_password="old password", new_password="short")
    assert code_error(excinfo) == "password.too_short"


def test_change_password_unknown_user(selfsvc, ctx):
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_password("nobody", ctx, old_password="x", new_password="brand new password")
    assert code_error(excinfo) == "account.not_found"


# -- profile --------------------------------------------------------------------------------


def test_update_profile(services, selfsvc, ctx, person):
    before = person.sequence
    user = selfsvc.update_profile(person.sub, ctx, {"name": "  Person  ", "locale": "zh-CN", "username": "renamed"})
    stored = services.users.by_sub(user.sub)
    assert (stored.name, stored.locale, stored.username) == ("Person", "zh-CN", "renamed")
    assert stored.sequence == before + 1
    assert events(services, "account.update")[0].details["fields"] == ["locale", "name", "username"]
    cleared = selfsvc.update_profile(person.sub, ctx, {"name": None, "locale": None})
    assert cleared.name is None and cleared.locale is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "x@example.com"}, "account.invalid_field"),
        ({"status": "active"}, "account.invalid_field"),
        ({"locale": "not a locale"}, "account.invalid_locale"),
        ({"name": "x" * 201}, "account.invalid_name"),
        ({"username": None}, "account.invalid_username"),
    ],
)
def test_update_profile_refuses_bad_fields(services, selfsvc, ctx, person, fields, error):
    with pytest.raises(IdpError) as excinfo:
        selfsvc.update_profile(person.sub, ctx, fields)
    assert code_error(excinfo) == error


def test_update_profile_taken_username(services, selfsvc, ctx, person):
    users.create(services, "other", with_password=False)
    with pytest.raises(IdpError) as excinfo:
        selfsvc.update_profile(person.sub, ctx, {"username": "other", "name": "Changed"})
    assert code_error(excinfo) == "account.username_taken"
    [event] = events(services, "account.update")
    assert (event.result, event.sub, event.details) == ("failure", person.sub, {"reason": "account.username_taken"})
    services.db.session.expire_all()
    stored = services.users.by_sub(person.sub)
    assert stored.username == "person" and stored.name is None


def test_update_profile_locked_user(services, selfsvc, ctx, person):
    services.users.update(person.sub, {"status": "disabled"}, ctx)
    with pytest.raises(IdpError) as excinfo:
        selfsvc.update_profile(person.sub, ctx, {"name": "x"})
    assert code_error(excinfo) == "account.abnormal_status"


# -- contacts -------------------------------------------------------------------------------


def test_change_contact(services, selfsvc, tenant, outbox, ctx, person):
    token = send(services, tenant, ctx, "sms", "13812345678", "update_userinfo")
    user = selfsvc.change_contact(
        tenant,
        person.sub,
        ctx,
        channel="sms",
        target="13812345678",
        otp_token=token,
        code=outbox.last_code("+8613812345678"),
        auth_source_id=None,
    )
    assert user.phone_number == "+8613812345678" and user.phone_verified
    assert services.users.by_contact("sms", PHONE) is None


def test_change_contact_verifies_an_unverified_email(services, selfsvc, tenant, outbox, ctx, person):
    token = send(services, tenant, ctx, "email", EMAIL, "update_userinfo")
    user = selfsvc.change_contact(
        tenant,
        person.sub,
        ctx,
        channel="email",
        target=EMAIL,
        otp_token=token,
        code=outbox.last_code(EMAIL),
        auth_source_id=None,
    )
    assert user.email == EMAIL and user.email_verified


def test_change_contact_taken_by_someone_else(services, selfsvc, tenant, outbox, ctx, person):
    users.create(services, None, with_password=False, phone_number="+8613812345678")
    token = send(services, tenant, ctx, "sms", "13812345678", "update_userinfo")
    code = outbox.last_code("+8613812345678")
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_contact(
            tenant,
            person.sub,
            ctx,
            channel="sms",
            target="13812345678",
            otp_token=token,
            code=code,
            auth_source_id=None,
        )
    assert code_error(excinfo) == "account.phone_taken"
    assert still_usable(services, tenant, "sms", "+8613812345678", "update_userinfo", token, code)
    assert services.users.by_sub(person.sub).phone_number == PHONE


def test_change_contact_wrong_code(services, selfsvc, tenant, outbox, ctx, person):
    token = send(services, tenant, ctx, "sms", "13812345678", "update_userinfo")
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_contact(
            tenant,
            person.sub,
            ctx,
            channel="sms",
            target="13812345678",
            otp_token=token,
            code=wrong(outbox.last_code("+8613812345678")),
            auth_source_id=None,
        )
    assert code_error(excinfo) == "otp.wrong_code"
    assert services.users.by_sub(person.sub).phone_number == PHONE


def test_change_contact_code_sent_to_another_target(services, selfsvc, tenant, outbox, ctx, person):
    token = send(services, tenant, ctx, "sms", "13812345678", "update_userinfo")
    with pytest.raises(IdpError) as excinfo:
        selfsvc.change_contact(
            tenant,
            person.sub,
            ctx,
            channel="sms",
            target="13912345678",
            otp_token=token,
            code=outbox.last_code("+8613812345678"),
            auth_source_id=None,
        )
    assert code_error(excinfo) == "otp.mismatch"


def test_update_userinfo_profile_and_contacts_together(services, selfsvc, tenant, outbox, ctx, person):
    sms = send(services, tenant, ctx, "sms", "13812345678", "update_userinfo")
    sms_code = outbox.last_code("+8613812345678")
    mail = send(services, tenant, ctx, "email", "other@example.com", "update_userinfo")
    before = person.sequence
    user = selfsvc.update_userinfo(
        tenant,
        person.sub,
        ctx,
        profile={"name": "Both"},
        contacts=[
            ContactCode("sms", "13812345678", sms, sms_code),
            ContactCode("email", "other@example.com", mail, outbox.last_code("other@example.com")),
        ],
    )
    assert (user.name, user.phone_number, user.email) == ("Both", "+8613812345678", "other@example.com")
    assert user.sequence == before + 1  # one change


# -- sign out everywhere --------------------------------------------------------------------


def test_sign_out_everywhere(services, selfsvc, tenant, ctx, person):
    device = give_sessions_and_tokens(services, person, tenant, ctx, n=3)
    other = users.create(services, "bystander", with_password=False)
    other_device = give_sessions_and_tokens(services, other, tenant, ctx, n=1)
    assert selfsvc.sign_out_everywhere(person.sub, ctx) == 3
    assert live_refresh_tokens(services, person.sub) == 0
    assert live_refresh_tokens(services, other.sub) == 1
    assert len(services.redis.smembers(Keys.user_sessions(other.sub))) == 1
    assert not services.devices.is_remembered(person.sub, device)
    assert services.devices.is_remembered(other.sub, other_device)
    [event] = events(services, "account.sign_out_everywhere")
    assert event.details == {"sessions": 3, "refresh_tokens_revoked": 3, "devices_revoked": 1}
    assert selfsvc.sign_out_everywhere(person.sub, ctx) == 0
