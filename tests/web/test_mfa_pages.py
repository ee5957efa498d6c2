"""The hosted MFA pages: the second step inside a real authorization request, what the browser
holds meanwhile, enrolment, the account page, remembered devices."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.errors import IdpError
from tests.factories import users
from tests.web.conftest import PASSWORD, PHONE, csrf_token, submit, text

VERIFIER = "a-very-long-code-verifier-for-the-mfa-page-tests-0123456789"
REDIRECT = "https://rp.example/cb"


# -- helpers ------------------------------------------------------------------------------
def authorize(client, client_id: str, **extra) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    response = client.get("/oauth2/authorize", query_string=params)
    assert response.status_code == 302, text(response)
    return response.headers["Location"]


def password_step(client, login_url: str, username: str = "alice"):
    page = text(client.get(login_url))
    return client.post(login_url, data={"csrf_token": csrf_token(page), "username": username, "password": PASSWORD})


def follow(client, location: str) -> tuple[str, str]:
    """Follow same-site redirects; returns (final location or URL, body)."""
    while True:
        response = client.get(location)
        if response.status_code not in (302, 303) or response.headers["Location"].startswith(REDIRECT):
            return (response.headers.get("Location", location), text(response))
        location = response.headers["Location"]


def code_at_client(client, location: str) -> str:
    while not location.startswith(REDIRECT):
        response = client.get(location)
        assert response.status_code in (302, 303), text(response)
        location = response.headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def id_token_claims(client, code: str, client_id: str) -> dict:
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "client_secret": "secret",
            "code_verifier": VERIFIER,
        },
    )
    assert response.status_code == 200, response.get_json()
    keys = KeySet.import_key_set(client.get("/oauth2/jwks").get_json())
    return jwt.decode(response.get_json()["id_token"], keys, algorithms=["RS256"]).claims


def flask_session(app, client) -> dict:
    cookie = client.get_cookie("session")
    return app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}


def post_form(client, url: str, page_html: str, data: dict | None = None, action: str | None = None):
    """POST the form whose action is ``action`` (default: the page itself) with its CSRF token."""
    return client.post(action or url, data={"csrf_token": csrf_token(page_html), **(data or {})})


@pytest.fixture
def mfa_app(make_app):
    return make_app(client_id="MFA_APP", name="Bank", mfa="required", scopes=["openid", "profile"])


# -- the second step inside an authorization request ------------------------------------
def test_required_policy_sends_the_browser_to_mfa_and_amr_reaches_the_id_token(app, client, mfa_app, user, outbox):
    login = authorize(client, mfa_app.client_id)
    response = password_step(client, login)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/mfa?authz=")
    arrival = client.get(response.headers["Location"])
    assert arrival.headers["Location"].startswith("/mfa/sms?authz=")
    sent = client.get(arrival.headers["Location"])  # the code goes out on arrival ...
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/mfa/sms?authz=")
    assert len([r for r in outbox.records() if r["to"] == PHONE]) == 1
    page = client.get(sent.headers["Location"])
    html = text(page)
    assert page.status_code == 200
    assert "136****5678" in html and PHONE not in html
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    assert re.search(r'<button type="submit" name="submit" value="1" class="btn btn-primary">Verify</button>', html)
    client.get(sent.headers["Location"])  # ... and a refresh does not send another
    assert len([r for r in outbox.records() if r["to"] == PHONE]) == 1
    assert outbox.records()[0]["usage"] == "mfa"

    done = post_form(client, sent.headers["Location"], html, {"code": outbox.last_code(PHONE)})
    assert done.status_code == 302
    claims = id_token_claims(client, code_at_client(client, done.headers["Location"]), mfa_app.client_id)
    assert claims["sub"] == user.sub
    assert "mfa" in claims["amr"] and "pwd" in claims["amr"] and "sms" in claims["amr"]


def test_only_the_opaque_state_token_travels(app, client, services, mfa_app, user):
    login = authorize(client, mfa_app.client_id)
    response = password_step(client, login)
    held = flask_session(app, client)
    token = held["gh_mfa"]["token"]
    assert set(held) <= {"gh_mfa", "csrf_token", "_flashes"}
    assert set(held["gh_mfa"]) == {"token", "sent"}
    assert len(token) >= 22  # ≥ 128 bits, opaque
    rest = str(held).replace(token, "")
    assert user.sub not in rest and "pwd" not in rest and "alice" not in rest and "amr" not in rest
    assert token not in response.headers["Location"]
    assert client.get_cookie("gh_sso") is None  # not signed in until the second factor
    location = client.get(response.headers["Location"]).headers["Location"]
    assert token not in location
    assert services.mfa.peek(mfa_app, _ctx(), token).sub == user.sub  # the facts stay in Redis


def test_the_state_token_is_rotated_when_the_code_is_sent(app, client, services, mfa_app, user, outbox):
    location = password_step(client, authorize(client, mfa_app.client_id)).headers["Location"]
    before = flask_session(app, client)["gh_mfa"]["token"]
    url = follow(client, location)[0]  # the SMS page: the code goes out on arrival
    after = flask_session(app, client)["gh_mfa"]["token"]
    assert after != before
    with pytest.raises(IdpError):
        services.mfa.peek(mfa_app, _ctx(), before)  # the old token is spent
    page = text(client.get(url))
    done = post_form(client, url, page, {"code": outbox.last_code(PHONE)})
    assert done.status_code == 302  # the rotated token carried the sent code


def _ctx():
    from idp.context import RequestContext

    return RequestContext(ip="127.0.0.1")


def test_a_wrong_code_is_a_field_error(client, mfa_app, user, outbox):
    location = password_step(client, authorize(client, mfa_app.client_id)).headers["Location"]
    url = follow(client, location)[0]
    page = text(client.get(url))
    right = outbox.last_code(PHONE)
    response = post_form(client, url, page, {"code": "000000" if right != "000000" else "111111"})
    html = text(response)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in html and 'id="code-error"' in html
    assert "That code is not right" in html


def test_an_expired_or_used_state_token_shows_start_again(client, services, mfa_app, user, outbox):
    login = authorize(client, mfa_app.client_id)
    location = password_step(client, login).headers["Location"]
    url = follow(client, location)[0]
    page = text(client.get(url))
    with client.session_transaction() as held:
        token = held["gh_mfa"]["token"]
    post_form(client, url, page, {"code": outbox.last_code(PHONE)})  # spends the token

    with client.session_transaction() as held:
        held["gh_mfa"] = {"token": token, "sent": {}}
    response = client.get(location)
    html = text(response)
    assert response.status_code == 404
    assert "This sign-in has expired" in html
    assert f'href="/login?authz={parse_qs(urlsplit(login).query)["authz"][0]}"' in html

    with client.session_transaction() as held:
        held.pop("gh_mfa", None)
    assert client.get("/mfa").status_code == 404  # nothing pending at all


def test_a_token_past_its_lifetime_is_expired(client, services, mfa_app, user, clock):
    location = password_step(client, authorize(client, mfa_app.client_id)).headers["Location"]
    clock.advance(services.mfa.state_ttl - 1)
    assert client.get(location).status_code == 302  # still good in its last second: on to the factor
    clock.advance(1)
    response = client.get(location)
    assert response.status_code == 404
    assert "This sign-in has expired" in text(response)


def test_resend_has_a_cooldown_and_needs_csrf(client, mfa_app, user, outbox):
    url = follow(client, password_step(client, authorize(client, mfa_app.client_id)).headers["Location"])[0]
    html = text(client.get(url))
    assert "data-cooldown=" in html and "disabled" in html
    resend = re.search(r'action="(/mfa/sms/resend[^"]*)"', html).group(1).replace("&amp;", "&")
    assert client.post(resend, data={}).status_code == 400
    response = client.post(resend, data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302
    assert "Too many codes requested" in text(client.get(response.headers["Location"]))  # the per-number interval


def test_totp_and_recovery_codes_as_the_second_step(client, services, user):
    """The account client's policy is "optional": a person with a factor gets the second step."""
    authenticator = users.enrol_totp(services, user)
    codes = services.factors.new_recovery_codes(user.sub, _ctx())
    response = password_step(client, "/login")
    assert response.headers["Location"] == "/mfa"
    url = client.get("/mfa").headers["Location"]
    assert url == "/mfa/totp"  # the authenticator app first: nothing to send
    html = text(client.get(url))
    assert "authenticator app" in html
    assert 'href="/mfa/sms"' not in html  # SMS is not enrolled
    assert 'href="/mfa/recovery"' in html
    recovery = text(client.get("/mfa/recovery"))
    assert "recovery codes" in recovery
    done = post_form(client, "/mfa/recovery", recovery, {"code": codes[0].upper()})
    assert done.status_code == 302 and done.headers["Location"] == "/account"
    assert services.factors.recovery_codes_left(user.sub) == len(codes) - 1

    client.post("/logout", data={"csrf_token": csrf_token(text(client.get("/logout")))})
    password_step(client, "/login")
    html = text(client.get("/mfa/totp"))
    done = post_form(client, "/mfa/totp", html, {"code": authenticator.now()})
    assert done.status_code == 302 and done.headers["Location"] == "/account"
    assert services.sessions.get(client.get_cookie("gh_sso").value).amr[-1] == "mfa"


def test_remembered_device_skips_the_second_step_until_revoked(client, services, make_app, user, outbox):
    app_ = make_app(client_id="REMEMBER_APP", mfa="required", remember_device_days=30)
    url = follow(client, password_step(client, authorize(client, app_.client_id)).headers["Location"])[0]
    html = text(client.get(url))
    assert "Remember this device for 30 days" in html
    done = post_form(client, url, html, {"code": outbox.last_code(PHONE), "remember": "y"})
    cookie = next(h for h in done.headers.getlist("Set-Cookie") if h.startswith("gh_device="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=2592000" in cookie
    assert "Secure" not in cookie  # the test issuer is http://
    code_at_client(client, done.headers["Location"])

    client.delete_cookie("gh_sso")
    response = password_step(client, authorize(client, app_.client_id))
    assert response.headers["Location"].startswith("/oauth2/authorize/continue")  # no second step
    code_at_client(client, response.headers["Location"])

    device = services.devices.list(user.sub)[0]
    page = text(client.get("/account"))
    assert "Remembered devices" in page
    revoked = post_form(client, "/account", page, action=f"/account/devices/{device.id}/revoke")
    assert revoked.status_code == 302
    assert services.devices.list(user.sub) == []
    client.delete_cookie("gh_sso")
    response = password_step(client, authorize(client, app_.client_id))
    assert response.headers["Location"].startswith("/mfa")


def test_no_remember_box_when_the_application_does_not_allow_it(client, mfa_app, user):
    url = follow(client, password_step(client, authorize(client, mfa_app.client_id)).headers["Location"])[0]
    assert 'name="remember"' not in text(client.get(url))


# -- enrolment during sign-in -------------------------------------------------------------
def test_required_policy_without_a_factor_enrols_an_authenticator_app(client, services, mfa_app):
    person = users.create(services, "bob", with_password=PASSWORD)  # no phone: nothing usable
    response = password_step(client, authorize(client, mfa_app.client_id), username="bob")
    assert response.headers["Location"].startswith("/mfa/enrol?authz=")
    html = text(client.get(response.headers["Location"]))
    assert "Use an authenticator app" in html
    action = re.search(r'action="(/mfa/enrol/totp[^"]*)"', html).group(1).replace("&amp;", "&")
    setup = post_form(client, action, html)
    page = text(setup)
    assert setup.status_code == 200
    assert 'src="data:image/svg+xml;charset=utf-8,%3Csvg' in page
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    confirm = re.search(r'action="(/mfa/enrol/totp/confirm[^"]*)"', page).group(1).replace("&amp;", "&")
    done = post_form(client, confirm, page, {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    claims = id_token_claims(client, code_at_client(client, done.headers["Location"]), mfa_app.client_id)
    assert claims["sub"] == person.sub and "mfa" in claims["amr"]


def test_enrolment_is_refused_to_someone_with_a_factor(client, services, mfa_app, user):
    """A stolen password must not add an authenticator to an account that has one."""
    login = authorize(client, mfa_app.client_id)
    location = password_step(client, login).headers["Location"]
    authz = parse_qs(urlsplit(location).query)["authz"][0]
    html = text(client.get(f"/account?authz={authz}", follow_redirects=True))  # any page with a CSRF token
    response = client.post(f"/mfa/enrol/totp?authz={authz}", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/mfa?")
    assert services.factors.list(user.sub) == []


# -- the account page -----------------------------------------------------------------------
def test_account_page_enrols_totp_with_a_qr_code(client, services, signed_in, user):
    page = text(client.get("/account"))
    assert "Two-step verification" in page and "Authenticator app" in page
    setup = post_form(client, "/account", page, action="/account/factors/totp")
    html = text(setup)
    assert setup.status_code == 200
    qr = re.search(r'<img class="qr" src="data:image/svg\+xml;charset=utf-8,([^"]+)"', html).group(1)
    svg = unquote(qr.replace("&amp;", "&"))
    assert svg.startswith("<svg xmlns='http://www.w3.org/2000/svg'") and "<script" not in svg  # an image of its own
    secret = re.search(r'data-secret="([A-Z2-7]+)"', html).group(1)
    wrong = post_form(client, "/account", html, {"code": "000000"}, action="/account/factors/totp/confirm")
    assert wrong.status_code == 400 and 'id="code-error"' in text(wrong)
    good = post_form(
        client, "/account", html, {"code": pyotp.TOTP(secret).now()}, action="/account/factors/totp/confirm"
    )
    assert good.status_code == 302
    assert "totp" in services.factors.ready_types(user.sub)
    assert "Your authenticator app is set up." in text(client.get(good.headers["Location"]))


def test_account_page_turns_sms_and_email_codes_on_and_off(client, services, signed_in, user):
    page = text(client.get("/account"))
    response = post_form(client, "/account", page, action="/account/factors/sms")
    assert "Codes by SMS are turned on." in text(client.get(response.headers["Location"]))
    assert services.factors.ready_types(user.sub) == ["otp_sms"]
    page = text(client.get("/account"))
    post_form(client, "/account", page, action="/account/factors/email")
    response = post_form(client, "/account", page, action="/account/factors/sms/remove")
    assert "This way of verifying was turned off." in text(client.get(response.headers["Location"]))
    assert services.factors.ready_types(user.sub) == ["otp_email"]


def test_sms_needs_a_verified_phone_but_an_authenticator_app_never_does(client, services, sources):
    users.create(services, "carol", with_password=PASSWORD, with_verified_email="carol@example.com")
    submit(client, "/login", {"username": "carol", "password": PASSWORD})
    page = text(client.get("/account"))
    assert "Add and verify a phone number first." in page and 'href="#phone-heading"' in page
    assert 'action="/account/factors/sms"' not in page
    assert 'action="/account/factors/totp"' in page
    response = post_form(client, "/account", page, action="/account/factors/sms")  # forced anyway
    assert "Add and verify the phone number or email address first." in text(client.get(response.headers["Location"]))


def test_recovery_codes_are_shown_once(client, services, signed_in, user):
    page = text(client.get("/account"))
    shown = post_form(client, "/account", page, action="/account/recovery-codes")
    html = text(shown)
    codes = re.findall(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>", html)
    assert len(codes) == 10 and "I have saved these codes" in html
    account = text(client.get("/account"))
    assert "10 unused codes left." in account
    assert not any(code in account for code in codes)
    assert not any(code in str(flask_session(client.application, client)) for code in codes)


NEW_FORMS = [
    "/account/factors/sms",
    "/account/factors/email",
    "/account/factors/totp",
    "/account/factors/totp/confirm",
    "/account/factors/sms/remove",
    "/account/factors/totp/remove",
    "/account/recovery-codes",
    "/account/devices/1/revoke",
    "/account/devices/revoke-all",
]


@pytest.mark.parametrize("url", NEW_FORMS)
def test_account_forms_refuse_a_missing_csrf_token(client, signed_in, url):
    response = client.post(url, data={"code": "123456"})
    assert response.status_code == 400


@pytest.mark.parametrize("url", ["/mfa/sms/resend", "/mfa/enrol/totp", "/mfa/enrol/totp/confirm", "/mfa/enrol/email"])
def test_enrolment_forms_refuse_a_missing_csrf_token(client, services, make_app, url):
    """Posted by someone who must enrol (so no redirect hides the check)."""
    app_ = make_app(client_id="ENROL_APP", mfa="required")
    users.create(services, "dan", with_password=PASSWORD, with_verified_email="dan@example.com")
    location = password_step(client, authorize(client, app_.client_id), username="dan").headers["Location"]
    assert location.startswith("/mfa/enrol?")
    authz = parse_qs(urlsplit(location).query)["authz"][0]
    response = client.post(f"{url}?authz={authz}", data={"code": "123456"})
    assert response.status_code == 400
    assert services.factors.list(services.users.search(username="dan")[0].sub) == []


@pytest.mark.parametrize("method", ["totp", "recovery"])
def test_totp_and_recovery_forms_refuse_a_missing_csrf_token(client, services, user, method):
    authenticator = users.enrol_totp(services, user)
    codes = services.factors.new_recovery_codes(user.sub, _ctx())
    password_step(client, "/login")
    code = authenticator.now() if method == "totp" else codes[0]
    response = client.post(f"/mfa/{method}", data={"code": code})
    assert response.status_code == 400
    assert client.get_cookie("gh_sso") is None


def test_mfa_code_form_refuses_a_missing_csrf_token(client, mfa_app, user, outbox):
    url = follow(client, password_step(client, authorize(client, mfa_app.client_id)).headers["Location"])[0]
    response = client.post(url, data={"code": outbox.last_code(PHONE)})
    assert response.status_code == 400
    assert "This form has expired" in text(response)
    assert client.get_cookie("gh_sso") is None


# -- Simplified Chinese ---------------------------------------------------------------------
def test_mfa_pages_in_simplified_chinese(client, services, mfa_app, user):
    login = authorize(client, mfa_app.client_id, ui_locales="zh-CN")
    url = follow(client, password_step(client, login).headers["Location"])[0]
    html = text(client.get(url))
    assert '<html lang="zh-Hans">' in html
    assert "两步验证" in html and "验证" in html


def test_account_security_in_simplified_chinese(client, signed_in):
    html = text(client.get("/account", headers={"Accept-Language": "zh-CN"}))
    assert "两步验证" in html and "身份验证器应用" in html and "记住的设备" in html


# -- sign-up ----------------------------------------------------------------------------------
def test_signup_completes_without_a_second_step_then_the_policy_applies(client, services, mfa_app, outbox):
    """A new account has no factor and has just proved its contact: no second step at sign-up
    (documented in signup.py); the application's "required" holds from the next sign-in."""
    signup = authorize(client, mfa_app.client_id).replace("/login?", "/signup/email?")
    page = text(client.get(signup))
    sent = client.post(signup, data={"csrf_token": csrf_token(page), "email": "erin@example.com"})
    verify = sent.headers["Location"]
    page = text(client.get(verify))
    done = client.post(
        verify,
        data={
            "csrf_token": csrf_token(page),
            "code": outbox.last_code("erin@example.com"),
            "username": "erin",
            "password": PASSWORD,
        },
    )
    assert done.headers["Location"].startswith("/oauth2/authorize/continue")
    claims = id_token_claims(client, code_at_client(client, done.headers["Location"]), mfa_app.client_id)
    assert claims["amr"] == ["otp", "email"]

    client.delete_cookie("gh_sso")
    response = password_step(client, authorize(client, mfa_app.client_id), username="erin")
    assert response.headers["Location"].startswith("/mfa/enrol?authz=")
    html = text(client.get(response.headers["Location"]))
    assert "Use an authenticator app" in html and "Email a code to e***@example.com" in html
    action = re.search(r'action="(/mfa/enrol/email[^"]*)"', html).group(1).replace("&amp;", "&")
    step = post_form(client, action, html)
    assert step.headers["Location"].startswith("/mfa/email?")
    assert client.get_cookie("gh_sso") is None
