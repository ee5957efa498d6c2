"""Sign in (password, SMS code, email code), resend a code, sign out (SPEC 4.6)."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, session
from flask_babel import gettext

from blueprints.hosted.base import (
    VERIFY_ENDPOINT,
    bp,
    code_page,
    finish_login,
    page_url,
    pending_code,
    resolve_page,
    respond,
    send_code,
)
from blueprints.hosted.errors import attach, describe
from blueprints.hosted.forms import CodeForm, LogoutForm, PasswordLoginForm, ResendForm, target_form
from blueprints.web import clear_sso_cookie, current_sso_session, request_context, services
from idp.errors import IdpError

CHANNEL = "<any(sms, email):channel>"


def hint_for(field: str, hint: str) -> dict:
    """Prefill the OIDC ``login_hint`` where it fits."""
    looks = "email" if "@" in hint else ("phone_number" if hint[:1] in "+0123456789" and hint else "username")
    return {field: hint} if hint and (looks == field or field == "username") else {}


@bp.route("/login", methods=["GET", "POST"])
def login():
    page, status = resolve_page(), None
    if request.method == "GET" and "password" not in page.methods and page.methods:
        return redirect(page.url("hosted.login_code", channel=page.methods[0]))
    if request.method == "GET" and not page.authz_id and current_sso_session():
        return redirect(page_url("hosted.account"))
    form = PasswordLoginForm(data=hint_for("username", page.login_hint))
    if form.validate_on_submit():
        try:
            done = services().login.password(page.client, page.context(), form.username.data, form.password.data)
            return finish_login(done, page)
        except IdpError as exc:
            status = attach(form, exc)
    return respond("hosted/login.html", page, form, status, method="password")


@bp.route(f"/login/{CHANNEL}", methods=["GET", "POST"])
def login_code(channel: str):
    page, status = resolve_page(), None
    if request.method == "GET" and channel not in page.methods:
        return redirect(page.url("hosted.login"))
    form = target_form(channel, data=hint_for("phone_number" if channel == "sms" else "email", page.login_hint))
    if form.validate_on_submit():
        try:
            send_code("login", page, channel, form.target.data)
            return redirect(page.url("hosted.login_verify", channel=channel))
        except IdpError as exc:
            status = attach(form, exc)
    return respond("hosted/login_code.html", page, form, status, method=channel, channel=channel)


@bp.route(f"/login/{CHANNEL}/verify", methods=["GET", "POST"])
def login_verify(channel: str):
    page, status = resolve_page(), None
    state = pending_code("login", channel)
    if state is None:
        return redirect(page.url("hosted.login_code", channel=channel))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            done = services().login.verify_code(page.client, page.context(), channel, state["target"],
                                                state["otp_token"], form.code.data.strip())
            return finish_login(done, page)
        except IdpError as exc:
            status = attach(form, exc)
    return code_page("hosted/login_verify.html", page, form, state, "login", status, method=channel)


@bp.post(f"/code/<any(login, signup, reset_password, update_userinfo):purpose>/resend/{CHANNEL}")
def resend_code(purpose: str, channel: str):
    """Send the code again (the same live code, SPEC 3); errors come back as a flash."""
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
