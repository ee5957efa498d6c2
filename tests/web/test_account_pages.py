"""Sign-up, forgot/reset password and the account page."""

from __future__ import annotations

from idp.accounts.passwords import verify_password
from tests.web.conftest import CTX, PASSWORD, PHONE, csrf_token, submit, text


def _code_step(client, start: str, field: str, target: str, get_url: str | None = None) -> str:
    response = submit(client, start, {field: target}, get_url=get_url)
    assert response.status_code == 302, text(response)
    return response.headers["Location"]


def test_signup_by_sms_creates_a_verified_user_and_signs_in(client, services, authz, outbox):
    authz_id = authz()
    verify = _code_step(client, f"/signup/sms?authz={authz_id}", "phone_number", "+8613700007777")
    assert verify == f"/signup/sms/verify?authz={authz_id}"
    page = text(client.get(verify))
    assert "+86 137****7777" in page
    response = client.post(
        verify,
        data={
            "csrf_token": csrf_token(page),
            "code": outbox.last_code("+8613700007777"),
            "name": "Bob",
            "username": "bob",
            "password": "bobs password",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/oauth2/authorize/continue?authz={authz_id}"
    user = services.users.by_contact("sms", "+8613700007777")
    assert user.phone_verified and user.username == "bob" and user.name == "Bob"
    assert verify_password(user.password_hash, "bobs password")
    assert services.sessions.get(client.get_cookie("gh_sso").value).sub == user.sub


def test_signup_by_email_without_password(client, services, sources, outbox):
    verify = _code_step(client, "/signup/email", "email", "carol@example.com")
    page = text(client.get(verify))
    response = client.post(verify, data={"csrf_token": csrf_token(page), "code": outbox.last_code("carol@example.com")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    user = services.users.by_contact("email", "carol@example.com")
    assert user.email_verified and user.password_hash is None


def test_signup_with_a_registered_number_says_so(client, user, sources):
    response = submit(client, "/signup/sms", {"phone_number": PHONE})
    assert response.status_code == 409
    assert "This phone number is already registered." in text(response)


def test_signup_short_password_is_a_field_error(client, sources, outbox):
    verify = _code_step(client, "/signup/sms", "phone_number", "+8613700008888")
    page = text(client.get(verify))
    response = client.post(
        verify, data={"csrf_token": csrf_token(page), "code": outbox.last_code("+8613700008888"), "password": "short"}
    )
    assert response.status_code == 400
    assert "Use at least 8 characters." in text(response)
    assert 'aria-describedby="password-hint password-error"' in text(response)


def test_signup_redirects_to_the_first_channel(client, sources):
    assert client.get("/signup").headers["Location"] == "/signup/sms"


def test_forgot_and_reset_password(client, services, user, signed_in, outbox):
    old_session = client.get_cookie("gh_sso").value
    reset = _code_step(client, "/forgot/sms", "phone_number", PHONE)
    assert reset == "/forgot/sms/reset"
    page = text(client.get(reset))
    response = client.post(
        reset,
        data={"csrf_token": csrf_token(page), "code": outbox.last_code(PHONE), "password": "a brand new password"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/forgot/done"
    assert "Password changed" in text(client.get("/forgot/done"))
    assert services.sessions.get(old_session) is None  # every session ended
    again = submit(client, "/login", {"username": "alice", "password": "a brand new password"})
    assert again.status_code == 302


def test_forgot_password_for_an_unknown_number_sends_a_code_all_the_same(client, sources, outbox):
    reset = _code_step(client, "/forgot/sms", "phone_number", "+8613700009999")
    assert reset == "/forgot/sms/reset"
    assert outbox.last_code("+8613700009999")


def test_account_needs_a_session(client, sources):
    assert client.get("/account").headers["Location"] == "/login"


def test_account_profile(client, services, user, signed_in):
    response = submit(client, "/account/profile", {"name": "Alice Liddell", "locale": "zh-CN"}, get_url="/account")
    assert response.status_code == 302
    page = text(client.get("/account"))
    assert "Your profile was saved." in page
    assert 'value="Alice Liddell"' in page
    refreshed = services.users.by_sub(user.sub)
    services.db.session.refresh(refreshed)
    assert refreshed.locale == "zh-CN"


def test_account_change_password(client, services, user, signed_in):
    wrong = submit(
        client,
        "/account/password",
        {"current_password": "nope nope", "password": "another password"},
        get_url="/account",
    )
    assert wrong.status_code == 400
    assert "Your current password is not right." in text(wrong)
    ok = submit(
        client, "/account/password", {"current_password": PASSWORD, "password": "another password"}, get_url="/account"
    )
    assert ok.status_code == 302
    assert "Your password was changed." in text(client.get("/account"))


def test_account_change_email_by_code(client, services, user, signed_in, outbox):
    verify = _code_step(client, "/account/contact/email", "email", "new@example.com", get_url="/account")
    assert verify == "/account/contact/email/verify"
    page = text(client.get(verify))
    assert "n***@example.com" in page
    response = client.post(verify, data={"csrf_token": csrf_token(page), "code": outbox.last_code("new@example.com")})
    assert response.status_code == 302
    fresh = services.users.by_sub(user.sub)
    services.db.session.refresh(fresh)
    assert fresh.email == "new@example.com" and fresh.email_verified


def test_account_contact_form_error_is_shown_on_the_account_page(client, signed_in):
    response = submit(client, "/account/contact/sms", {"phone_number": "12"}, get_url="/account")
    assert response.status_code == 400
    body = text(response)
    assert "Enter a valid phone number." in body
    assert "Your account" in body


def test_sign_out_everywhere(client, services, user, signed_in):
    other = services.sessions.create(user.sub, ["pwd"], CTX)
    response = submit(client, "/account/sign-out-everywhere", {}, get_url="/account")
    assert response.status_code == 302
    assert services.sessions.get(other.id) is None
    assert client.get("/account").status_code == 302
