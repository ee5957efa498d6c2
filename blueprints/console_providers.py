"""The admin console's pages for upstream identity providers ("Continue with <name>").

They register on the console blueprint (``blueprints.console.bp``) and call the same service as
the admin API's ``/identity-providers`` resource (``idp.federation.providers``): form input goes
through the API's own request models (``idp.admin.shapes``), so a value the API refuses is
refused here with the same message, and every change is made with ``admin_context()`` so audit
events name the administrator.

A provider's client secret is write-only: the service seals it at rest and no page ever shows
it, not even the form that was refused (a password input is never filled back). Editing with the
secret left blank keeps the one stored. The page of a provider shows the redirect URI to register
with the upstream (OAuth 2.0, RFC 6749 3.1.2).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField

from blueprints.console import admin_context, admin_required, bp
from blueprints.console_clients import confirmed_delete, show_error
from blueprints.hosted.base import page_url
from blueprints.web import services
from idp import console
from idp.admin import shapes
from idp.errors import IdpError
from idp.federation.registry import available_kinds
from idp.models import IdentityProvider

PROVIDER_KIND_NAMES = {
    "oidc": _l("OpenID Connect (discovery document)"),
    "oauth2": _l("OAuth 2.0 (explicit endpoints and claim mapping)"),
    "github": _l("GitHub"),
    "google": _l("Google"),
    "apple": _l("Sign in with Apple"),
    "wechat": _l("WeChat"),
}
ENDPOINTS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
# the profile members an ``oauth2`` provider's claim mapping may name (idp.federation.oidc.MAPPED_CLAIMS)
CLAIMS = ("sub", "email", "email_verified", "name", "picture")
# what only Sign in with Apple needs: its client secret is a JWT signed with the team's key
OPTIONS = ("team_id", "key_id")


def _text(value: Any) -> str:
    return str(value or "").strip()


class IdentityProviderForm(FlaskForm):
    """Every setting of a provider; ``kind`` only at creation. Values are not checked here:
    ``shapes.parse`` and the providers service check them, as they do for the admin API."""

    name = StringField(_l("Name"))
    kind = SelectField(_l("Kind"), validate_choice=False)
    client_id = StringField(_l("Client ID"))
    client_secret = PasswordField(_l("Client secret"), render_kw={"autocomplete": "new-password"})
    scopes = StringField(_l("Scopes"))
    issuer = StringField(_l("Issuer"))
    authorization_endpoint = StringField(_l("Authorization endpoint"))
    token_endpoint = StringField(_l("Token endpoint"))
    userinfo_endpoint = StringField(_l("Userinfo endpoint"))
    jwks_uri = StringField(_l("JWKS URI"))
    claim_sub = StringField(_l("Member holding the subject (sub)"))
    claim_email = StringField(_l("Member holding the email"))
    claim_email_verified = StringField(_l("Member saying the email is verified"))
    claim_name = StringField(_l("Member holding the name"))
    claim_picture = StringField(_l("Member holding the picture"))
    team_id = StringField(_l("Apple team ID"))
    key_id = StringField(_l("Apple key ID"))
    private_key = TextAreaField(_l("Apple private key (.p8)"), render_kw={"autocomplete": "off", "rows": 5})

    def offer(self) -> IdentityProviderForm:
        self.kind.choices = [(k, str(PROVIDER_KIND_NAMES.get(k, k))) for k in available_kinds()]
        return self

    def settings(self) -> dict[str, Any]:
        """Every setting but ``kind`` and the secret, as the admin API's body: a blank field is
        null, an empty list or mapping."""
        return {
            "name": _text(self.name.data),
            "client_id": _text(self.client_id.data),
            "scopes": _text(self.scopes.data).split(),
            **{name: _text(getattr(self, name).data) or None for name in ENDPOINTS},
            "claim_mapping": {c: v for c in CLAIMS if (v := _text(getattr(self, f"claim_{c}").data))},
            "options": {o: v for o in OPTIONS if (v := _text(getattr(self, o).data))},
        }

    def secret(self) -> str | None:
        """The secret typed in, or None (left blank). Apple's is its private key, a PEM text
        that a one-line password input would break."""
        key = (self.private_key.data or "").strip()
        return key or (self.client_secret.data or "").strip() or None

    def payload(self) -> dict[str, Any]:
        """The form as the body of ``POST /identity-providers``: blank fields are left out, so
        the request model's own "required" answers a missing name or client ID."""
        body = {name: value for name, value in self.settings().items() if value}
        if _text(self.kind.data):
            body["kind"] = _text(self.kind.data)
        if self.secret():
            body["client_secret"] = self.secret()
        return body

    def forget_secret(self) -> IdentityProviderForm:
        """A page never sends a secret back to the browser, not even the one just typed."""
        self.client_secret.data = ""
        self.private_key.data = ""
        return self


def stored_settings(provider: IdentityProvider) -> dict[str, Any]:
    """A provider's settings as the administrator gave them (its kind's defaults not filled
    in, so an edit does not freeze them), in the shape of ``IdentityProviderForm.settings``."""
    return {
        "name": provider.name,
        "client_id": provider.client_id,
        "scopes": list(provider.scopes or []),
        **{name: getattr(provider, name) or None for name in ENDPOINTS},
        "claim_mapping": dict(provider.claim_mapping or {}),
        "options": dict(provider.options or {}),
    }


def form_data(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        **{name: settings[name] or "" for name in ("name", "client_id", *ENDPOINTS)},
        "scopes": " ".join(settings["scopes"]),
        **{f"claim_{c}": settings["claim_mapping"].get(c, "") for c in CLAIMS},
        **{o: settings["options"].get(o, "") for o in OPTIONS},
    }


def changes(form: IdentityProviderForm, current: dict[str, Any]) -> dict[str, Any]:
    """Only what the operator changed, as the body of a PATCH (its audit event names just those
    fields). Options the form has no field for are kept; a blank secret keeps the stored one."""
    given = form.settings()
    given["options"] = {
        **{k: v for k, v in current["options"].items() if k not in OPTIONS},
        **given["options"],
    }
    body = {name: value for name, value in given.items() if current[name] != value}
    if form.secret():
        body["client_secret"] = form.secret()
    return body


def render_form(form: IdentityProviderForm, provider: IdentityProvider | None, status: int):
    page = render_template(
        "console/identity_provider_form.html", form=form.forget_secret(), provider=provider, nav="providers"
    )
    return page, status


# -- pages ------------------------------------------------------------------------------------
@bp.get("/identity-providers")
@admin_required
def identity_providers():
    svc = services()
    return render_template(
        "console/identity_providers.html",
        providers=console.identity_providers(svc),
        redirect_uri=svc.identity_providers.redirect_uri,
        kind_names=PROVIDER_KIND_NAMES,
        nav="providers",
    )


@bp.route("/identity-providers/new", methods=["GET", "POST"])
@admin_required
def new_identity_provider():
    form = IdentityProviderForm().offer()
    status = 200
    if request.method == "GET":
        form.process(data={"kind": "oidc"})
    elif form.validate_on_submit():
        try:
            data = shapes.parse(shapes.IdentityProviderIn, form.payload())
            provider = services().identity_providers.create(data, admin_context())
        except IdpError as exc:
            status = show_error(form, exc)
        else:
            flash(str(_l("The identity provider is created. Register its redirect URI with the provider.")), "success")
            return redirect(page_url("console.identity_provider", provider_id=provider.id), 303)
    else:
        status = 400
    return render_form(form, None, status)


@bp.get("/identity-providers/<provider_id>")
@admin_required
def identity_provider(provider_id: str):
    svc = services()
    provider = svc.identity_providers.get(provider_id)
    shown = shapes.render_identity_provider(
        provider, svc.identity_providers.effective(provider), svc.identity_providers.redirect_uri(provider.id)
    )
    return render_template(
        "console/identity_provider.html",
        provider=provider,
        shown=shown,
        has_secret=bool(provider.client_secret_sealed),
        users=console.offering(svc, provider_id),
        kind_names=PROVIDER_KIND_NAMES,
        nav="providers",
    )


@bp.route("/identity-providers/<provider_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_identity_provider(provider_id: str):
    svc = services()
    provider = svc.identity_providers.get(provider_id)
    current = stored_settings(provider)
    form = IdentityProviderForm().offer()
    status = 200
    if request.method == "GET":
        form.process(data=form_data(current))
    elif form.validate_on_submit():
        try:
            data = shapes.parse(shapes.IdentityProviderPatch, changes(form, current), partial=True)
            if data:
                svc.identity_providers.update(provider_id, data, admin_context())
        except IdpError as exc:
            status = show_error(form, exc)
        else:
            flash(str(_l("The identity provider is saved.")) if data else str(_l("Nothing was changed.")), "success")
            return redirect(page_url("console.identity_provider", provider_id=provider_id), 303)
    else:
        status = 400
    return render_form(form, provider, status)


@bp.route("/identity-providers/<provider_id>/delete", methods=["GET", "POST"])
@admin_required
def delete_identity_provider(provider_id: str):
    provider = services().identity_providers.get(provider_id)
    return confirmed_delete(  # federation.in_use: nothing deleted, said on this page
        lambda: services().identity_providers.delete(provider_id, admin_context()),
        deleted=_l("The identity provider is deleted."),
        done_url=page_url("console.identity_providers"),
        title=_l("Delete identity provider"),
        question=_l(
            "Delete this identity provider? The accounts linked to it lose that way to sign in. This cannot be undone."
        ),
        action_url=page_url("console.delete_identity_provider", provider_id=provider_id),
        cancel_url=page_url("console.identity_provider", provider_id=provider_id),
        summary=[(_l("Name"), provider.name), (_l("Identifier"), provider.id)],
        nav="providers",
    )
