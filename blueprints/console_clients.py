"""The admin console's pages for applications (OAuth clients) and auth sources (OTP channels).

They register on the console blueprint (``blueprints.console.bp``) and call the same domain
services as the admin API (``blueprints/api/admin.py``): form input goes through the API's own
request models (``idp.admin.shapes``), so a value the API refuses is refused here with the same
message, and every change is made with ``admin_context()`` so audit events name the
administrator.

A client secret is shown once, in the response to the POST that made it: never kept in the
Flask session or a flash message, and that response is ``Cache-Control: no-store`` (RFC 9111,
5.2.2.5). A form that makes a secret carries a single-use submission token, so reloading the
page (which re-sends the POST) makes no second application and rotates nothing again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, session
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from blueprints.console import ConfirmForm, admin_context, admin_required, bp
from blueprints.errors import STATUS
from blueprints.hosted.base import page_url
from blueprints.web import services
from idp import console
from idp.admin import service as admin
from idp.admin import shapes
from idp.errors import IdpError, error
from idp.models import Application, AuthSource, IdentityProvider
from idp.oauth.registration import APP_TYPES, DEFAULT_LOGIN_METHODS, LOGIN_METHODS, MFA_POLICIES, SUPPORTED_GRANTS
from idp.settings import JWT_ALGORITHMS

ONCE = "console_once"  # Flask session: the unused single-use tokens of forms that make a secret
ONCE_KEEP = 20  # forms open at once (tabs) whose tokens are remembered

TYPE_NAMES = {
    "web": _l("Web application (server side, confidential)"),
    "spa": _l("Single-page application (public)"),
    "native": _l("Native or mobile app (public)"),
    "m2m": _l("Machine to machine (confidential)"),
}
GRANT_NAMES = {
    "authorization_code": _l("Authorization code"),
    "refresh_token": _l("Refresh token"),
    "http://tencentciam.com/oauth2/grant-type/otp/sms": _l("SMS one-time code"),
    "http://tencentciam.com/oauth2/grant-type/otp/email": _l("Email one-time code"),
    "client_credentials": _l("Client credentials"),
}
LOGIN_METHOD_NAMES = {
    "password": _l("Password"),
    "sms_otp": _l("SMS code"),
    "email_otp": _l("Email code"),
    "passkey": _l("Passkey"),
}
MFA_NAMES = {"off": _l("Off"), "optional": _l("Optional"), "required": _l("Required")}
KIND_NAMES = {"sms": _l("SMS"), "email": _l("Email")}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes; ``validate_choice=False``: what is allowed is the domain's to say."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validate_choice=False, **kwargs)


class OnceForm(FlaskForm):
    once = HiddenField()


class ApplicationForm(OnceForm):
    """Every field an operator sets; ``type`` only at creation. Values are not checked here:
    ``shapes.parse`` and the clients service check them, as they do for the admin API."""

    name = StringField(_l("Name"))
    type = SelectField(_l("Type"), validate_choice=False)
    redirect_uris = TextAreaField(_l("Redirect URIs"))
    post_logout_redirect_uris = TextAreaField(_l("Post-logout redirect URIs"))
    grant_types = MultiCheckboxField(_l("Grant types"))
    scopes = StringField(_l("Scopes"))
    login_methods = MultiCheckboxField(_l("Sign-in methods"))
    auth_source_ids = MultiCheckboxField(_l("Auth sources"))
    mfa = SelectField(_l("Second factor (MFA)"), validate_choice=False)
    auto_signup = BooleanField(_l("Sign up people who are not known yet when they sign in with a code"))
    first_party = BooleanField(_l("First party (no consent page)"))
    access_token_alg = SelectField(_l("Access token signing algorithm"), validate_choice=False)
    id_token_signed_response_alg = SelectField(_l("ID token signing algorithm"), validate_choice=False)
    backchannel_logout_uri = StringField(_l("Back-channel logout URI"))
    # -- identity providers: a "Continue with <name>" button each on the login page --
    identity_provider_ids = MultiCheckboxField(_l("Identity providers"))

    def offer_providers(self, providers: list[IdentityProvider]) -> ApplicationForm:
        self.identity_provider_ids.choices = [(p.id, p.name) for p in providers]
        return self

    # -- end of identity providers --

    def offer(self, sources: list[AuthSource]) -> ApplicationForm:
        self.type.choices = [(t, str(TYPE_NAMES.get(t, t))) for t in APP_TYPES]
        self.grant_types.choices = [(g, str(GRANT_NAMES.get(g, g))) for g in SUPPORTED_GRANTS]
        self.login_methods.choices = [(m, str(LOGIN_METHOD_NAMES.get(m, m))) for m in LOGIN_METHODS]
        self.auth_source_ids.choices = [(s.id, f"{s.name} ({KIND_NAMES.get(s.kind, s.kind)})") for s in sources]
        self.mfa.choices = [(m, str(MFA_NAMES.get(m, m))) for m in MFA_POLICIES]
        self.access_token_alg.choices = [("", str(_l("Instance default"))), *((a, a) for a in JWT_ALGORITHMS)]
        self.id_token_signed_response_alg.choices = [(a, a) for a in JWT_ALGORITHMS]
        return self

    def payload(self) -> dict[str, Any]:
        """The form as the admin API's JSON body (a blank name is left out, so the request
        model's own "required" answers it)."""
        body: dict[str, Any] = {
            "redirect_uris": _lines(self.redirect_uris.data),
            "post_logout_redirect_uris": _lines(self.post_logout_redirect_uris.data),
            "grant_types": list(self.grant_types.data or []),
            "scopes": (self.scopes.data or "").split(),
            "login_methods": list(self.login_methods.data or []),
            "auth_source_ids": list(self.auth_source_ids.data or []),
            "auto_signup": bool(self.auto_signup.data),
            "first_party": bool(self.first_party.data),
            "access_token_alg": self.access_token_alg.data or None,
            "identity_provider_ids": list(self.identity_provider_ids.data or []),
            "backchannel_logout_uri": (self.backchannel_logout_uri.data or "").strip() or None,
        }
        # a choice not sent at all is left to the request model's default, as in the API
        for field in (self.name, self.type, self.mfa, self.id_token_signed_response_alg):
            if (field.data or "").strip():
                body[field.name] = field.data
        return body


class AuthSourceForm(FlaskForm):
    kind = SelectField(_l("Channel"), validate_choice=False)
    id = StringField(_l("Identifier (optional)"))
    name = StringField(_l("Name"))
    code_length = StringField(_l("Code length (digits)"))
    code_ttl = StringField(_l("Code lifetime (seconds)"))
    template = TextAreaField(_l("Message template"))

    def offer(self) -> AuthSourceForm:
        self.kind.choices = [(k, str(name)) for k, name in KIND_NAMES.items()]
        return self

    def payload(self) -> dict[str, Any]:
        """As the admin API's body: blank fields are left out (the service's defaults apply)."""
        body: dict[str, Any] = {"kind": self.kind.data}
        for field in (self.id, self.name, self.code_length, self.code_ttl, self.template):
            value = (field.data or "").strip()
            if value:
                body[field.name] = value
        return body


def _changed(body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Only what the operator changed: a PATCH (and its audit event) names just those fields."""
    return {name: value for name, value in body.items() if name in current and current[name] != value}


def show_error(form: FlaskForm, exc: IdpError) -> int:
    """A domain error as the form's error (on the field it names, when the form has it)."""
    field = getattr(form, str(exc.details.get("name", "")).split(".")[0], None) if exc.details else None
    message = exc.message or exc.code
    if field is not None and hasattr(field, "errors") and field.name != "once":
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)
    return STATUS.get(exc.kind, 400)


# -- single-use submissions ---------------------------------------------------------------
def issue_once(form: OnceForm) -> None:
    token = secrets.token_urlsafe(16)
    session[ONCE] = [*session.get(ONCE, [])[-(ONCE_KEEP - 1) :], token]
    form.once.data = token


def use_once(form: OnceForm) -> bool:
    """True the first time the form's token comes back, False on a resubmission (a reload)."""
    tokens = session.get(ONCE, [])
    if not form.once.data or form.once.data not in tokens:
        return False
    session[ONCE] = [t for t in tokens if t != form.once.data]
    return True


def secret_page(client_id: str, name: str, secret: str, *, rotated: bool):
    response = render_template(
        "console/secret.html", client_id=client_id, name=name, secret=secret, rotated=rotated, nav="applications"
    )
    return response, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _subject(name: str, identifier: str) -> list[tuple[Any, str]]:
    """What a confirmation page is about (``console/confirm.html``'s summary)."""
    return [(_l("Name"), name), (_l("Identifier"), identifier)]


def confirmed_delete(delete: Callable[[], object], *, deleted: Any, done_url: str, **page: Any):
    """A deletion behind its confirmation page (``console/confirm.html`` with ``page``): GET
    asks; the CSRF-checked POST deletes, flashes ``deleted`` and goes to ``done_url``. A refusal
    (a source or provider still in use) is shown on the same page, and nothing is deleted."""
    form = ConfirmForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                delete()
            except IdpError as exc:
                status = show_error(form, exc)
            else:
                flash(str(deleted), "success")
                return redirect(done_url, 303)
        else:
            status = 400
    return render_template("console/confirm.html", form=form, **page), status


# -- applications ---------------------------------------------------------------------------
def application_of(client_id: str) -> Application:
    """An application the console manages. Its own client is Gatehouse's to keep in line with
    the settings (``idp.console.ensure_console_client``), so here it does not exist.
    Raises client.not_found."""
    if client_id == console.CONSOLE_CLIENT_ID:
        raise error("client.not_found")
    return services().clients.get_application(client_id)


@bp.get("/applications")
@admin_required
def applications():
    apps = [a for a in services().clients.list_applications() if a.client_id != console.CONSOLE_CLIENT_ID]
    return render_template("console/applications.html", apps=apps, grant_names=GRANT_NAMES, nav="applications")


@bp.route("/applications/new", methods=["GET", "POST"])
@admin_required
def new_application():
    svc = services()
    form = ApplicationForm().offer(svc.clients.list_auth_sources()).offer_providers(console.identity_providers(svc))
    status = 200
    if request.method == "GET":
        form.process(
            data={"type": "web", "mfa": "off", "first_party": True, "login_methods": list(DEFAULT_LOGIN_METHODS)}
        )
    elif form.validate_on_submit():
        if not use_once(form):
            flash(str(_l("This form was already sent. A client secret is shown only once.")), "error")
            return redirect(page_url("console.applications"), 303)
        try:
            data = shapes.parse(shapes.ApplicationIn, form.payload())
            app, secret = svc.clients.create_application(data, admin_context())
        except IdpError as exc:
            status = show_error(form, exc)
        else:
            if secret is None:  # a public client has nothing to show
                flash(str(_l("The application is created.")), "success")
                return redirect(page_url("console.application", client_id=app.client_id), 303)
            return secret_page(app.client_id, app.name, secret, rotated=False)
    else:
        status = 400
    issue_once(form)
    return render_template("console/application_form.html", form=form, app=None, nav="applications"), status


@bp.get("/applications/<client_id>")
@admin_required
def application(client_id: str):
    app = application_of(client_id)
    return render_template(
        "console/application.html",
        app=app,
        providers=services().identity_providers.offered_by(app),
        grant_names=GRANT_NAMES,
        type_names=TYPE_NAMES,
        method_names=LOGIN_METHOD_NAMES,
        mfa_names=MFA_NAMES,
        nav="applications",
    )


@bp.route("/applications/<client_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_application(client_id: str):
    svc = services()
    app = application_of(client_id)
    current = shapes.render_application(app)
    form = ApplicationForm().offer(svc.clients.list_auth_sources()).offer_providers(console.identity_providers(svc))
    status = 200
    if request.method == "GET":
        form.process(
            data={
                **current,
                "redirect_uris": "\n".join(app.redirect_uris),
                "post_logout_redirect_uris": "\n".join(app.post_logout_redirect_uris),
                "scopes": " ".join(app.scopes),
                "access_token_alg": app.access_token_alg or "",
                "backchannel_logout_uri": app.backchannel_logout_uri or "",
            }
        )
    elif form.validate_on_submit():
        form.type.data = app.type  # not a field of a PATCH: shown, never sent
        body = _changed(form.payload(), current)
        body.pop("type", None)
        try:
            data = shapes.parse(shapes.ApplicationPatch, body, partial=True)
            if data:
                svc.clients.update_application(client_id, data, admin_context())
        except IdpError as exc:
            status = show_error(form, exc)
        else:
            flash(str(_l("The application is saved.")) if data else str(_l("Nothing was changed.")), "success")
            return redirect(page_url("console.application", client_id=client_id), 303)
    else:
        status = 400
    form.type.data = app.type
    return render_template("console/application_form.html", form=form, app=app, nav="applications"), status


@bp.route("/applications/<client_id>/secret", methods=["GET", "POST"])
@admin_required
def rotate_secret(client_id: str):
    """GET asks; the POST replaces the secret and shows the new one, once."""
    app = application_of(client_id)
    form = OnceForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            if not use_once(form):
                flash(str(_l("This form was already sent. A client secret is shown only once.")), "error")
                return redirect(page_url("console.application", client_id=client_id), 303)
            secret = services().clients.rotate_secret(client_id, admin_context())
            return secret_page(client_id, app.name, secret, rotated=True)
        status = 400
    issue_once(form)
    return render_template(
        "console/confirm.html",
        form=form,
        title=_l("Rotate secret"),
        question=_l(
            "Replace the client secret of this application? The current secret stops working at once: "
            "the application must be given the new one."
        ),
        action_url=page_url("console.rotate_secret", client_id=client_id),
        cancel_url=page_url("console.application", client_id=client_id),
        summary=_subject(app.name, app.client_id),
        nav="applications",
    ), status


@bp.route("/applications/<client_id>/delete", methods=["GET", "POST"])
@admin_required
def delete_application(client_id: str):
    app = application_of(client_id)
    return confirmed_delete(
        lambda: admin.delete_application(services(), client_id, admin_context()),
        deleted=_l("The application is deleted."),
        done_url=page_url("console.applications"),
        title=_l("Delete application"),
        question=_l(
            "Delete this application? It can no longer sign anyone in, and its refresh tokens are revoked. "
            "This cannot be undone."
        ),
        action_url=page_url("console.delete_application", client_id=client_id),
        cancel_url=page_url("console.application", client_id=client_id),
        summary=_subject(app.name, app.client_id),
        nav="applications",
    )


# -- auth sources ---------------------------------------------------------------------------
@bp.get("/auth-sources")
@admin_required
def auth_sources():
    sources = services().clients.list_auth_sources()
    return render_template("console/auth_sources.html", sources=sources, kind_names=KIND_NAMES, nav="auth_sources")


@bp.route("/auth-sources/new", methods=["GET", "POST"])
@admin_required
def new_auth_source():
    form = AuthSourceForm().offer()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                data = shapes.parse(shapes.AuthSourceIn, form.payload())
                source = services().clients.create_auth_source(data, admin_context())
            except IdpError as exc:
                status = show_error(form, exc)
            else:
                flash(str(_l("The auth source is created.")), "success")
                return redirect(page_url("console.auth_source", source_id=source.id), 303)
        else:
            status = 400
    else:
        form.process(data={"kind": "sms", "code_length": "6", "code_ttl": "60"})
    return render_template("console/auth_source_form.html", form=form, source=None, nav="auth_sources"), status


@bp.get("/auth-sources/<source_id>")
@admin_required
def auth_source(source_id: str):
    source = services().clients.get_auth_source(source_id)
    users = [a for a in services().clients.list_applications() if a.has_auth_source(source_id)]
    return render_template(
        "console/auth_source.html",
        source=source,
        users=users,
        kind_names=KIND_NAMES,
        console_client_id=console.CONSOLE_CLIENT_ID,
        nav="auth_sources",
    )


@bp.route("/auth-sources/<source_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_auth_source(source_id: str):
    source = services().clients.get_auth_source(source_id)
    current = {
        "name": source.name,
        "code_length": str(source.code_length),
        "code_ttl": str(source.code_ttl),
        "template": source.template or "",
    }
    form = AuthSourceForm().offer()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            body = {name: (getattr(form, name).data or "").strip() for name in current}
            changed = _changed(body, current)
            if "template" in changed and not changed["template"]:
                changed["template"] = None  # emptied: no template of its own
            try:
                data = shapes.parse(shapes.AuthSourcePatch, changed, partial=True)
                if data:
                    services().clients.update_auth_source(source_id, data, admin_context())
            except IdpError as exc:
                status = show_error(form, exc)
            else:
                flash(str(_l("The auth source is saved.")) if data else str(_l("Nothing was changed.")), "success")
                return redirect(page_url("console.auth_source", source_id=source_id), 303)
        else:
            status = 400
    else:
        form.process(data={**current, "kind": source.kind, "id": source.id})
    return render_template("console/auth_source_form.html", form=form, source=source, nav="auth_sources"), status


@bp.route("/auth-sources/<source_id>/delete", methods=["GET", "POST"])
@admin_required
def delete_auth_source(source_id: str):
    source = services().clients.get_auth_source(source_id)
    return confirmed_delete(  # auth_source.in_use: nothing deleted, said on this page
        lambda: services().clients.delete_auth_source(source_id, admin_context()),
        deleted=_l("The auth source is deleted."),
        done_url=page_url("console.auth_sources"),
        title=_l("Delete auth source"),
        question=_l("Delete this auth source? Applications can no longer send codes through it."),
        action_url=page_url("console.delete_auth_source", source_id=source_id),
        cancel_url=page_url("console.auth_source", source_id=source_id),
        summary=_subject(source.name, source.id),
        nav="auth_sources",
    )
