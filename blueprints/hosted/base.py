"""What every hosted page shares: the blueprint, locale, the pending authorize request, the
one-time-code step kept in the signed Flask session, and how a finished login leaves.

Views stay thin: parse a form, call one service, render or redirect. Every rule lives in the
domain (``idp/``), so the JSON faces share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale

from blueprints.web import SESSION_COOKIE, current_sso_session, request_context, services, set_sso_cookie
from idp.context import RequestContext
from idp.errors import IdpError, error
from idp.flows.login import CHANNELS
from idp.flows.mfa import NeedsFactor
from idp.flows.results import Completed
from idp.models import Application
from idp.oauth.authorize import AuthzRequest
from idp.otp.service import SendResult

bp = Blueprint("hosted", __name__)

# the URL part naming a channel a code goes to (sign-in, sign-up, reset, contacts, factors)
CHANNEL = f"<any({', '.join(CHANNELS)}):channel>"
LOCALES = ("en", "zh_Hans")
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
METHOD_NAMES = {"password": "password", "sms_otp": "sms", "email_otp": "email"}


# -- locale ---------------------------------------------------------------------------
def _locale_from(tags: str | None) -> str | None:
    for tag in (tags or "").replace(",", " ").split():
        if tag.lower().startswith("zh"):
            return "zh_Hans"
        if tag.lower().startswith("en"):
            return "en"
    return None


def select_locale() -> str:
    """``ui_locales`` on the URL (OIDC), then the pending authorize request's ``ui_locales``
    (so the choice holds across every page of one sign-in), then Accept-Language."""
    chosen = _locale_from(request.args.get("ui_locales"))
    if chosen is None and request.args.get("authz"):
        try:
            pending = pending_request(request.args.get("authz"))
        except IdpError:  # Redis is down: the 503 page still renders, in the browser's language
            pending = None
        chosen = _locale_from(pending.ui_locales if pending else None)
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-SG", "zh-TW"])
    return "zh_Hans" if best and best.startswith("zh") else "en"


def html_lang() -> str:
    return HTML_LANG.get(str(get_locale() or "en"), "en")


# -- the page's application -----------------------------------------------------------
def pending_request(authz_id: str | None) -> AuthzRequest | None:
    """One Redis read per request, shared by the locale selector and the view."""
    cache = g.setdefault("gh_pending", {})
    if authz_id not in cache:
        cache[authz_id] = services().authz.peek(authz_id)
    return cache[authz_id]


@dataclass
class Page:
    """Who is asking: the pending authorize request (``?authz=``) and its application, or
    Gatehouse's own account client when someone opens the pages directly."""

    client: Application
    authz_id: str | None = None
    pending: AuthzRequest | None = None

    @property
    def app_name(self) -> str:
        return self.pending.client_name if self.pending else self.client.name

    @property
    def methods(self) -> list[str]:
        """``password`` / ``sms`` / ``email`` this application offers (and can deliver)."""
        wanted = self.pending.login_methods if self.pending and self.pending.login_methods else None
        names = [
            METHOD_NAMES[m] for m in self.client.login_methods if m in METHOD_NAMES and (wanted is None or m in wanted)
        ]
        return [n for n in names if n == "password" or self.client.auth_source_for(n)]

    @property
    def passkeys(self) -> bool:
        """Whether this application offers "Sign in with a passkey" (login method ``passkey``)."""
        wanted = self.pending.login_methods if self.pending and self.pending.login_methods else None
        return "passkey" in self.client.login_methods and (wanted is None or "passkey" in wanted)

    @property
    def channels(self) -> list[str]:
        """Channels this application can send codes on (sign-up, reset)."""
        return [c for c in CHANNELS if self.client.auth_source_for(c)]

    @property
    def login_hint(self) -> str:
        return (self.pending.login_hint or "") if self.pending else ""

    def url(self, endpoint: str, **values) -> str:
        return page_url(endpoint, authz=self.authz_id, **values)

    def context(self) -> RequestContext:
        return request_context(self.client.client_id)


def resolve_page() -> Page:
    """Raises authz.expired when ``?authz=`` names no pending request (expired or forged)."""
    authz_id = request.args.get("authz") or None
    if authz_id is None:
        return Page(services().clients.account_client())
    pending = pending_request(authz_id)
    client = services().clients.by_client_id(pending.client_id) if pending else None
    if pending is None or client is None:
        raise error("authz.expired", "the sign-in request has expired")
    return Page(client, authz_id, pending)


def page_url(endpoint: str, **values) -> str:
    """A URL that keeps the sign-in's ``authz`` and an explicit ``ui_locales``."""
    if "authz" not in values:
        values["authz"] = request.args.get("authz") or None
    if "ui_locales" not in values and request.args.get("ui_locales"):
        values["ui_locales"] = request.args["ui_locales"]
    return url_for(endpoint, **{k: v for k, v in values.items() if v is not None})


def switch_locale_url(locale: str) -> str:
    values = {**(request.view_args or {}), **request.args.to_dict(), "ui_locales": locale}
    return url_for(request.endpoint or "hosted.login", **values)


# -- rendering --------------------------------------------------------------------------
def has_errors(*forms) -> bool:
    return any(form.errors for form in forms if form is not None)


def respond(template: str, page: Page | None, form=None, status: int | None = None, **context):
    """Render a page: 400 when a submitted form has errors, else ``status`` or 200."""
    if status is None:
        status = 400 if request.method == "POST" and has_errors(form) else 200
    return render_template(template, page=page, form=form, **context), status


# -- finishing a login ------------------------------------------------------------------
# Remember this device (skip the second factor in this browser for a while): the raw
# credential lives only in this HttpOnly cookie; the server keeps its hash and decides
# (``MfaFlow.after_first_factor``).
DEVICE_COOKIE = "gh_device"
# The second step of a sign-in: the signed session holds the opaque state token and when a
# code was last sent; the user, the first factor and amr stay in Redis behind the token (a
# signed cookie is readable by its holder and can be replayed, a Redis entry can be spent).
MFA_KEY = "gh_mfa"


# An upstream person waiting to be linked to an existing account (``FederatedSignIn``): the
# opaque token of the waiting link, until its owner signs in in this browser.
FEDERATED_LINK = "gh_fed_link"


def link_waiting(done: Completed, page: Page) -> Completed:
    """Someone signed in while an upstream person waits to be linked: the flow links it when
    it is the right account signed in the right way, and ``fed`` joins the ``amr``."""
    token = session.pop(FEDERATED_LINK, None)
    if not isinstance(token, str) or not token:
        return done
    return services().federation.link_after_sign_in(token, done, page.client, page.context())


def finish_login(done: Completed, page: Page, *, second_factor: bool = True):
    """The first factor passed: ask the MFA flow whether a second one is needed (an application
    policy, an enrolled factor, a remembered device). ``NeedsFactor`` → the state token goes
    into the signed session and the browser to /mfa; ``Completed`` → signed in."""
    done = link_waiting(done, page)
    if second_factor:
        result = services().mfa.after_first_factor(
            page.client, page.context(), done, remembered_device=request.cookies.get(DEVICE_COOKIE)
        )
        if isinstance(result, NeedsFactor):
            for purpose in PURPOSES:
                forget_code(purpose)
            session[MFA_KEY] = {"token": result.state_token, "sent": {}}
            return redirect(page.url("hosted.mfa_enrol" if result.enrol else "hosted.mfa"))
        done = result
    return complete_login(done, page)


def complete_login(done: Completed, page: Page, remember: bool = False):
    """Start the SSO session under a fresh id (rotating the browser's old one), set the
    cookie, and go back to the authorize request or to the account page. ``remember`` (the
    person ticked "remember this device" after MFA) also sets the device credential cookie."""
    sso = services().login.start_session(done, page.context(), replaces=request.cookies.get(SESSION_COOKIE))
    for purpose in PURPOSES:
        forget_code(purpose)
    session.pop(MFA_KEY, None)
    session.pop("csrf_token", None)  # a fresh CSRF secret for the signed-in browser, too
    if page.authz_id:
        response = redirect(url_for("oauth.authorize_continue", authz=page.authz_id))
    else:
        response = redirect(page_url("hosted.account"))
    raw = services().mfa.remember_device(page.client, page.context(), done) if remember else None
    if raw:
        response.set_cookie(
            DEVICE_COOKIE,
            raw,
            max_age=remember_device_days(page) * 86400,
            httponly=True,
            samesite="Lax",
            secure=services().settings.issuer.startswith("https://"),
            path="/",
        )
    return set_sso_cookie(response, sso)


def remember_device_days(page: Page) -> int:
    """Days "remember this device" lasts for the page's application; 0 = not offered."""
    return int(getattr(page.client, "remember_device_days", 0) or 0)


def signed_in_user():
    """The signed-in person (a ``User``) or None."""
    sso = current_sso_session()
    return (sso, services().users.by_sub(sso.sub)) if sso else (None, None)


# -- the one-time-code step -------------------------------------------------------------
# The otp_token is an opaque handle, kept in the signed session cookie with the normalised
# target it was sent to (never the code). One slot per purpose.
PURPOSES = ("login", "signup", "reset_password", "update_userinfo")


def remember_code(purpose: str, sent: SendResult) -> None:
    session[f"gh_otp_{purpose}"] = {
        "channel": sent.channel,
        "target": sent.target,
        "otp_token": sent.otp_token,
        "sent_at": int(services().clock.time()),
    }


def pending_code(purpose: str, channel: str) -> dict | None:
    state = session.get(f"gh_otp_{purpose}")
    return state if isinstance(state, dict) and state.get("channel") == channel else None


def forget_code(purpose: str) -> None:
    session.pop(f"gh_otp_{purpose}", None)


def cooldown(state: dict | None, retry_after: int | None = None) -> int:
    """Seconds before another code may be asked for: the per-number interval
    (``GATEHOUSE_LIMIT_TARGET_INTERVAL``)."""
    if retry_after is not None:
        return retry_after
    if not state:
        return 0
    interval = services().settings.limits.target_interval
    return max(0, int(state.get("sent_at", 0)) + interval - int(services().clock.time()))


VERIFY_ENDPOINT = {
    "login": "hosted.login_verify",
    "signup": "hosted.signup_verify",
    "reset_password": "hosted.reset",
    "update_userinfo": "hosted.account_contact_verify",
}


def send_code(purpose: str, page: Page, channel: str, target: str) -> SendResult:
    """Send a code for ``purpose`` and remember its handle. Login goes through the login flow
    (method checks, no enumeration), sign-up through the sign-up flow (a free contact only);
    the others straight to the OTP service."""
    svc, source = services(), page.client.auth_source_for(channel)
    if purpose == "login":
        sent = svc.login.send_code(page.client, page.context(), channel, target)
    elif purpose == "signup":
        sent = svc.signup.send_code(page.client, page.context(), channel, target, source)
    else:
        sent = svc.otp.send(page.client, channel, target, purpose, source, page.context())
    remember_code(purpose, sent)
    return sent


def code_page(template: str, page: Page, form, state: dict, purpose: str, status: int | None = None, **context):
    """The "enter the code" step: masked target, resend button and its cooldown."""
    from blueprints.hosted.forms import ResendForm
    from idp.contacts import mask_target

    return respond(
        template,
        page,
        form,
        status,
        state=state,
        purpose=purpose,
        channel=state["channel"],
        masked=mask_target(state["channel"], state["target"]),
        cooldown=cooldown(state),
        resend_form=ResendForm(formdata=None),
        resend_url=page.url("hosted.resend_code", purpose=purpose, channel=state["channel"]),
        **context,
    )
