"""Sign-in pages: password, SMS and email codes, session cookie and rotation, no enumeration."""

from __future__ import annotations

import re

import pytest

from tests.factories import users
from tests.web.conftest import CTX, PASSWORD, PHONE, csrf_token, submit, text

CONTINUE = re.compile(r"/oauth2/authorize/continue\?authz=(.+)$")


def sso_cookie(response) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("gh_sso=")]
    assert len(headers) == 1, response.headers
    return headers[0]


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def test_password_login_sets_cookie_and_continues_the_authorize_request(client, user, authz):
    authz_id = authz()
    response = submit(client, f"/login?authz={authz_id}", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/oauth2/authorize/continue?authz={authz_id}"
    header = sso_cookie(response)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # the test issuer is http


def test_password_login_without_authz_goes_to_the_account_page(client, user, sources):
    response = submit(client, "/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert "Alice" in text(client.get("/account"))


@pytest.mark.parametrize("identifier", ["alice", "alice@example.com", "ALICE@example.com", PHONE, "13612345678"])
def test_password_login_accepts_username_email_or_phone(client, user, sources, identifier):
    response = submit(client, "/login", {"username": identifier, "password": PASSWORD})
    assert response.status_code == 302


def test_session_id_rotates_on_every_login(client, services, user, authz):
    authz_id = authz()  # an application asking again (e.g. prompt=login) shows the form to a signed-in person
    form = {"username": "alice", "password": PASSWORD}
    first = cookie_value(sso_cookie(submit(client, f"/login?authz={authz_id}", form)))
    second = cookie_value(sso_cookie(submit(client, f"/login?authz={authz_id}", form)))
    assert first != second
    assert services.sessions.get(first) is None  # the old id is gone, not merely replaced in the browser
    assert services.sessions.get(second).sub == user.sub


def _answer(client, username: str, password: str, authz_id: str) -> tuple[int, str]:
    response = submit(client, f"/login?authz={authz_id}", {"username": username, "password": password})
    body = text(response)
    body = body.replace(csrf_token(body), "TOKEN").replace(f'value="{username}"', 'value="X"')
    return response.status_code, body


def test_wrong_password_and_unknown_user_answer_the_same(client, services, user, authz):
    authz_id = authz()
    users.create(services, "nopass", with_password=False, phone_number="+8613700000000")  # password not set
    wrong = _answer(client, "alice", "wrong password!", authz_id)
    unknown = _answer(client, "nobody", "wrong password!", authz_id)
    no_password = _answer(client, "nopass", "wrong password!", authz_id)
    assert wrong[0] == unknown[0] == no_password[0] == 401
    assert wrong[1] == unknown[1] == no_password[1]
    assert "The username or password is incorrect." in wrong[1]
    assert 'aria-describedby="password-error"' in wrong[1]
    assert 'role="alert"' in wrong[1]
    assert "gh_sso" not in str(client.get_cookie("gh_sso"))


def test_locked_user_with_right_password_sees_the_locked_page(client, services, user, sources):
    services.users.update(user.sub, {"status": "locked"}, CTX)
    response = submit(client, "/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "locked or disabled" in text(response)
    assert not [h for h in response.headers.getlist("Set-Cookie") if h.startswith("gh_sso=")]


def test_sms_code_login(client, services, user, authz, outbox):
    authz_id = authz()
    response = submit(client, f"/login/sms?authz={authz_id}", {"phone_number": "136 1234 5678"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login/sms/verify?authz={authz_id}"
    page = client.get(response.headers["Location"])
    body = text(page)
    assert "+86 136****5678" in body
    assert PHONE not in body
    assert 'autocomplete="one-time-code"' in body
    assert 'inputmode="numeric"' in body
    assert re.search(r"You can request a new code in (29|30) s", body)
    assert re.search(r'<button[^>]*name="resend"[^>]*disabled', body)
    code = outbox.last_code(PHONE)
    assert code not in body
    done = client.post(f"/login/sms/verify?authz={authz_id}", data={"csrf_token": csrf_token(body), "code": code})
    assert done.status_code == 302
    assert CONTINUE.search(done.headers["Location"]).group(1) == authz_id
    session = services.sessions.get(cookie_value(sso_cookie(done)))
    assert session.sub == user.sub
    assert session.amr == ["otp", "sms"]


def test_email_code_login(client, services, user, authz, outbox):
    authz_id = authz()
    response = submit(client, f"/login/email?authz={authz_id}", {"email": "Alice@Example.com"})
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "a***@example.com" in page
    done = client.post(
        response.headers["Location"],
        data={"csrf_token": csrf_token(page), "code": outbox.last_code("alice@example.com")},
    )
    assert done.status_code == 302
    assert services.sessions.get(cookie_value(sso_cookie(done))).amr == ["otp", "email"]


def _send_sms(client, phone: str, authz_id: str) -> str:
    response = submit(client, f"/login/sms?authz={authz_id}", {"phone_number": phone})
    assert response.status_code == 302
    return response.headers["Location"]


def test_wrong_code_is_a_field_error(client, user, authz, outbox):
    verify = _send_sms(client, PHONE, authz())
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    response = submit(client, verify, {"code": wrong})
    assert response.status_code == 400
    body = text(response)
    assert "That code is not right" in body
    assert 'aria-describedby="code-error"' in body
    assert 'aria-invalid="true"' in body


def test_unknown_number_looks_like_a_wrong_code_and_spends_nothing(client, services, web_app, authz, outbox):
    authz_id = authz()
    verify = _send_sms(client, "+8613700001111", authz_id)  # same answer as a registered number
    code = outbox.last_code("+8613700001111")
    response = submit(client, verify, {"code": code})
    assert response.status_code == 400
    assert "That code is not right" in text(response)
    # the code was not spent: a sign-up with auto_signup could still use it
    state_token = list(services.redis.scan_iter("gh:otp:tok:*"))
    assert state_token


def test_auto_signup_application_creates_the_user(client, services, make_app, authz, outbox):
    app = make_app(client_id="AUTO", name="Auto", auto_signup=True)
    authz_id = authz(app)
    verify = _send_sms(client, "+8613700002222", authz_id)
    response = submit(client, verify, {"code": outbox.last_code("+8613700002222")})
    assert response.status_code == 302
    assert services.users.by_contact("sms", "+8613700002222").phone_verified


def test_method_disabled_by_the_client_is_refused(client, user, make_app, authz):
    app = make_app(client_id="SMS_ONLY", name="Sms only", login_methods=["sms_otp"])
    authz_id = authz(app)
    assert client.get(f"/login?authz={authz_id}").headers["Location"] == f"/login/sms?authz={authz_id}"
    token = csrf_token(text(client.get(f"/login/sms?authz={authz_id}")))
    response = client.post(
        f"/login?authz={authz_id}", data={"csrf_token": token, "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "not available for this application" in text(response)
    assert client.get(f"/login/email?authz={authz_id}").status_code == 302  # not offered: back to /login
    refused = client.post(f"/login/email?authz={authz_id}", data={"csrf_token": token, "email": "a@example.com"})
    assert refused.status_code == 403


def test_tabs_follow_the_applications_methods(client, make_app, authz):
    app = make_app(client_id="PW_EMAIL", name="Pw email", login_methods=["password", "email_otp"])
    body = text(client.get(f"/login?authz={authz(app)}"))
    assert "/login/email?" in body
    assert "/login/sms?" not in body


def test_login_hint_is_prefilled(client, authz):
    body = text(client.get(f"/login?authz={authz(login_hint='alice@example.com')}"))
    assert 'value="alice@example.com"' in body
    body = text(client.get(f"/login/sms?authz={authz(login_hint='+8613612345678')}"))
    assert 'value="+8613612345678"' in body


def test_resend_during_the_cooldown_says_when(client, authz, user, outbox):
    authz_id = authz()
    verify = _send_sms(client, PHONE, authz_id)
    page = text(client.get(verify))
    response = client.post(f"/code/login/resend/sms?authz={authz_id}", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert response.headers["Location"] == verify
    after = text(client.get(verify))
    assert re.search(r"Too many codes requested. You can request a new code in \d+ s", after)


def test_resend_after_the_cooldown_sends_the_same_code(client, services, authz, user, outbox, clock):
    authz_id = authz()
    verify = _send_sms(client, PHONE, authz_id)
    first = outbox.last_code(PHONE)
    clock.advance(services.settings.limits.target_interval)  # the cooldown is over; the code lives on
    page = text(client.get(verify))
    assert "Resend code" in page
    assert not re.search(r'<button[^>]*name="resend"[^>]*disabled', page)
    response = client.post(f"/code/login/resend/sms?authz={authz_id}", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert len([r for r in outbox.records() if r["to"] == PHONE]) == 2
    assert outbox.last_code(PHONE) == first


def test_verify_page_without_a_sent_code_goes_back_to_step_one(client, authz):
    authz_id = authz()
    response = client.get(f"/login/sms/verify?authz={authz_id}")
    assert response.headers["Location"] == f"/login/sms?authz={authz_id}"


def test_malformed_phone_is_a_field_error(client, authz):
    response = submit(client, f"/login/sms?authz={authz()}", {"phone_number": "12"})
    assert response.status_code == 400
    assert "Enter a valid phone number." in text(response)


def test_expired_authorize_request_gets_a_friendly_page(client, sources):
    response = client.get("/login?authz=doesnotexist")
    assert response.status_code == 404
    assert "This sign-in has expired" in text(response)
    assert response.mimetype == "text/html"


def test_signed_in_person_opening_login_goes_to_the_account(client, signed_in):
    assert client.get("/login").headers["Location"] == "/account"


def test_logout(client, services, signed_in):
    sid = cookie_value(sso_cookie(signed_in))
    page = client.get("/logout")
    assert "Do you want to sign out?" in text(page)
    response = client.post("/logout", data={"csrf_token": csrf_token(text(page))})
    assert response.status_code == 200
    assert "You are signed out" in text(response)
    assert services.sessions.get(sid) is None
    assert any(h.startswith("gh_sso=;") for h in response.headers.getlist("Set-Cookie"))
    assert client.get("/account").headers["Location"] == "/login"
