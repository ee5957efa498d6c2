"""The second step of a sign-in: the MFA challenge and, when the application requires MFA and
the person has nothing to use yet, enrolment on the spot.

The signed session holds only the opaque state token and when a code was last sent (so a
refresh never sends another); who is signing in, and with which first factor, stays in Redis
behind the token (``MfaFlow``). Enrolment on the token is allowed only while the person must
enrol (policy required, no usable factor, no verified phone): a stolen password must not be
enough to add an attacker's authenticator to an account that has one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import abort, flash, redirect, request, session
from flask_babel import gettext

from blueprints.hosted.base import (
    CHANNEL,
    MFA_KEY,
    Page,
    bp,
    complete_login,
    cooldown,
    remember_device_days,
    resolve_page,
    respond,
)
from blueprints.hosted.errors import attach, describe
from blueprints.hosted.forms import (
    ActionForm,
    MfaCodeForm,
    PasskeyForm,
    RecoveryCodeForm,
    ResendForm,
    TotpConfirmForm,
)
from blueprints.web import services
from idp.contacts import mask_target
from idp.errors import IdpError, error
from idp.factors import TotpSetup

# URL name -> factor type (MfaFlow / FactorService), in the order offered
METHODS = {"totp": "totp", "sms": "otp_sms", "email": "otp_email", "recovery": "recovery_code"}
METHOD = "<any(totp, sms, email, recovery):method>"
# what the page offers, strongest first: a passkey (its own page), then the codes
OFFERED = {"passkey": "passkey", **METHODS}


@dataclass
class Challenge:
    """The pending second step, as the pages need it."""

    token: str
    sub: str
    methods: list[str]  # URL names the person can use now
    masked: dict[str, str]  # channel -> masked phone number / email address
    enrol: bool  # must set up a factor first (and has none usable yet)
    can_enrol: dict[str, bool]  # channel -> verified contact to enrol it with


def current_challenge(page: Page) -> Challenge:
    """Raises mfa.invalid_state_token when no second step is pending (or it expired, was used)."""
    token = (session.get(MFA_KEY) or {}).get("token")
    if not token:
        raise error("mfa.invalid_state_token", "no second step is pending")
    state = services().mfa.peek(page.client, page.context(), token)
    user = services().users.by_sub(state.sub)
    if user is None:  # the account went away meanwhile
        raise error("mfa.invalid_state_token", "no such user")
    ready = set(state.factors) | set(services().factors.ready_types(state.sub))
    if services().passkeys.list(state.sub):
        ready.add("passkey")
    masked = {
        "sms": mask_target("sms", user.phone_number) if user.phone_number else "",
        "email": mask_target("email", user.email) if user.email else "",
    }
    return Challenge(
        token,
        state.sub,
        [m for m, f in OFFERED.items() if f in ready],
        masked,
        enrol=state.enrol and not ready - {"recovery_code"},
        can_enrol={"sms": bool(user.phone_verified), "email": bool(user.email_verified)},
    )


def second_step(enrolment: bool = False):
    """Pass the page and the ``Challenge``; an unknown, expired or used state token shows the
    "start again" page. ``enrolment`` views send a person who need not enrol to the challenge."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            page = resolve_page()
            try:
                challenge = current_challenge(page)
                if enrolment and not challenge.enrol:
                    return redirect(page.url("hosted.mfa"))
                return view(page, challenge, *args, **kwargs)
            except IdpError as exc:
                if exc.code != "mfa.invalid_state_token":
                    raise
                session.pop(MFA_KEY, None)
                return respond("hosted/mfa_expired.html", page, None, 404)

        return wrapper

    return decorate


def sent_state(channel: str) -> dict | None:
    sent = (session.get(MFA_KEY) or {}).get("sent") or {}
    return {"sent_at": sent[channel]} if channel in sent else None


def send_mfa_code(page: Page, challenge: Challenge, channel: str) -> bool:
    """Send the code to the person's own number/address; remember when (also after a refused
    send, so the cooldown shows and a refresh does not ask again)."""
    ok, now, retry_after = True, int(services().clock.time()), None
    state = session.get(MFA_KEY) or {}
    try:
        services().mfa.send_code(page.client, page.context(), challenge.token, channel)
        # the state token is rotated after each step, so a copy of an earlier one is dead
        # (the code it now carries goes along)
        state["token"] = challenge.token = services().mfa.rotate(page.client, page.context(), challenge.token)
    except IdpError as exc:
        flash(str(describe(exc)[1]), "error")
        ok, retry_after = False, exc.retry_after
    if retry_after is not None:  # show the service's own wait
        now += retry_after - services().settings.limits.target_interval
    session[MFA_KEY] = {**state, "sent": {**(state.get("sent") or {}), channel: now}}
    return ok


def mfa_page(page: Page, challenge: Challenge, method: str, form, status: int | None = None):
    sent = sent_state(method)
    return respond(
        "hosted/mfa.html",
        page,
        form,
        status,
        method=method,
        challenge=challenge,
        masked=challenge.masked.get(method, ""),
        cooldown=cooldown(sent),
        resend_form=ResendForm(formdata=None),
        remember_days=remember_device_days(page),
        resend_url=page.url("hosted.mfa_resend", channel=method) if sent else None,
    )


@bp.get("/mfa")
@second_step()
def mfa(page: Page, challenge: Challenge):
    if challenge.enrol or not challenge.methods:
        return redirect(page.url("hosted.mfa_enrol"))
    if challenge.methods[0] == "passkey":
        return redirect(page.url("hosted.mfa_passkey"))
    return redirect(page.url("hosted.mfa_verify", method=challenge.methods[0]))


@bp.route(f"/mfa/{METHOD}", methods=["GET", "POST"])
@second_step()
def mfa_verify(page: Page, challenge: Challenge, method: str):
    if method not in challenge.methods:
        return redirect(page.url("hosted.mfa"))
    if method in ("sms", "email") and request.method == "GET" and sent_state(method) is None:
        send_mfa_code(page, challenge, method)  # sent on arrival; the redirect makes a refresh harmless
        return redirect(page.url("hosted.mfa_verify", method=method))
    form, status = (RecoveryCodeForm if method == "recovery" else MfaCodeForm)(), None
    if form.validate_on_submit():
        try:
            done = services().mfa.verify(
                page.client, page.context(), challenge.token, METHODS[method], (form.code.data or "").strip()
            )
            return complete_login(done, page, remember=bool(form.remember.data))
        except IdpError as exc:
            status = attach(form, exc)
    return mfa_page(page, challenge, method, form, status)


@bp.route("/mfa/passkey", methods=["GET", "POST"])
@second_step()
def mfa_passkey(page: Page, challenge: Challenge):
    """The second step with one of the person's passkeys: the page carries a challenge naming
    them; the browser's answer comes back in the POST."""
    if "passkey" not in challenge.methods:
        return redirect(page.url("hosted.mfa"))
    form, status = PasskeyForm(), None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)  # no or stale CSRF token
        try:
            done = services().mfa.verify_passkey(
                page.client, page.context(), challenge.token, form.handle.data or "", form.credential.data or ""
            )
            return complete_login(done, page)
        except IdpError as exc:
            if exc.code == "mfa.invalid_state_token":
                raise
            flash(str(describe(exc)[1]), "error")
            return redirect(page.url("hosted.mfa"))
    offer = services().mfa.passkey_options(page.client, page.context(), challenge.token)
    form = PasskeyForm(formdata=None, data={"handle": offer.handle})
    return respond(
        "hosted/mfa.html",
        page,
        None,
        status,
        method="passkey",
        challenge=challenge,
        passkey=(form, offer),
        remember_days=0,
    )


@bp.post(f"/mfa/{CHANNEL}/resend")
@second_step()
def mfa_resend(page: Page, challenge: Challenge, channel: str):
    if not ResendForm().validate_on_submit():
        abort(400)  # no or stale CSRF token
    if channel in challenge.methods and send_mfa_code(page, challenge, channel):
        flash(gettext("We sent the code again."), "success")
    return redirect(page.url("hosted.mfa_verify", method=channel))


# -- enrolment on the state token (policy "required", nothing usable yet) -----------------
@bp.get("/mfa/enrol")
@second_step(enrolment=True)
def mfa_enrol(page: Page, challenge: Challenge):
    return respond("hosted/mfa_enrol.html", page, ActionForm(formdata=None), challenge=challenge)


@bp.post(f"/mfa/enrol/{CHANNEL}")
@second_step(enrolment=True)
def mfa_enrol_otp(page: Page, challenge: Challenge, channel: str):
    form, status = ActionForm(), 400
    if form.validate_on_submit():
        try:
            services().factors.add_otp(challenge.sub, channel, page.context())
            return redirect(page.url("hosted.mfa_verify", method=channel))
        except IdpError as exc:
            status = attach(form, exc)
    return respond("hosted/mfa_enrol.html", page, form, status, challenge=challenge)


@bp.post("/mfa/enrol/totp")
@second_step(enrolment=True)
def mfa_enrol_totp(page: Page, challenge: Challenge):
    if not ActionForm().validate_on_submit():
        abort(400)
    setup = services().mfa.start_enrolment(page.client, page.context(), challenge.token)
    return totp_page(page, TotpConfirmForm(formdata=None), setup, "hosted.mfa_enrol_totp")


@bp.post("/mfa/enrol/totp/confirm")
@second_step(enrolment=True)
def mfa_enrol_totp_confirm(page: Page, challenge: Challenge):
    form, status = TotpConfirmForm(), None
    if form.validate_on_submit():
        try:  # the first code proves the new factor: it is the second step, the sign-in completes
            done = services().mfa.confirm_enrolment(
                page.client, page.context(), challenge.token, (form.code.data or "").strip()
            )
            return complete_login(done, page)
        except IdpError as exc:
            status = attach(form, exc)
    return totp_page(page, form, None, "hosted.mfa_enrol_totp", status)


def totp_page(page: Page, form, setup: TotpSetup | None, endpoint: str, status: int | None = None):
    """The authenticator-app setup (login enrolment and account page): the QR code as an
    ``<img>`` data URI (CSP ``img-src data:``) and the secret for manual entry, shown once."""
    qr = setup.qr_data_uri if setup else None
    return respond(
        "hosted/totp_setup.html",
        page,
        form,
        status,
        setup=setup,
        qr=qr,
        start_url=page.url(endpoint),
        confirm_url=page.url(f"{endpoint}_confirm"),
        restart_form=ActionForm(formdata=None),
        in_login=endpoint.startswith("hosted.mfa"),
    )
