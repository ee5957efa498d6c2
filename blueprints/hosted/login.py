"""Sign in (password, SMS code, email code), resend a code, sign out.

The brute-force policy lives in the domain (``BruteForceGuard``, called by
``LoginFlow``); these pages only show what it decides:

- a captcha block once a captcha is due for what the person typed (or the flow answered
  ``login.captcha_required``). The typed answer is solved here (``CaptchaService.solve``, one
  attempt per image) and the resulting ``captcha_token`` goes to the flow; a wrong answer is an
  error on the captcha input, comes with a new image and checks no password. "Show a new image"
  is a plain link: the identifier it is for waits in the signed session, never in the URL.
- ``account.locked`` (a temporary lock): a message on the form saying when to try again.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, session
from flask_babel import gettext
from flask_wtf import FlaskForm

from blueprints.hosted.base import (
    CHANNEL,
    VERIFY_ENDPOINT,
    Page,
    bp,
    code_page,
    finish_login,
    page_url,
    pending_code,
    resolve_page,
    respond,
    send_code,
)
from blueprints.hosted.codes import ask_for_code
from blueprints.hosted.errors import attach, describe
from blueprints.hosted.federated import provider_buttons
from blueprints.hosted.forms import (
    ActionForm,
    LoginCodeForm,
    LogoutForm,
    PasskeyForm,
    PasswordLoginForm,
    ResendForm,
    target_form,
)
from blueprints.web import clear_sso_cookie, current_sso_session, request_context, services
from idp.context import RequestContext
from idp.errors import IdpError
from idp.factors.passkeys import PasskeyChallenge
from idp.guard.bruteforce import captcha_required, locked
from idp.guard.captcha import CaptchaChallenge


def hint_for(field: str, hint: str) -> dict:
    """Prefill the OIDC ``login_hint`` where it fits."""
    looks = "email" if "@" in hint else ("phone_number" if hint[:1] in "+0123456789" and hint else "username")
    return {field: hint} if hint and (looks == field or field == "username") else {}


# -- the captcha block ------------------------------------------------------------------
# The identifier the password page's captcha was shown for, so that "Show a new image" (a GET)
# keeps the typed username without putting it in the URL.
CAPTCHA_FOR = "gh_captcha_for"
CAPTCHA_ERRORS = ("login.captcha_required", "captcha.wrong_answer", "captcha.unknown_token")


def solve_captcha(form: FlaskForm, ctx: RequestContext) -> str | None:
    """The ``captcha_token`` for the captcha the person answered; None when the form showed
    none. Raises login.captcha_required (shown, not answered), captcha.wrong_answer,
    captcha.unknown_token (a challenge gets one attempt either way)."""
    challenge = (form.captcha_challenge.data or "").strip()
    if not challenge:
        return None
    answer = (form.captcha.data or "").strip()
    if not answer:
        raise captcha_required()
    return services().captcha.solve(challenge, answer, ctx)


def captcha_due(identifier: str | None, ctx: RequestContext) -> bool:
    identifier = (identifier or "").strip()
    return bool(identifier) and services().bruteforce.captcha_due(identifier, ctx)


def new_captcha(form: FlaskForm, ctx: RequestContext) -> CaptchaChallenge | None:
    """A new image for ``form``; what was typed for the previous one is cleared. None (and a
    message on the form) when this IP has drawn too many images this minute."""
    form.captcha.data = ""
    try:
        challenge = services().bruteforce.new_captcha(ctx)
    except IdpError as exc:
        if exc.code != "captcha.rate_limited":
            raise
        form.captcha_challenge.data = ""
        attach(form, exc)
        return None
    form.captcha_challenge.data = challenge.token
    form.captcha.flags.required = True  # shown, so needed: `required` on the input
    return challenge


def lock_started(failure: IdpError, identifier: str | None) -> IdpError | None:
    """After a failure that started a lock (the last one allowed), the lock, so the page says
    when to try again right away instead of on the next attempt."""
    identifier = (identifier or "").strip()
    if failure.code == "account.locked" or not identifier:
        return None
    retry_after = services().bruteforce.locked_for(identifier)
    return locked(retry_after) if retry_after else None


def refused(form: FlaskForm, exc: IdpError, identifier: str | None) -> tuple[IdpError, int]:
    """Show a refusal on ``form``; when it was the failure that started a lock, show the lock."""
    status = attach(form, exc)
    lock = lock_started(exc, identifier)
    return (lock, attach(form, lock)) if lock is not None else (exc, status)


def captcha_after(failure: IdpError, identifier: str | None, ctx: RequestContext) -> bool:
    """Whether the page shown after ``failure`` carries a captcha (never while locked)."""
    return failure.code != "account.locked" and (failure.code in CAPTCHA_ERRORS or captcha_due(identifier, ctx))


def locked_response(response, exc: IdpError | None):
    """``Retry-After`` on a page that says the identifier is temporarily locked."""
    body, status = response
    if exc is None or exc.code != "account.locked" or exc.retry_after is None:
        return body, status
    return body, status, {"Retry-After": str(exc.retry_after)}


# -- passkeys -------------------------------------------------------------------------------
def passkey_offer(page: Page) -> tuple[PasskeyForm, PasskeyChallenge] | None:
    """ "Sign in with a passkey" (and passkey autofill) for this page: the form and a fresh
    challenge, when the application offers passkeys. None when Redis cannot keep a challenge:
    the button is left out and every other way in still shows."""
    if not page.passkeys:
        return None
    try:
        challenge = services().login.passkey_options(page.client, page.context())
    except IdpError:
        return None
    return PasskeyForm(formdata=None, data={"handle": challenge.handle}), challenge


@bp.post("/login/passkey")
def login_passkey():
    """The browser's answer to the login page's passkey challenge; a refusal goes back to the
    login page with the reason."""
    page, form = resolve_page(), PasskeyForm()
    if not form.validate_on_submit():
        abort(400)  # no or stale CSRF token
    try:
        done = services().login.passkey(page.client, page.context(), form.handle.data or "", form.credential.data or "")
    except IdpError as exc:
        flash(str(describe(exc)[1]), "error")
        return redirect(page.url("hosted.login"))
    return finish_login(done, page)


@bp.route("/login", methods=["GET", "POST"])
def login():
    page, status, failure = resolve_page(), None, None
    providers = provider_buttons(page)  # "Continue with <name>"
    if (
        request.method == "GET"
        and "password" not in page.methods
        and page.methods
        and not page.passkeys
        and not providers
    ):
        return redirect(page.url("hosted.login_code", channel=page.methods[0]))
    if request.method == "GET" and not page.authz_id and current_sso_session():
        return redirect(page_url("hosted.account"))
    ctx = page.context()  # the captcha is bound to this application: solve and redeem under it
    form = PasswordLoginForm(data=hint_for("username", page.login_hint))
    show_captcha = False
    if request.method == "GET":
        show_captcha = bool(request.args.get("captcha"))  # "Show a new image"
        remembered = session.get(CAPTCHA_FOR)
        if isinstance(remembered, str) and remembered and (show_captcha or captcha_due(remembered, ctx)):
            form.username.data, show_captcha = remembered, True
    elif form.validate_on_submit():
        try:
            token = solve_captcha(form, ctx)
            done = services().login.password(
                page.client, ctx, form.username.data, form.password.data, captcha_token=token
            )
            session.pop(CAPTCHA_FOR, None)
            return finish_login(done, page)
        except IdpError as exc:
            failure, status = refused(form, exc, form.username.data)
        show_captcha = captcha_after(failure, form.username.data, ctx)
    else:  # a field or the CSRF token is missing: a shown captcha stays (its image is redrawn)
        show_captcha = bool(form.captcha_challenge.data)
    challenge = None
    if show_captcha:
        challenge = new_captcha(form, ctx)
        session[CAPTCHA_FOR] = (form.username.data or "").strip()
    passkey = passkey_offer(page)
    if passkey is not None:  # the browser may offer passkeys in the username field's autofill
        form.username.render_kw = {**(form.username.render_kw or {}), "autocomplete": "username webauthn"}
    return locked_response(
        respond(
            "hosted/login.html",
            page,
            form,
            status,
            method="password",
            captcha=challenge,
            new_captcha_url=page.url("hosted.login", captcha="new"),
            passkey=passkey,
            providers=providers,
            provider_form=ActionForm(formdata=None),
        ),
        failure,
    )


@bp.route(f"/login/{CHANNEL}", methods=["GET", "POST"])
def login_code(channel: str):
    page = resolve_page()
    if request.method == "GET" and channel not in page.methods:
        return redirect(page.url("hosted.login"))
    form = target_form(channel, data=hint_for("phone_number" if channel == "sms" else "email", page.login_hint))
    sent, status = ask_for_code("login", page, channel, form)
    return sent or respond("hosted/login_code.html", page, form, status, method=channel, channel=channel)


@bp.route(f"/login/{CHANNEL}/verify", methods=["GET", "POST"])
def login_verify(channel: str):
    page, status = resolve_page(), None
    state = pending_code("login", channel)
    if state is None:
        return redirect(page.url("hosted.login_code", channel=channel))
    ctx, failure = page.context(), None
    form = LoginCodeForm()
    show_captcha = False
    if request.method == "GET":
        show_captcha = bool(request.args.get("captcha")) or captcha_due(state["target"], ctx)
    elif form.validate_on_submit():
        try:
            token = solve_captcha(form, ctx)
            done = services().login.verify_code(
                page.client,
                ctx,
                channel,
                state["target"],
                state["otp_token"],
                form.code.data.strip(),
                captcha_token=token,
            )
            return finish_login(done, page)
        except IdpError as exc:
            failure, status = refused(form, exc, state["target"])
        show_captcha = captcha_after(failure, state["target"], ctx)
    else:
        show_captcha = bool(form.captcha_challenge.data)
    challenge = new_captcha(form, ctx) if show_captcha else None
    return locked_response(
        code_page(
            "hosted/login_verify.html",
            page,
            form,
            state,
            "login",
            status,
            method=channel,
            captcha=challenge,
            new_captcha_url=page.url("hosted.login_verify", channel=channel, captcha="new"),
        ),
        failure,
    )


@bp.post(f"/code/<any(login, signup, reset_password, update_userinfo):purpose>/resend/{CHANNEL}")
def resend_code(purpose: str, channel: str):
    """Send the code again (the same code while it is still valid: one code in flight per
    number and usage); errors come back as a flash."""
    page, state = resolve_page(), pending_code(purpose, channel)
    if not ResendForm().validate_on_submit():
        abort(400)  # no or stale CSRF token
    if state is not None:
        try:
            send_code(purpose, page, channel, state["target"])
            flash(gettext("We sent the code again."), "success")
        except IdpError as exc:
            flash(str(describe(exc)[1]), "error")
    return redirect(page.url(VERIFY_ENDPOINT[purpose], channel=channel))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    sso, form = current_sso_session(), LogoutForm()
    if form.validate_on_submit():
        if sso is not None:
            services().login.end_session(sso, request_context())
        session.clear()  # CSRF secret and any code handles go with the sign-in
        return clear_sso_cookie(make_response(respond("hosted/logout.html", None, None, signed_out=True)))
    return respond("hosted/logout.html", None, form, signed_in=sso is not None)
