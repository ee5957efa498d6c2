"""The account page: profile, password, phone and email, second factors and remembered
devices (``account_security``), the person's sessions (sign out one, or everywhere) and the
applications they allowed (revoke access).

Each form posts to its own URL; a form with errors is shown again on the account page with
the other forms untouched."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from flask import abort, flash, make_response, redirect, request, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints.hosted.base import (
    CHANNEL,
    bp,
    code_page,
    forget_code,
    page_url,
    pending_code,
    resolve_page,
    respond,
    signed_in_user,
)
from blueprints.hosted.codes import ask_for_code
from blueprints.hosted.errors import attach
from blueprints.hosted.forms import (
    ActionForm,
    ChangePasswordForm,
    CodeForm,
    ProfileForm,
    SignOutEverywhereForm,
    target_form,
)
from blueprints.web import SESSION_COOKIE, clear_sso_cookie, services
from idp.errors import IdpError


def login_required(view):
    """Pass the signed-in person's ``sso`` and ``user``; otherwise go to the login page."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        sso, user = signed_in_user()
        if sso is None or user is None:
            return redirect(page_url("hosted.login"))
        return view(sso, user, *args, **kwargs)

    return wrapper


def account_page(user, status: int | None = None, **forms):
    """The page with every form; ``forms`` replaces the blank ones (one being answered)."""
    blank = {
        "profile_form": ProfileForm(formdata=None, data={"name": user.name, "locale": user.locale or ""}),
        "password_form": ChangePasswordForm(formdata=None),
        "phone_form": target_form("sms", formdata=None),
        "email_form": target_form("email", formdata=None),
        "everywhere_form": SignOutEverywhereForm(formdata=None),
        "action_form": ActionForm(formdata=None),
    }
    return respond(
        "hosted/account.html",
        resolve_page(),
        None,
        status,
        user=user,
        **security(user.sub),
        **access(user.sub),
        **{**blank, **forms},
    )


def access(sub: str) -> dict:
    """The person's SSO sessions (most recently used first; which one is this browser) and
    the third-party applications they allowed, for the page."""
    sessions = sorted(services().sessions.list_for(sub), key=lambda s: s.last_seen, reverse=True)
    this_browser = request.cookies.get(SESSION_COOKIE)
    return {
        "sessions": [(s, s.id == this_browser, datetime.fromtimestamp(s.last_seen, UTC)) for s in sessions],
        "applications": services().self_service.consented_applications(sub),
        "device_of": device_of,
    }


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_of(user_agent: str) -> str:
    """ "Chrome on Windows" from a User-Agent header: enough for a person to recognise a device."""
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or _("Unknown device")


def security(sub: str) -> dict:
    """Second factors (by type), recovery codes left and remembered devices, for the page."""
    factors = services().factors
    return {
        "factors": {factor.type: factor for factor in factors.list(sub)},
        "recovery_left": factors.recovery_codes_left(sub),
        "devices": services().devices.list(sub),
        "passkeys": services().passkeys.list(sub),
        "links": services().federation.links_of(sub),  # linked identity providers
    }


@bp.get("/account")
@login_required
def account(sso, user):
    return account_page(user)


@bp.post("/account/profile")
@login_required
def account_profile(sso, user):
    form, status = ProfileForm(), 400
    if form.validate_on_submit():
        try:
            fields = {"name": form.name.data or None, "locale": form.locale.data or None}
            services().self_service.update_profile(sso.sub, resolve_page().context(), fields)
            flash(str(_l("Your profile was saved.")), "success")
            return redirect(page_url("hosted.account"))
        except IdpError as exc:
            status = attach(form, exc)
    return account_page(user, status, profile_form=form)


@bp.post("/account/password")
@login_required
def account_password(sso, user):
    form, status = ChangePasswordForm(), 400
    if form.validate_on_submit():
        try:
            services().self_service.change_password(
                sso.sub,
                resolve_page().context(),
                old_password=form.current_password.data or "",
                new_password=form.password.data,
            )
            flash(str(_l("Your password was changed.")), "success")
            return redirect(page_url("hosted.account"))
        except IdpError as exc:
            status = attach(form, exc)
    return account_page(user, status, password_form=form)


@bp.post(f"/account/contact/{CHANNEL}")
@login_required
def account_contact(sso, user, channel: str):
    form = target_form(channel)
    sent, status = ask_for_code("update_userinfo", resolve_page(), channel, form)
    return sent or account_page(user, status or 400, **{"phone_form" if channel == "sms" else "email_form": form})


@bp.route(f"/account/contact/{CHANNEL}/verify", methods=["GET", "POST"])
@login_required
def account_contact_verify(sso, user, channel: str):
    page, status, state = resolve_page(), None, pending_code("update_userinfo", channel)
    if state is None:
        return redirect(page_url("hosted.account"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            services().self_service.change_contact(
                page.client,
                sso.sub,
                page.context(),
                channel=channel,
                target=state["target"],
                otp_token=state["otp_token"],
                code=form.code.data.strip(),
                auth_source_id=page.client.auth_source_for(channel),
            )
            forget_code("update_userinfo")
            flash(str(_l("Your contact details were updated.")), "success")
            return redirect(page_url("hosted.account"))
        except IdpError as exc:
            status = attach(form, exc)
    return code_page("hosted/account_verify.html", page, form, state, "update_userinfo", status)


@bp.post("/account/sign-out-everywhere")
@login_required
def account_sign_out_everywhere(sso, user):
    form = SignOutEverywhereForm()
    if not form.validate_on_submit():
        return account_page(user, 400, everywhere_form=form)
    services().self_service.sign_out_everywhere(sso.sub, resolve_page().context())
    flash(str(_l("You were signed out on every device.")), "success")
    return clear_sso_cookie(redirect(page_url("hosted.logout")))


@bp.post("/account/sessions/<sid>/sign-out")
@login_required
def account_sign_out_session(sso, user, sid: str):
    """Sign one session out (this browser's too), telling its applications (back-channel logout)."""
    if not ActionForm().validate_on_submit():
        abort(400)  # no or stale CSRF token
    ctx = resolve_page().context()
    if sid == sso.sid:
        services().login.end_session(sso, ctx)
        session.clear()
        return clear_sso_cookie(make_response(redirect(page_url("hosted.logout"))))
    if services().self_service.sign_out_session(sso.sub, sid, ctx):
        flash(str(_l("That session was signed out.")), "success")
    else:
        flash(str(_l("That session had already ended.")), "success")
    return redirect(page_url("hosted.account", _anchor="sessions"))


@bp.post("/account/applications/<client_id>/revoke")
@login_required
def account_revoke_access(sso, user, client_id: str):
    """Withdraw an application's access: its consent and its refresh tokens for this person."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if services().self_service.revoke_access(sso.sub, client_id, resolve_page().context()):
        flash(str(_l("The application's access was revoked.")), "success")
    return redirect(page_url("hosted.account", _anchor="applications"))
