"""Every page: both languages, security headers, CSRF on every form, consent, error pages."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PHONE, csrf_token, submit, text

NEW_PHONE = "+8613700003333"
OTHER_PHONE = "+8613700004444"


@pytest.fixture
def everything(client, signed_in, authz, outbox):
    """A signed-in browser with a code in flight for every purpose; returns the authz id."""
    authz_id = authz()
    assert submit(client, f"/login/sms?authz={authz_id}", {"phone_number": PHONE}).status_code == 302
    assert submit(client, "/signup/sms", {"phone_number": NEW_PHONE}).status_code == 302
    assert submit(client, "/forgot/email", {"email": "alice@example.com"}).status_code == 302
    assert submit(client, "/account/contact/sms", {"phone_number": OTHER_PHONE}, get_url="/account").status_code == 302
    return authz_id


# (url, a string of the English page, the same in Chinese)
PAGES = [
    ("/login?authz={authz}", "Sign in", "登录"),
    ("/login/sms?authz={authz}", "Send code", "发送验证码"),
    ("/login/email?authz={authz}", "Email address", "邮箱地址"),
    ("/login/sms/verify?authz={authz}", "Verify", "验证"),
    ("/consent?authz={authz}", "Allow", "允许"),
    ("/logout", "Do you want to sign out?", "确定要退出登录吗"),
    ("/signup/sms", "Create an account", "注册账号"),
    ("/signup/sms/verify", "Create account", "创建账号"),
    ("/forgot/sms", "Reset your password", "重置密码"),
    ("/forgot/email/reset", "Choose a new password", "设置新密码"),
    ("/forgot/done", "Password changed", "密码已修改"),
    ("/account", "Your account", "我的账号"),
    ("/account/contact/sms/verify", "Confirm your phone number", "验证你的手机号"),
    ("/login?authz=expired", "This sign-in has expired", "本次登录已过期"),
]


@pytest.mark.parametrize(("url", "english", "chinese"), PAGES)
def test_every_page_in_english_and_chinese(client, everything, url, english, chinese):
    url = url.format(authz=everything)
    en = client.get(url, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in text(en)
    assert english in text(en)
    zh = client.get(url, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-Hans">' in text(zh)
    assert chinese in text(zh)
    assert english not in text(zh) or english in ("Verify",)
    by_param = client.get(url + ("&" if "?" in url else "?") + "ui_locales=zh-CN")
    assert '<html lang="zh-Hans">' in text(by_param)


@pytest.mark.parametrize(("url", "english", "chinese"), PAGES)
def test_every_page_is_csp_clean(client, everything, url, english, chinese):
    response = client.get(url.format(authz=everything))
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    body = text(response)
    assert not re.search(r"<script(?![^>]*\bsrc=)", body), "inline script"
    assert " style=" not in body
    assert "<style" not in body
    # every input has a label
    for input_id in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', body):
        if input_id != "csrf_token":
            assert f'<label for="{input_id}"' in body, input_id


def test_pending_requests_ui_locales_applies_to_every_step(client, authz, user):
    authz_id = authz(ui_locales="zh-CN en")
    assert '<html lang="zh-Hans">' in text(client.get(f"/login?authz={authz_id}"))
    response = submit(client, f"/login/sms?authz={authz_id}", {"phone_number": PHONE})
    page = text(client.get(response.headers["Location"]))
    assert '<html lang="zh-Hans">' in page
    assert "秒后可重新获取验证码" in page


def test_pinned_field_names_and_buttons(client, authz):
    authz_id = authz()
    body = text(client.get(f"/login?authz={authz_id}", headers={"Accept-Language": "en"}))
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert re.search(r"<button[^>]*>Sign in</button>", body)
    body = text(client.get(f"/login/sms?authz={authz_id}"))
    assert 'name="phone_number"' in body
    assert re.search(r"<button[^>]*>Send code</button>", body)
    assert 'name="email"' in text(client.get(f"/login/email?authz={authz_id}"))


# (POST url, fields) for every form; none carries the CSRF token
FORMS = [
    ("/login?authz={authz}", {"username": "alice", "password": "correct horse battery"}),
    ("/login/sms?authz={authz}", {"phone_number": PHONE}),
    ("/login/email?authz={authz}", {"email": "alice@example.com"}),
    ("/login/sms/verify?authz={authz}", {"code": "123456"}),
    ("/code/login/resend/sms?authz={authz}", {}),
    ("/consent?authz={authz}", {"allow": "1"}),
    ("/logout", {"submit": "1"}),
    ("/signup/sms", {"phone_number": "+8613700005555"}),
    ("/signup/sms/verify", {"code": "123456"}),
    ("/code/signup/resend/sms", {}),
    ("/forgot/sms", {"phone_number": PHONE}),
    ("/forgot/email/reset", {"code": "123456", "password": "a new password"}),
    ("/code/reset_password/resend/email", {}),
    ("/account/profile", {"name": "Mallory"}),
    ("/account/password", {"current_password": "x", "password": "a new password"}),
    ("/account/contact/sms", {"phone_number": "+8613700006666"}),
    ("/account/contact/email", {"email": "new@example.com"}),
    ("/account/contact/sms/verify", {"code": "123456"}),
    ("/code/update_userinfo/resend/sms", {}),
    ("/account/sign-out-everywhere", {"submit": "1"}),
]


@pytest.mark.parametrize(("url", "fields"), FORMS)
def test_every_form_rejects_a_missing_csrf_token(client, services, everything, outbox, url, fields):
    sent_before = len(outbox.records())
    response = client.post(url.format(authz=everything), data=fields)
    assert response.status_code == 400
    assert len(outbox.records()) == sent_before
    body = text(response)
    if "/resend/" not in url:
        assert "This form has expired. Please submit it again." in body
    assert client.get("/account").status_code == 200  # still signed in, nothing changed
    assert services.users.search(username="alice")[0].name == "Alice"


def test_consent_needs_a_session(client, authz):
    authz_id = authz()
    assert client.get(f"/consent?authz={authz_id}").headers["Location"] == f"/login?authz={authz_id}"


def test_consent_lists_scopes_in_words_and_records_the_answer(client, services, signed_in, authz):
    authz_id = authz(scopes=["openid", "profile", "email", "phone", "offline_access"])
    page = client.get(f"/consent?authz={authz_id}")
    body = text(page)
    assert "Web App" in body
    for words in (
        "Know who you are",
        "See your profile: name, username, picture",
        "See your email address",
        "See your phone number",
        "Stay connected",
    ):
        assert words in body
    assert re.search(r"<button[^>]*>Allow</button>", body)
    response = client.post(f"/consent?authz={authz_id}", data={"csrf_token": csrf_token(body), "allow": "1"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/oauth2/authorize/continue?authz={authz_id}"
    assert services.authz.peek(authz_id).consent == "allow"


def test_consent_deny(client, services, signed_in, authz):
    authz_id = authz()
    body = text(client.get(f"/consent?authz={authz_id}"))
    response = client.post(f"/consent?authz={authz_id}", data={"csrf_token": csrf_token(body), "deny": "1"})
    assert response.status_code == 302
    assert services.authz.peek(authz_id).consent == "deny"


def test_store_outage_is_a_503_page(own_redis, client, services, authz):
    authz_id = authz()
    own_redis.stop()  # a real outage
    response = client.get(f"/login?authz={authz_id}", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "服务暂时不可用" in text(response)


def test_raw_redis_error_in_a_view_is_a_503_page(client, services, monkeypatch, user, sources):
    """The safety net under the services' own outage handling: a redis error that escapes a
    service (the services turn a real outage into store.unavailable, so it is faked here)."""
    import redis

    def down(*_args, **_kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(services.login, "password", down)
    response = submit(client, "/login", {"username": "alice", "password": "whatever1"})
    assert response.status_code == 503
    assert "Temporarily unavailable" in text(response)


def test_unknown_page_is_a_friendly_404_for_browsers(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "Page not found" in text(response)


def test_json_surfaces_keep_their_json_errors(client):
    response = client.post("/otp/send", json={})
    assert response.mimetype == "application/json"
