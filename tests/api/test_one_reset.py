"""One password reset for every face: Tencent CIAM ``POST /reset_user_password``, the hosted
``/forgot`` pages and CloudBase ``POST /auth/v1/reset`` all reach ``SelfService.reset_password``
with their own proof, and get the same effects: new hash, contact verified, every refresh
token, remembered device and SSO session gone, one ``password.reset`` event; the proof spent
last, so of concurrent resets with one proof exactly one wins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from idp.accounts.passwords import verify_password
from idp.accounts.proofs import ContactCode
from idp.context import RequestContext
from idp.errors import IdpError
from idp.flows.verification import TokenProof
from idp.models import AuditEvent, RefreshToken
from idp.oauth.tokens import Principal
from tests.conftest import basic
from tests.factories import applications, auth_sources, users

CTX = RequestContext(ip="127.0.0.1", user_agent="pytest")
PHONE, EMAIL = "+8613612345678", "reset.me@example.com"
APP = basic("reset-app", "reset-secret")


@pytest.fixture
def app_client(services):
    return applications.create(
        services,
        client_id="reset-app",
        client_secret="reset-secret",
        name="reset",
        auth_sources=auth_sources.both(services),
        scopes=["openid"],
    )


@pytest.fixture
def person(services, app_client):
    """Signed in everywhere: SSO sessions, a refresh token, a remembered device (skips MFA);
    the email address was never verified."""
    user = users.create(
        services, "resetme", with_password="old password", with_verified_phone=PHONE, email=EMAIL, email_verified=False
    )
    services.sessions.create(user.sub, ["pwd"], CTX)
    with services.db.transaction():
        services.refresh_tokens.add(
            "refresh-resetme", app_client, Principal(user=user, auth_time=0, amr=["pwd"]), "openid"
        )
    device = services.devices.remember(user.sub, CTX, days=30)
    assert services.devices.is_remembered(user.sub, device)
    return user, device


def live_refresh_tokens(services, sub) -> int:
    query = select(RefreshToken).where(RefreshToken.sub == sub, RefreshToken.revoked_at.is_(None))
    return len(list(services.db.session.scalars(query)))


def verification_token(client, outbox, **contact) -> str:
    sent = client.post(
        "/auth/v1/verification", json={**contact, "target": "USER", "usage": "PASSWORD_RESET"}, headers=APP
    )
    assert sent.status_code == 200, sent.get_json()
    verified = client.post(
        "/auth/v1/verification/verify",
        headers=APP,
        json={"verification_id": sent.get_json()["verification_id"], "verification_code": outbox.last_code()},
    )
    assert verified.status_code == 200, verified.get_json()
    return verified.get_json()["verification_token"]


def test_cloudbase_reset_revokes_remembered_devices_and_verifies_the_contact(client, services, outbox, person):
    user, device = person
    token = verification_token(client, outbox, email=EMAIL)
    response = client.post(
        "/auth/v1/reset", json={"verification_token": token, "new_password": "brand new secret"}, headers=APP
    )
    assert response.status_code == 200, response.get_json()
    services.db.session.expire_all()
    stored = services.users.by_sub(user.sub)
    assert verify_password(stored.password_hash, "brand new secret")
    assert stored.email_verified  # receiving the code proved the address
    assert not services.devices.is_remembered(user.sub, device)  # the thief's device asks for MFA again
    assert live_refresh_tokens(services, user.sub) == 0
    assert services.sessions.delete_all(user.sub) == 0
    [event] = services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == "password.reset"))
    assert event.details == {"channel": "email", "refresh_tokens_revoked": 1, "devices_revoked": 1}


def test_ciam_reset_has_the_same_effects(client, services, outbox, person, app_client):
    user, device = person
    sent = client.post("/otp/send", json={"usage": "reset_password", "email": EMAIL}, headers=APP)
    response = client.post(
        "/reset_user_password",
        headers=APP,
        json={
            "email": EMAIL,
            "otp_token": sent.get_json()["otp_token"],
            "otp": outbox.last_code(),
            "password": "brand new secret",
        },
    )
    assert response.status_code == 200, response.get_json()
    services.db.session.expire_all()
    stored = services.users.by_sub(user.sub)
    assert verify_password(stored.password_hash, "brand new secret") and stored.email_verified
    assert not services.devices.is_remembered(user.sub, device)
    assert live_refresh_tokens(services, user.sub) == 0


def _race(services, app_client, make_proof, n=6) -> list:
    """``n`` resets with one proof at once, each with its own new password."""

    def reset(i: int):
        try:
            services.self_service.reset_password(app_client, CTX, make_proof(), f"new password number {i}")
            return i
        except IdpError as exc:
            return exc.code
        finally:
            services.db.remove()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(reset, range(n)))


def test_concurrent_resets_with_one_code_have_one_winner(services, outbox, person, app_client):
    user, _ = person
    before = user.sequence
    sent = services.otp.send(app_client, "sms", PHONE, "reset_password", app_client.auth_source_for("sms"), CTX)
    code = ContactCode("sms", PHONE, sent.otp_token, outbox.last_code(PHONE), app_client.auth_source_for("sms"))
    results = _race(services, app_client, lambda: code)
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert set(results) - set(winners) == {"otp.unknown_token"}
    services.db.session.expire_all()
    stored = services.users.by_sub(user.sub)
    assert verify_password(stored.password_hash, f"new password number {winners[0]}")
    assert stored.sequence == before + 1  # the losers rolled back
    events = list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == "password.reset")))
    assert sorted(e.result for e in events) == ["failure"] * (len(results) - 1) + ["success"]


def test_concurrent_resets_with_one_verification_token_have_one_winner(client, services, outbox, person, app_client):
    user, _ = person
    token = verification_token(client, outbox, phone_number=PHONE)
    results = _race(
        services, app_client, lambda: TokenProof(services.verifications, app_client, token, ("reset_password",))
    )
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert set(results) - set(winners) == {"verification.invalid_token"}
    services.db.session.expire_all()
    assert verify_password(services.users.by_sub(user.sub).password_hash, f"new password number {winners[0]}")


def signed_in_with_code(client, outbox, app_client) -> str:
    """An access token of a real grant (Tencent CIAM's OTP grant) for the person's phone."""
    source = app_client.auth_source_for("sms")
    sent = client.post(
        "/otp/send",
        json={"usage": "login", "phone_number": PHONE, "auth_source_id": source},
        headers=APP,
    )
    assert sent.status_code == 200, sent.get_json()
    token = client.post(
        "/oauth2/token",
        json={
            "grant_type": "http://tencentciam.com/oauth2/grant-type/otp/sms",
            "client_id": "reset-app",
            "client_secret": "reset-secret",
            "auth_source_id": source,
            "phone_number": PHONE,
            "otp_token": sent.get_json()["otp_token"],
            "otp": outbox.last_code(PHONE),
        },
    )
    assert token.status_code == 200, token.get_json()
    access = token.get_json()["access_token"]
    assert client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    return access


def test_a_reset_ends_the_access_tokens_of_every_grant_too(client, services, outbox, person, app_client, clock):
    access = signed_in_with_code(client, outbox, app_client)
    clock.advance(31)  # the per-number interval before another code to the same phone
    sent = client.post("/otp/send", json={"usage": "reset_password", "phone_number": PHONE}, headers=APP)
    assert sent.status_code == 200, sent.get_json()
    code = outbox.last_code(PHONE)
    body = {"phone_number": PHONE, "otp_token": sent.get_json()["otp_token"], "otp": code, "password": "brand new key"}
    assert client.post("/reset_user_password", headers=APP, json=body).status_code == 200
    refused = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert refused.status_code == 401  # whoever held the old password's token is out now


def test_signing_out_everywhere_ends_the_access_tokens_too(client, services, outbox, person, app_client):
    user, _ = person
    access = signed_in_with_code(client, outbox, app_client)
    services.self_service.sign_out_everywhere(user.sub, CTX)
    refused = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert refused.status_code == 401
