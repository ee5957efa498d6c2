"""Sign-up with a phone number or email address proven by a code (``SignUpFlow``)."""

from __future__ import annotations

from flask import redirect

from blueprints.hosted.base import bp, code_page, finish_login, pending_code, resolve_page, respond, send_code
from blueprints.hosted.errors import attach
from blueprints.hosted.forms import SignupForm, target_form
from blueprints.web import services
from idp.accounts.proofs import ContactCode
from idp.errors import IdpError

CHANNEL = "<any(sms, email):channel>"


@bp.route("/signup", methods=["GET"])
@bp.route(f"/signup/{CHANNEL}", methods=["GET", "POST"])
def signup(channel: str | None = None):
    page, status = resolve_page(), None
    if channel is None or channel not in page.channels:
        if not page.channels:
            return respond("hosted/signup.html", page, None, channel=None)
        return redirect(page.url("hosted.signup", channel=page.channels[0]))
    form = target_form(channel)
    if form.validate_on_submit():
        try:
            send_code("signup", page, channel, form.target.data)
            return redirect(page.url("hosted.signup_verify", channel=channel))
        except IdpError as exc:
            status = attach(form, exc)
    return respond("hosted/signup.html", page, form, status, channel=channel)


@bp.route(f"/signup/{CHANNEL}/verify", methods=["GET", "POST"])
def signup_verify(channel: str):
    page, status = resolve_page(), None
    state = pending_code("signup", channel)
    if state is None:
        return redirect(page.url("hosted.signup", channel=channel))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            code = ContactCode(channel, state["target"], state["otp_token"], form.code.data.strip(),
                               page.client.auth_source_for(channel))
            done = services().signup.sign_up(page.client, page.context(), code, username=form.username.data or None,
                                             password=form.password.data or None,
                                             profile={"name": form.name.data} if form.name.data else None)
            # No second step at sign-up: the account is seconds old and has no factor to check
            # (MFA guards existing accounts), and the person just proved the phone/email that
            # would be challenged (an SMS sign-up would even be refused a second SMS by the
            # per-number interval). The application's policy applies from the next sign-in.
            return finish_login(done, page, second_factor=False)
        except IdpError as exc:
            status = attach(form, exc)
    return code_page("hosted/signup_verify.html", page, form, state, "signup", status)

