"""The brute-force policy on the sign-in pages: the captcha block after a few wrong passwords
(or codes), the temporary lock message after more, and no enumeration on the way.

The policy itself is the domain's (``BruteForceGuard``, tested in tests/unit); these tests
drive it through the pages with small thresholds. The captcha's answer is known because the
services are built with fixed captcha answers (the ``captcha_answers`` fixture).
"""

from __future__ import annotations

import re

import pytest

from tests.factories import users
from tests.helpers import without_passkey_challenge
from tests.web.conftest import PASSWORD, PHONE, csrf_token, submit, text

CAPTCHA_AFTER, LOCK_AFTER, LOCK_SECONDS = 3, 5, 600
LIMITS = {
    "login_captcha_after": CAPTCHA_AFTER,
    "login_captcha_after_identifier": CAPTCHA_AFTER,
    "login_lock_after": LOCK_AFTER,
    "login_lock_seconds": LOCK_SECONDS,
}
ANSWER = "ACDEF"
WRONG = "wrong password!"
CHALLENGE = re.compile(r'name="captcha_challenge" type="hidden" value="([^"]+)"')
IMAGE = re.compile(r'<img class="captcha-image" src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"')

pytestmark = pytest.mark.limits(**LIMITS)


@pytest.fixture
def captcha_answers():
    """Every new image shows ``ANSWER``."""
    return lambda: ANSWER


def challenge_of(body: str) -> str:
    match = CHALLENGE.search(body)
    assert match, "no captcha on the page"
    return match.group(1)


def has_captcha(body: str) -> bool:
    return CHALLENGE.search(body) is not None


def login(client, username="alice", password=WRONG, url="/login"):
    """One POST of the password form without any captcha fields."""
    page = text(client.get(url))
    return client.post(url, data={"csrf_token": csrf_token(page), "username": username, "password": password})


def fail(client, times: int, username="alice", url="/login"):
    """``times`` wrong passwords, answering the captcha whenever the page shows one."""
    response, body = None, text(client.get(url))
    for _ in range(times):
        data = {"csrf_token": csrf_token(body), "username": username, "password": WRONG}
        if has_captcha(body):
            data.update(captcha_challenge=challenge_of(body), captcha=ANSWER)
        response = client.post(url, data=data)
        body = text(response)
    return response


def post_with_captcha(client, body: str, username="alice", password=PASSWORD, answer=ANSWER, url="/login"):
    return client.post(
        url,
        data={
            "csrf_token": csrf_token(body),
            "username": username,
            "password": password,
            "captcha_challenge": challenge_of(body),
            "captcha": answer,
        },
    )


def signed_in(response) -> bool:
    return any(h.startswith("gh_sso=") and not h.startswith("gh_sso=;") for h in response.headers.getlist("Set-Cookie"))


# -- the captcha block --------------------------------------------------------------------
def test_no_captcha_before_the_threshold(client, user, sources):
    response = fail(client, CAPTCHA_AFTER - 1)
    assert response.status_code == 401
    assert not has_captcha(text(response))
    assert "The username or password is incorrect." in text(response)


def test_the_captcha_shows_after_a_few_wrong_passwords(client, user, sources):
    response = fail(client, CAPTCHA_AFTER)
    body = text(response)
    assert response.status_code == 401
    assert "The username or password is incorrect." in body
    assert 'value="alice"' in body  # the typed username stays
    image = IMAGE.search(body)
    assert image and ANSWER not in image.group(1)  # alt text says what it is, never the answer
    assert '<label for="captcha">Characters in the image</label>' in body
    assert re.search(r'<input[^>]*id="captcha"[^>]*name="captcha"[^>]*required', body)
    assert 'aria-describedby="captcha-hint"' in body
    assert re.search(r'<a class="captcha-new" href="/login\?captcha=new">Show a new image</a>', body)
    assert "<legend>Security check</legend>" in body
    # the block sits inside the sign-in form, before its button
    form = body[body.index('<form method="post"') : body.index("</form>")]
    assert form.index('name="captcha"') < form.index('name="submit"')


def test_without_the_captcha_the_right_password_keeps_being_refused(client, services, user, sources):
    fail(client, CAPTCHA_AFTER)
    for _ in range(2):  # the form without its captcha fields (a script, or an old page)
        response = login(client, password=PASSWORD)
        assert response.status_code == 400
        assert not signed_in(response)
        body = text(response)
        assert "For your security, type the characters in the image." in body
        assert 'aria-describedby="captcha-hint captcha-error"' in body
        assert has_captcha(body)
    body = text(client.get("/login"))  # the image shown, the answer left empty
    response = post_with_captcha(client, body, answer="")
    assert response.status_code == 400
    assert not signed_in(response)
    assert "For your security, type the characters in the image." in text(response)


def test_a_solved_captcha_lets_the_right_password_through(client, services, user, sources):
    body = text(fail(client, CAPTCHA_AFTER))
    response = post_with_captcha(client, body, answer=ANSWER.lower() + " ")  # not case-sensitive
    assert response.status_code == 302, text(response)
    assert response.headers["Location"] == "/account"
    assert signed_in(response)


def test_a_wrong_answer_is_a_field_error_with_a_new_image(client, services, user, sources):
    body = text(fail(client, CAPTCHA_AFTER))
    first = challenge_of(body)
    response = post_with_captcha(client, body, answer="WXY34")  # the right password, the wrong characters
    assert response.status_code == 400
    assert not signed_in(response)
    answer = text(response)
    assert "That was not what the image showed. Try this new image." in answer
    assert re.search(
        r'<input[^>]*aria-describedby="captcha-hint captcha-error"[^>]*aria-invalid="true"'
        r'[^>]*autofocus[^>]*id="captcha"',
        answer,
    )
    assert 'id="captcha-error" role="alert"' in answer
    second = challenge_of(answer)
    assert second != first
    # one attempt per image: the first one is gone, the new one works
    again = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(answer),
            "username": "alice",
            "password": PASSWORD,
            "captcha_challenge": first,
            "captcha": ANSWER,
        },
    )
    assert again.status_code == 400
    assert "That image has expired." in text(again)
    assert post_with_captcha(client, text(again)).status_code == 302


def test_new_image_link_keeps_the_username_out_of_the_url(client, user, sources):
    body = text(fail(client, CAPTCHA_AFTER))
    page = client.get("/login?captcha=new")
    assert page.status_code == 200
    fresh = text(page)
    assert challenge_of(fresh) != challenge_of(body)
    assert 'value="alice"' in fresh
    assert "alice" not in re.search(r'href="(/login\?captcha=new)"', fresh).group(1)
    assert post_with_captcha(client, fresh).status_code == 302


@pytest.mark.limits(**LIMITS, captcha_ip_per_minute=1)
def test_too_many_images_from_one_ip_say_so(client, user, sources):
    assert has_captcha(text(fail(client, CAPTCHA_AFTER)))  # the one image of this minute
    bodies = [text(client.get("/login?captcha=new")) for _ in range(3)]
    limited = [body for body in bodies if "Too many images requested. Try again in" in body]
    assert limited
    assert not has_captcha(limited[0])
    response = login(client, password=PASSWORD)  # still no way round it
    assert response.status_code == 400
    assert not signed_in(response)


def test_reloading_the_page_keeps_the_captcha(client, user, sources):
    fail(client, CAPTCHA_AFTER)
    body = text(client.get("/login"))
    assert has_captcha(body)
    assert 'value="alice"' in body


def test_another_application_cannot_use_the_pages_captcha(client, services, user, authz):
    """The captcha is bound to the application of the page (the pending authorize request)."""
    authz_id = authz()
    url = f"/login?authz={authz_id}"
    body = text(fail(client, CAPTCHA_AFTER, url=url))
    response = post_with_captcha(client, body)  # same challenge, posted to the account client's page
    assert response.status_code == 400
    assert "That image has expired." in text(response)
    done = post_with_captcha(client, text(client.get(url)), url=url)
    assert done.status_code == 302
    assert done.headers["Location"] == f"/oauth2/authorize/continue?authz={authz_id}"


# -- the lock ---------------------------------------------------------------------------
def test_locked_after_more_failures_says_when_to_try_again(client, services, user, sources):
    assert "Too many failed attempts" not in text(fail(client, LOCK_AFTER - 1))
    response = fail(client, 1)  # the lock starts with the LOCK_AFTER-th failure, and says so
    assert "The username or password is incorrect." in text(response)
    body = text(response)
    assert re.search(
        r'<div class="alert alert-error" role="alert">\s*<p>Too many failed attempts. '
        r"Try again in 10 minutes.</p>",
        body,
    ), body
    assert response.headers["Retry-After"]
    assert 0 < int(response.headers["Retry-After"]) <= LOCK_SECONDS
    assert "Account unavailable" not in body  # the form stays, not a dead end
    assert 'name="password"' in body
    assert not has_captcha(body)  # no image to solve for nothing while locked
    # the right password (with a solved captcha) does not get through during the lock
    body = text(client.get("/login?captcha=new"))
    response = post_with_captcha(client, body)
    assert not signed_in(response)
    assert "Too many failed attempts. Try again in" in text(response)


def test_an_administrators_lock_keeps_the_unavailable_page(client, services, user, sources):
    from tests.web.conftest import CTX

    services.users.update(user.sub, {"status": "locked"}, CTX)
    response = submit(client, "/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "Account unavailable" in text(response)
    assert "Too many failed attempts" not in text(response)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1, "1 minute."), (60, "1 minute."), (61, "2 minutes."), (600, "10 minutes."), (None, "1 minute.")],
)
def test_lock_minutes_are_rounded_up(app, seconds, shown):
    from blueprints.hosted.errors import locked

    with app.test_request_context("/login"):
        assert str(locked(seconds)).endswith(f"Try again in {shown}")


# -- no enumeration -------------------------------------------------------------------------
def test_a_user_without_a_password_sees_the_generic_text(client, services, user, sources):
    users.create(services, "nopass", with_password=False, phone_number="+8613700000000")
    wrong = login(client, "alice")
    nopass = login(client, "nopass")
    assert wrong.status_code == nopass.status_code == 401
    assert "The username or password is incorrect." in text(nopass)
    assert "no password yet" not in text(nopass)


def test_an_unknown_user_gets_the_same_captcha(app, client, user, sources):
    alice = text(fail(client, CAPTCHA_AFTER, "alice"))
    nobody = text(fail(app.test_client(), CAPTCHA_AFTER, "nobody"))
    assert has_captcha(alice) and has_captcha(nobody)

    def shape(body: str, name: str) -> str:
        body = body.replace(csrf_token(body), "T").replace(challenge_of(body), "C")
        body = re.sub(r"data:image/png;base64,[^\"]+", "IMG", body).replace(f'value="{name}"', 'value="X"')
        return without_passkey_challenge(body)

    assert shape(alice, "alice") == shape(nobody, "nobody")


# -- Chinese, CSRF ------------------------------------------------------------------------------
def test_the_captcha_block_in_chinese(client, user, sources):
    headers = {"Accept-Language": "zh-CN,zh;q=0.9"}
    body = text(client.get("/login", headers=headers))
    response = None
    for _ in range(CAPTCHA_AFTER):
        response = client.post(
            "/login", headers=headers, data={"csrf_token": csrf_token(body), "username": "alice", "password": WRONG}
        )
        body = text(response)
    assert '<html lang="zh-Hans">' in body
    assert "安全验证" in body
    assert '<label for="captcha">图中的字符</label>' in body
    assert "换一张图片" in body
    assert IMAGE.search(body).group(1) == "安全验证图片：变形的字母和数字"  # noqa: RUF001
    for english in ("Characters in the image", "Show a new image", "Security check"):
        assert english not in body
    wrong = client.post(
        "/login",
        headers=headers,
        data={
            "csrf_token": csrf_token(body),
            "username": "alice",
            "password": PASSWORD,
            "captcha_challenge": challenge_of(body),
            "captcha": "WXY34",
        },
    )
    assert "输入的字符与图片不符" in text(wrong)


def test_the_lock_message_in_chinese(client, user, sources):
    response = fail(client, LOCK_AFTER, url="/login?ui_locales=zh-Hans")
    assert "失败次数过多，请在 10 分钟后重试。" in text(response)  # noqa: RUF001


def test_the_captcha_form_needs_its_csrf_token(client, services, user, sources):
    body = text(fail(client, CAPTCHA_AFTER))
    challenge = challenge_of(body)
    for token in (None, "forged"):
        data = {"username": "alice", "password": PASSWORD, "captcha_challenge": challenge, "captcha": ANSWER}
        if token:
            data["csrf_token"] = token
        response = client.post("/login", data=data)
        assert response.status_code == 400
        assert not signed_in(response)
        assert "This form has expired. Please submit it again." in text(response)
        assert has_captcha(text(response))
    # nothing was spent: the image still answers once, with the token
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(body),
            "username": "alice",
            "password": PASSWORD,
            "captcha_challenge": challenge,
            "captcha": ANSWER,
        },
    )
    assert response.status_code == 302


# -- the code step ------------------------------------------------------------------------
def _send_sms(client, authz_id: str) -> str:
    response = submit(client, f"/login/sms?authz={authz_id}", {"phone_number": PHONE})
    assert response.status_code == 302
    return response.headers["Location"]


def test_the_code_step_shows_the_captcha_after_wrong_codes(client, user, authz, outbox):
    verify = _send_sms(client, authz())
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    body = text(client.get(verify))
    assert not has_captcha(body)
    for _ in range(CAPTCHA_AFTER):
        data = {"csrf_token": csrf_token(body), "code": wrong}
        if has_captcha(body):
            data.update(captcha_challenge=challenge_of(body), captcha=ANSWER)
        body = text(client.post(verify, data=data))
    assert has_captcha(body)
    assert '<label for="captcha">Characters in the image</label>' in body
    assert re.search(r'href="/login/sms/verify\?authz=[^"&]+&amp;captcha=new"', body)
    refused = client.post(verify, data={"csrf_token": csrf_token(body), "code": code})
    assert refused.status_code == 400
    assert "For your security, type the characters in the image." in text(refused)
    body = text(refused)
    done = client.post(
        verify,
        data={"csrf_token": csrf_token(body), "code": code, "captcha_challenge": challenge_of(body), "captcha": ANSWER},
    )
    assert done.status_code == 302, text(done)
    assert signed_in(done)


def test_the_code_step_says_when_the_number_is_locked(client, user, authz, outbox):
    verify = _send_sms(client, authz())
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    body, response = text(client.get(verify)), None
    for _ in range(LOCK_AFTER):
        data = {"csrf_token": csrf_token(body), "code": wrong}
        if has_captcha(body):
            data.update(captcha_challenge=challenge_of(body), captcha=ANSWER)
        response = client.post(verify, data=data)
        body = text(response)
    assert "Too many failed attempts. Try again in 10 minutes." in body
    assert response.headers["Retry-After"]
    assert not has_captcha(body)
    assert 'name="code"' in body  # the form stays
