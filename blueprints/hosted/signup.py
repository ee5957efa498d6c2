"""Sign-up with a phone number or email address proven by a code (``SignUpFlow``)."""

from __future__ import annotations

from blueprints.hosted.base import CHANNEL, Page, bp, finish_login
from blueprints.hosted.codes import CodeFlow
from blueprints.hosted.forms import SignupForm
from blueprints.web import services
from idp.accounts.proofs import ContactCode

SIGNUP = CodeFlow("signup", "hosted.signup", "hosted/signup.html", "hosted/signup_verify.html")


@bp.route("/signup", methods=["GET"])
@bp.route(f"/signup/{CHANNEL}", methods=["GET", "POST"])
def signup(channel: str | None = None):
    return SIGNUP.choose(channel)


@bp.route(f"/signup/{CHANNEL}/verify", methods=["GET", "POST"])
def signup_verify(channel: str):
    return SIGNUP.verify(channel, SignupForm, sign_up)


def sign_up(page: Page, code: ContactCode, form: SignupForm):
    done = services().signup.sign_up(
        page.client,
        page.context(),
        code,
        username=form.username.data or None,
        password=form.password.data or None,
        profile={"name": form.name.data} if form.name.data else None,
    )
    # No second step at sign-up: the account is seconds old and has no factor to check
    # (MFA guards existing accounts), and the person just proved the phone/email that
    # would be challenged (an SMS sign-up would even be refused a second SMS by the
    # per-number interval). The application's policy applies from the next sign-in.
    return finish_login(done, page, second_factor=False)
