"""The admin console (``/admin``): server-rendered pages for the people who run Gatehouse.

The console is a first-party OpenID Connect relying party of Gatehouse itself (its client is
``idp.console.CONSOLE_CLIENT_ID``): ``/admin`` without a console session sends the browser to
``/oauth2/authorize`` (code + PKCE S256, ``state``, ``nonce``), the hosted pages sign the person
in (with a second factor where the console's MFA policy asks), and ``/admin/callback`` takes
the code back.

The code is exchanged in-process: the callback hands a token request to the same Authlib
server ``/oauth2/token`` runs (client authentication, PKCE, single use, ID token), inside a
request context of its own, rather than over HTTP to itself. Same checks, no loopback
connection, no second worker needed while the first waits, and tests see it as any request.
The ID token is then checked as any relying party would (OpenID Connect Core 1.0, 3.1.3.7:
signature, ``iss``, ``aud``, ``exp``, ``nonce``). The console session is the ``sub`` in the
signed Flask session, valid while the browser's SSO session of that person lives and the
person is an active administrator (asked again on every request).

Views stay thin: every count, search and action is a function of ``idp.console``.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from functools import wraps
from hashlib import sha256
from urllib.parse import quote, urlencode

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from werkzeug.test import EnvironBuilder
from wtforms import SubmitField

from blueprints.errors import STATUS
from blueprints.hosted.base import page_url
from blueprints.web import clear_sso_cookie, current_sso_session, request_context, services
from idp import console
from idp.errors import IdpError
from idp.models import User

bp = Blueprint("console", __name__, url_prefix="/admin")

PENDING = "console_pending"  # Flask session: state, nonce and PKCE verifier of the sign-in under way
SIGNED_IN = "console_sub"  # Flask session: the administrator's sub
SCOPE = "openid profile"


class ConsoleError(Exception):
    """A sign-in the console refuses (bad state, refused code, bad ID token)."""


# -- the console session ------------------------------------------------------------------
def current_admin() -> User | None:
    """The signed-in administrator, or None. The browser's SSO session must still be theirs."""
    sub = session.get(SIGNED_IN)
    if not sub:
        return None
    sso = current_sso_session()
    if sso is None or sso.sub != sub:
        session.pop(SIGNED_IN, None)
        return None
    return console.administrator(services(), sub)


def admin_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        admin = current_admin()
        if admin is None:
            if session.get(SIGNED_IN):  # signed in, but no longer an administrator
                return forbidden()
            return redirect(page_url("console.login", next=request.full_path.rstrip("?")))
        g.console_admin = admin
        return view(*args, **kwargs)

    return wrapper


def admin_context():
    """The request's context with the administrator as ``actor`` (audit events name them)."""
    return replace(request_context(console.CONSOLE_CLIENT_ID), actor=g.console_admin.sub)


def forbidden():
    return render_template("console/forbidden.html"), 403


@bp.errorhandler(IdpError)
def idp_error(exc: IdpError):
    status = STATUS.get(exc.kind, 400)
    return render_template("console/error.html", message=exc.message, code=exc.code, status=status), status


# -- signing in -----------------------------------------------------------------------------
def _issuer() -> str:
    return services().settings.issuer


@bp.get("/login")
def login():
    """Start the authorization code flow (RFC 6749 4.1 with RFC 7636 S256)."""
    console.ensure_console_client(services())
    pending = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": _safe_next(request.args.get("next")),
    }
    session[PENDING] = pending
    challenge = base64.urlsafe_b64encode(sha256(pending["verifier"].encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": console.CONSOLE_CLIENT_ID,
        "redirect_uri": console.redirect_uri(_issuer()),
        "scope": SCOPE,
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "ui_locales": "zh-Hans" if str(get_locale()) == "zh_Hans" else "en",
    }
    return redirect(f"{url_for('oauth.authorize')}?{urlencode(query)}")


def _safe_next(value: str | None) -> str | None:
    """Only a console address: never another site (an open redirect)."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@bp.get("/callback")
def callback():
    pending = session.pop(PENDING, None)  # single use, whatever happens next
    try:
        if not pending or not hmac.compare_digest(request.args.get("state", ""), pending["state"]):
            raise ConsoleError(_l("This sign-in was not started here, or has already been used."))
        if request.args.get("error"):
            raise ConsoleError(_l("The sign-in was not completed."))
        code = request.args.get("code")
        if not code:
            raise ConsoleError(_l("The sign-in was not completed."))
        sub = _exchange(code, pending)
    except ConsoleError as exc:
        return render_template("console/error.html", message=str(exc), status=400), 400
    session[SIGNED_IN] = sub
    if console.administrator(services(), sub) is None:
        return forbidden()
    return redirect(pending.get("next") or page_url("console.dashboard"))


def _exchange(code: str, pending: dict) -> str:
    """The code for tokens at the token endpoint, in-process; the ID token's ``sub``."""
    svc = services()
    client = console.ensure_console_client(svc)
    credentials = (
        f"{quote(client.client_id, safe='')}:{quote(console.console_secret(svc.settings.secret_key), safe='')}"
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    environ = EnvironBuilder(
        path="/oauth2/token",
        method="POST",
        base_url=_issuer(),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": console.redirect_uri(_issuer()),
            "code_verifier": pending["verifier"],
        },
        headers=[
            ("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()),
            ("User-Agent", request.headers.get("User-Agent", "")),
        ],
        environ_base={"REMOTE_ADDR": request.remote_addr or "0.0.0.0"},  # noqa: S104
    ).get_environ()
    # a request context of its own inside this one's application context (Flask pushes no
    # second one for the same application): the database session and its teardown stay this request's
    with app.request_context(environ):
        response = app.extensions["gatehouse.oauth"].create_token_response()
    body = response.get_json(silent=True) or {}
    if response.status_code != 200 or "id_token" not in body:
        raise ConsoleError(_l("The sign-in was refused. Please try again."))
    try:
        token = svc.keys.decode(body["id_token"], algorithms=[client.id_token_signed_response_alg or "RS256"])
        JWTClaimsRegistry(
            iss={"essential": True, "value": _issuer()},
            aud={"essential": True, "value": client.client_id},
            nonce={"essential": True, "value": pending["nonce"]},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise ConsoleError(_l("The sign-in was refused. Please try again.")) from exc
    return str(token.claims["sub"])


class ConfirmForm(FlaskForm):
    """Only a CSRF token and the button: the action is in the address."""

    submit = SubmitField()


@bp.context_processor
def signout_form():
    """Every console page carries the Sign out button (a CSRF-checked POST)."""
    return {
        "signout_form": ConfirmForm(formdata=None),
        "status_name": status_name,
        "factor_name": factor_name,
        "utc_time": utc_time,
    }


STATUS_NAMES = {"active": _l("Active"), "locked": _l("Locked"), "disabled": _l("Disabled")}
FACTOR_NAMES = {"otp_sms": _l("Text message (SMS)"), "otp_email": _l("Email"), "totp": _l("Authenticator app")}


def status_name(status: str) -> str:
    return str(STATUS_NAMES.get(status, status))


def factor_name(type_: str) -> str:
    return str(FACTOR_NAMES.get(type_, type_))


def utc_time(value: datetime | float | None) -> str:
    """An instant (a datetime, or epoch seconds as sessions keep it) as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


@bp.post("/logout")
def logout():
    """Sign out of the console and end this browser's Gatehouse session."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    session.pop(SIGNED_IN, None)
    svc = services()
    svc.authz.end_session(
        current_sso_session(), request_context(console.CONSOLE_CLIENT_ID), client_id=console.CONSOLE_CLIENT_ID
    )
    return clear_sso_cookie(redirect(page_url("console.signed_out")))


@bp.get("/signed-out")
def signed_out():
    return render_template("console/signed_out.html")


# -- pages ----------------------------------------------------------------------------------
@bp.get("")
@bp.get("/")
@admin_required
def dashboard():
    return render_template("console/dashboard.html", stats=console.dashboard(services()), nav="dashboard")


@bp.get("/users")
@admin_required
def users():
    q = request.args.get("q", "")
    after = request.args.get("after", type=int)
    result = console.search_users(services(), q, after=after)
    next_url = page_url("console.users", q=q or None, after=result.next_after) if result.next_after else None
    return render_template("console/users.html", q=q, result=result, next_url=next_url, nav="users")


@bp.get("/users/<sub>")
@admin_required
def user(sub: str):
    detail = console.user_detail(services(), sub)
    return render_template("console/user.html", detail=detail, nav="users")


@bp.get("/audit")
@admin_required
def audit():
    """The audit log, newest first, with the admin API's filters and its ``before_id`` cursor."""
    args = request.args.to_dict()
    try:
        page = console.search_audit(services(), args)
    except IdpError as exc:
        if STATUS.get(exc.kind, 400) != 400:
            raise
        return render_template(
            "console/audit.html", args=args, events=[], next_url=None, problem=exc.message, nav="audit"
        ), 400
    next_url = None
    if page.next_before_id is not None:
        next_url = page_url("console.audit", **{**args, "before_id": str(page.next_before_id)})
    return render_template(
        "console/audit.html", args=args, events=page.events, next_url=next_url, problem=None, nav="audit"
    )


ALG = "<any(RS256, ES256, EdDSA):alg>"


@bp.get("/keys")
@admin_required
def keys():
    return render_template(
        "console/keys.html",
        keys=console.signing_keys(services()),
        algs=console.SIGNING_ALGS,
        default_alg=services().settings.jwt_alg,
        nav="keys",
    )


@bp.route(f"/keys/{ALG}/rotate", methods=["GET", "POST"])
@admin_required
def rotate_key(alg: str):
    """GET asks on a page of its own; the POST (CSRF-checked) makes a new key for ``alg``."""
    form = ConfirmForm()
    form.submit.label.text = _l("Rotate signing key")
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            kid = console.rotate_key(services(), alg, admin_context())
            flash(str(_l("A new %(alg)s signing key is active: %(kid)s.", alg=alg, kid=kid)), "success")
            return redirect(page_url("console.keys"))
        status = 400
    active = [k.kid for k in console.signing_keys(services()) if k.alg == alg and k.state == "active"]
    return render_template(
        "console/confirm.html",
        form=form,
        title=_l("Rotate signing key"),
        question=_l(
            "Make a new %(alg)s signing key? New tokens are signed with it; the current key is "
            "retired but stays published, so tokens it signed still verify.",
            alg=alg,
        ),
        summary=[(_l("Algorithm"), alg), (_l("Active key"), ", ".join(active) or "—")],
        action_url=page_url("console.rotate_key", alg=alg),
        cancel_url=page_url("console.keys"),
        nav="keys",
    ), status


ACTION_NAMES = {
    "lock": _l("Lock"),
    "unlock": _l("Unlock"),
    "disable": _l("Disable"),
    "sign_out_everywhere": _l("Sign out everywhere"),
    "reset_factors": _l("Reset second factors"),
    "delete": _l("Delete user"),
}
ACTION_QUESTIONS = {
    "lock": _l("Lock this account? The person cannot sign in until an administrator unlocks it."),
    "unlock": _l("Unlock this account? The person can sign in again, and a temporary lock is lifted."),
    "disable": _l("Disable this account? The person can no longer sign in."),
    "sign_out_everywhere": _l(
        "Sign this person out everywhere? Every session, refresh token and remembered device ends."
    ),
    "reset_factors": _l(
        "Remove every second factor of this person, and their recovery codes? "
        "They set up a second factor again where one is required."
    ),
    "delete": _l(
        "Delete this user? The account, its sessions, refresh tokens, second factors and consents "
        "are removed for good. This cannot be undone."
    ),
}
ACTION_DONE = {
    "lock": _l("The account is locked."),
    "unlock": _l("The account is unlocked."),
    "disable": _l("The account is disabled."),
    "sign_out_everywhere": _l("The person is signed out everywhere."),
    "reset_factors": _l("Every second factor of the person is removed."),
    "delete": _l("The user is deleted."),
}
ACTION = "<any(lock, unlock, disable, sign_out_everywhere, reset_factors, delete):action>"
# actions after which the person's page is gone: back to the list instead
LEAVES_USER = frozenset({"delete"})


@bp.route(f"/users/<sub>/{ACTION}", methods=["GET", "POST"])
@admin_required
def user_action(sub: str, action: str):
    """A destructive action: GET asks on a page of its own, the POST (CSRF-checked) does it."""
    detail = console.user_detail(services(), sub)
    form = ConfirmForm()
    form.submit.label.text = ACTION_NAMES[action]
    if request.method == "POST":
        if form.validate_on_submit():
            console.act(services(), action, sub, admin_context())
            flash(str(ACTION_DONE[action]), "success")
            if action in LEAVES_USER:
                return redirect(page_url("console.users"))
            return redirect(page_url("console.user", sub=sub))
        status = 400
    else:
        status = 200
    return render_template(
        "console/confirm.html",
        detail=detail,
        form=form,
        action_url=page_url("console.user_action", sub=sub, action=action),
        cancel_url=page_url("console.user", sub=sub),
        action=action,
        question=ACTION_QUESTIONS[action],
        title=ACTION_NAMES[action],
        nav="users",
    ), status


from blueprints import console_clients, console_providers  # noqa: E402,F401  (they register their routes on bp)
