"""The one-time-code pages: "choose a channel, send a code, then enter it".

Sign-up and password reset are the same three steps around a different last call (create the
account, set the new password): ``CodeFlow`` is those steps once. The first step alone (send a
code to what was typed, then go to the page that checks it) also starts a sign-in by code and a
change of phone number or email address on the account page (``ask_for_code``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import redirect
from flask_wtf import FlaskForm

from blueprints.hosted.base import VERIFY_ENDPOINT, Page, code_page, pending_code, resolve_page, respond, send_code
from blueprints.hosted.errors import attach
from blueprints.hosted.forms import target_form
from idp.accounts.proofs import ContactCode
from idp.errors import IdpError


def ask_for_code(purpose: str, page: Page, channel: str, form: FlaskForm):
    """For a submitted ``form`` (a phone number or email address): send a code for ``purpose``
    and go to the page that checks it. Returns (that redirect, None), or (None, the status of
    the page showing ``form`` again: its refusal is next to the field)."""
    if not form.validate_on_submit():
        return None, None
    try:
        send_code(purpose, page, channel, form.target.data)
    except IdpError as exc:
        return None, attach(form, exc)
    return redirect(page.url(VERIFY_ENDPOINT[purpose], channel=channel)), None


# what a flow does with the proven contact: (page, the code as typed, the form) -> the response
Finish = Callable[[Page, ContactCode, FlaskForm], object]


@dataclass(frozen=True)
class CodeFlow:
    """A page flow proving a phone number or email address with a code: ``choose`` picks the
    channel and sends the code, ``verify`` takes it with the rest of its form."""

    purpose: str  # the code's usage (``signup``, ``reset_password``)
    start: str  # endpoint of the first step
    start_template: str
    verify_template: str

    def choose(self, channel: str | None):
        """The first step on ``channel``; without one (or one the application cannot send on),
        the first channel it can, or a page saying the flow is not available."""
        page = resolve_page()
        if channel is None or channel not in page.channels:
            if not page.channels:
                return respond(self.start_template, page, None, channel=None)
            return redirect(page.url(self.start, channel=page.channels[0]))
        form = target_form(channel)
        sent, status = ask_for_code(self.purpose, page, channel, form)
        return sent or respond(self.start_template, page, form, status, channel=channel)

    def verify(self, channel: str, form_class: type[FlaskForm], finish: Finish):
        """The code step: ``finish`` gets the code with the contact it was sent to; a refusal
        is shown on the form. Back to the first step when no code is pending."""
        page, status = resolve_page(), None
        state = pending_code(self.purpose, channel)
        if state is None:
            return redirect(page.url(self.start, channel=channel))
        form = form_class()
        if form.validate_on_submit():
            code = ContactCode(
                channel,
                state["target"],
                state["otp_token"],
                form.code.data.strip(),
                page.client.auth_source_for(channel),
            )
            try:
                return finish(page, code, form)
            except IdpError as exc:
                status = attach(form, exc)
        return code_page(self.verify_template, page, form, state, self.purpose, status)
