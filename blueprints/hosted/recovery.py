"""Forgot password: a code to the phone or email, then a new password.

No enumeration: a code is sent whether or not an account uses the contact; only someone who
received the code learns the answer (``SelfService.reset_password``).
"""

from __future__ import annotations

from flask import redirect

from blueprints.hosted.base import CHANNEL, Page, bp, forget_code, resolve_page, respond
from blueprints.hosted.codes import CodeFlow
from blueprints.hosted.forms import ResetForm
from blueprints.web import clear_sso_cookie, services
from idp.accounts.proofs import ContactCode

RESET = CodeFlow("reset_password", "hosted.forgot", "hosted/forgot.html", "hosted/reset.html")


@bp.route("/forgot", methods=["GET"])
@bp.route(f"/forgot/{CHANNEL}", methods=["GET", "POST"])
def forgot(channel: str | None = None):
    return RESET.choose(channel)


@bp.route(f"/forgot/{CHANNEL}/reset", methods=["GET", "POST"])
def reset(channel: str):
    return RESET.verify(channel, ResetForm, reset_password)


def reset_password(page: Page, code: ContactCode, form: ResetForm):
    services().self_service.reset_password(page.client, page.context(), code, form.password.data)
    forget_code("reset_password")  # every session of the user ended, this browser's too
    return clear_sso_cookie(redirect(page.url("hosted.reset_done")))


@bp.get("/forgot/done")
def reset_done():
    return respond("hosted/reset_done.html", resolve_page(), None)
