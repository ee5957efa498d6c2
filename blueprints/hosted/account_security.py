"""Second factors and remembered devices on the account page: turn a factor on or off, make new
recovery codes, forget the browsers that may skip the second step.

SMS and email codes need a verified phone number / email address; an authenticator app
(TOTP) needs nothing, so everyone can turn on a factor that is not SMS (a restricted
authenticator). Recovery codes and the TOTP secret are shown once, on the answer to the POST
that made them, and are never kept in the session.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, make_response, redirect, request, session
from flask_babel import lazy_gettext as _l

from blueprints.hosted.account import login_required
from blueprints.hosted.base import CHANNEL, bp, page_url, resolve_page, respond
from blueprints.hosted.errors import attach, describe
from blueprints.hosted.forms import ActionForm, AddPasskeyForm, TotpConfirmForm
from blueprints.hosted.mfa import totp_page
from blueprints.web import clear_sso_cookie, services
from idp.context import RequestContext
from idp.errors import IdpError
from idp.factors.passkeys import RECENT_SIGN_IN, signed_in_recently

FACTOR_TYPES = {"sms": "otp_sms", "email": "otp_email", "totp": "totp"}
TURNED_ON = {"sms": _l("Codes by SMS are turned on."), "email": _l("Codes by email are turned on.")}
TURNED_OFF = _l("This way of verifying was turned off.")


def act(call: Callable[[RequestContext], object], success) -> object:
    """A button-only form: check its CSRF token, make the one service call, say how it went,
    and go back to the account page."""
    if not ActionForm().validate_on_submit():
        abort(400)  # no or stale CSRF token
    try:
        call(resolve_page().context())
        flash(str(success), "success")
    except IdpError as exc:
        flash(str(describe(exc)[1]), "error")
    return redirect(page_url("hosted.account", _anchor="security"))


@bp.post(f"/account/factors/{CHANNEL}")
@login_required
def account_factor_add(sso, user, channel: str):
    return act(lambda ctx: services().factors.add_otp(sso.sub, channel, ctx), TURNED_ON[channel])


@bp.post("/account/factors/<any(sms, email, totp):method>/remove")
@login_required
def account_factor_remove(sso, user, method: str):
    return act(lambda ctx: services().factors.remove(sso.sub, FACTOR_TYPES[method], ctx), TURNED_OFF)


@bp.post("/account/factors/totp")
@login_required
def account_totp(sso, user):
    if not ActionForm().validate_on_submit():
        abort(400)
    page = resolve_page()
    setup = services().factors.start_totp(sso.sub, page.context())
    return totp_page(page, TotpConfirmForm(formdata=None), setup, "hosted.account_totp")


@bp.post("/account/factors/totp/confirm")
@login_required
def account_totp_confirm(sso, user):
    page, form, status = resolve_page(), TotpConfirmForm(), None
    if form.validate_on_submit():
        try:
            services().factors.confirm_totp(sso.sub, form.code.data.strip(), page.context())
            flash(str(_l("Your authenticator app is set up.")), "success")
            return redirect(page_url("hosted.account", _anchor="security"))
        except IdpError as exc:
            status = attach(form, exc)
    return totp_page(page, form, None, "hosted.account_totp", status)


@bp.post("/account/recovery-codes")
@login_required
def account_recovery_codes(sso, user):
    if not ActionForm().validate_on_submit():
        abort(400)
    codes = services().factors.new_recovery_codes(sso.sub, resolve_page().context())
    return respond("hosted/recovery_codes.html", resolve_page(), None, codes=codes)


@bp.post("/account/devices/<int:device_id>/revoke")
@login_required
def account_device_revoke(sso, user, device_id: int):
    return act(
        lambda ctx: services().devices.revoke(sso.sub, device_id, ctx),
        _l("This device will be asked for a second step again."),
    )


@bp.post("/account/devices/revoke-all")
@login_required
def account_devices_revoke_all(sso, user):
    return act(
        lambda ctx: services().devices.revoke_all(sso.sub, ctx),
        _l("Every device will be asked for a second step again."),
    )


# -- passkeys -----------------------------------------------------------------------------
@bp.route("/account/passkeys/new", methods=["GET", "POST"])
@login_required
def account_passkey_add(sso, user):
    """ "Add a passkey": the page carries a registration challenge; the browser's answer (and
    the name the person gave it) comes back in the POST. A sign-in older than
    ``RECENT_SIGN_IN`` is asked to sign in again first."""
    page, form, status = resolve_page(), AddPasskeyForm(), None
    svc = services()
    if not signed_in_recently(sso, svc.clock.time()):
        return respond(
            "hosted/passkey_add.html",
            page,
            ActionForm(formdata=None),
            None,
            reauthenticate=True,
            recent_minutes=RECENT_SIGN_IN // 60,
        )
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                svc.passkeys.register(
                    sso.sub, form.handle.data or "", form.credential.data or "", form.name.data, page.context()
                )
                flash(str(_l("Your passkey was added.")), "success")
                return redirect(page_url("hosted.account", _anchor="passkeys"))
            except IdpError as exc:
                status = attach(form, exc)
        else:
            status = 400
    challenge = svc.passkeys.registration_options(sso.sub, page.context())
    form.handle.data, form.credential.data = challenge.handle, ""
    return respond("hosted/passkey_add.html", page, form, status, challenge=challenge, reauthenticate=False)


@bp.post("/account/passkeys/reauthenticate")
@login_required
def account_passkey_reauthenticate(sso, user):
    """Sign out of this browser and go to the login page, to come back with a fresh sign-in."""
    if not ActionForm().validate_on_submit():
        abort(400)
    services().login.end_session(sso, resolve_page().context())
    session.clear()
    return clear_sso_cookie(make_response(redirect(page_url("hosted.login"))))


@bp.post("/account/passkeys/<passkey_id>/remove")
@login_required
def account_passkey_remove(sso, user, passkey_id: str):
    return act(lambda ctx: services().passkeys.remove(sso.sub, passkey_id, ctx), _l("The passkey was removed."))
