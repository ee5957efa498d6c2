"""Forgot password: a code to the phone or email, then a new password.

No enumeration: a code is sent whether or not an account uses the contact; only someone who
received the code learns the answer (``SelfService.reset_password``).
"""

from __future__ import annotations

from flask import redirect

from blueprints.hosted.base import bp, code_page, forget_code, pending_code, resolve_page, respond, send_code
from blueprints.hosted.errors import attach
from blueprints.hosted.forms import ResetForm, target_form
from blueprints.web import clear_sso_cookie, services
from idp.accounts.proofs import ContactCode
from idp.errors import IdpError

CHANNEL = "<any(sms, email):channel>"


@bp.route("/forgot", methods=["GET"])
@bp.route(f"/forgot/{CHANNEL}", methods=["GET", "POST"])
def forgot(channel: str | None = None):
    page, status = resolve_page(), None
    if channel is None or channel not in page.channels:
        if not page.channels:
            return respond("hosted/forgot.html", page, None, channel=None)
        return redirect(page.url("hosted.forgot", channel=page.channels[0]))
    form = target_form(channel)
    if form.validate_on_submit():
        try:
            send_code("reset_password", page, channel, form.target.data)
            return redirect(page.url("hosted.reset", channel=channel))
        except IdpError as exc:
            status = attach(form, exc)
    return respond("hosted/forgot.html", page, form, status, channel=channel)


@bp.route(f"/forgot/{CHANNEL}/reset", methods=["GET", "POST"])
def reset(channel: str):
    page, status = resolve_page(), None
    state = pending_code("reset_password", channel)
    if state is None:
        return redirect(page.url("hosted.forgot", channel=channel))
    form = ResetForm()
    if form.validate_on_submit():
        try:
            code = ContactCode(channel, state["target"], state["otp_token"], form.code.data.strip(),
                               page.client.auth_source_for(channel))
            services().self_service.reset_password(page.client, page.context(), code, form.password.data)
            forget_code("reset_password")  # every session of the user ended, this browser's too
            return clear_sso_cookie(redirect(page.url("hosted.reset_done")))
        except IdpError as exc:
            status = attach(form, exc)
    return code_page("hosted/reset.html", page, form, state, "reset_password", status)


@bp.get("/forgot/done")
def reset_done():
    return respond("hosted/reset_done.html", resolve_page(), None)
