"""tests/factories.py builds what it says, through the real services (so a trait that
silently did nothing would let the tests that rely on it pass for the wrong reason)."""

from __future__ import annotations

import pytest

from idp.accounts.passwords import verify_password
from idp.context import RequestContext
from idp.errors import IdpError
from tests.factories import (
    MOCK_EMAIL_OTP_AUTH_SOURCE_ID,
    MOCK_SMS_OTP_AUTH_SOURCE_ID,
    PASSWORD,
    SECRET,
    SPA_CLIENT_ID,
    TENANT_CLIENT_ID,
    TENANT_CLIENT_SECRET,
    applications,
    auth_sources,
    users,
)

CTX = RequestContext(ip="127.0.0.1")


def test_a_person_with_every_trait(services):
    ada = users.create(
        services,
        "ada",
        with_verified_phone="136 1234 5678",
        with_verified_email="Ada@Example.com",
        with_sms_factor=True,
        with_email_factor=True,
        with_totp=True,
        name="Ada",
    )
    stored = services.users.by_sub(ada.sub)
    assert (stored.username, stored.name) == ("ada", "Ada")
    assert (stored.phone_number, stored.phone_verified) == ("+8613612345678", True)
    assert (stored.email, stored.email_verified) == ("ada@example.com", True)
    assert verify_password(stored.password_hash, PASSWORD)
    assert sorted(services.factors.ready_types(ada.sub)) == ["otp_email", "otp_sms", "totp"]
    # the authenticator's current code is still unused: enrolment spent the previous step's
    assert services.factors.check_totp(ada.sub, users.totp(services, ada).now(), RequestContext()) is True


def test_defaults_are_unique_and_minimal(services):
    first, second = users.create(services), users.create(services, with_verified_phone=True)
    assert first.username != second.username
    assert first.phone_number is None and not first.email and services.factors.ready_types(first.sub) == []
    assert second.phone_verified and second.phone_number.startswith("+86")
    nobody = users.create(services, None, with_password=False, phone_number="+8613712345678")
    assert (nobody.username, nobody.password_hash, nobody.phone_verified) == (None, None, False)


def test_locked_is_the_administrators_lock(services, seeded):
    locked = users.create(services, "kept-out", locked=True)
    assert services.users.by_sub(locked.sub).status == "locked"
    with pytest.raises(IdpError) as caught:
        services.login.password(services.clients.by_client_id(TENANT_CLIENT_ID), CTX, "kept-out", PASSWORD)
    assert caught.value.code == "account.abnormal_status"


def test_applications_and_their_sources(services):
    sms, mail = auth_sources.both(services)
    assert (sms.kind, mail.kind, sms.code_ttl) == ("sms", "email", 60)
    web = applications.create(services, mfa="required", login_methods=["password"], auth_sources=[sms, mail.id])
    assert (web.type, web.mfa, web.login_methods, web.auto_signup) == ("web", "required", ["password"], False)
    assert sorted(s.id for s in services.clients.by_client_id(web.client_id).auth_sources) == sorted([sms.id, mail.id])
    assert web.check_client_secret(SECRET)
    spa = applications.create(services, "spa", auto_signup=True)
    assert spa.is_public and spa.auto_signup and spa.client_id != web.client_id
    robot = applications.create(services, "m2m", scopes=["admin"])
    assert robot.redirect_uris == [] and robot.check_client_secret(SECRET)


def test_the_seed_documents_clients(services, seeded):
    tenant = services.clients.by_client_id(TENANT_CLIENT_ID)
    assert tenant.check_client_secret(TENANT_CLIENT_SECRET)
    assert sorted(s.id for s in tenant.auth_sources) == sorted(
        [MOCK_SMS_OTP_AUTH_SOURCE_ID, MOCK_EMAIL_OTP_AUTH_SOURCE_ID]
    )
    assert services.clients.by_client_id(SPA_CLIENT_ID).is_public
