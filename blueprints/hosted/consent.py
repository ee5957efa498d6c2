"""The consent page: an application that is not first-party asks for scopes, and the person
allows or denies them (OpenID Connect Core 1.0 3.1.2.4)."""

from __future__ import annotations

from flask import redirect, url_for
from flask_babel import lazy_gettext as _l

from blueprints.hosted.base import bp, resolve_page, respond
from blueprints.hosted.forms import ConsentForm
from blueprints.web import current_sso_session, services

SCOPE_WORDS = {
    "openid": _l("Know who you are (your account ID)"),
    "profile": _l("See your profile: name, username, picture, birthday, gender, website, time zone and language"),
    "email": _l("See your email address"),
    "phone": _l("See your phone number"),
    "offline_access": _l("Stay connected to your account when you are not using it"),
}


@bp.route("/consent", methods=["GET", "POST"])
def consent():
    page = resolve_page()
    sso = current_sso_session()
    if sso is None or page.authz_id is None:
        return redirect(page.url("hosted.login"))
    form = ConsentForm()
    if form.validate_on_submit():
        services().authz.decide_consent(page.authz_id, sso.sub, bool(form.allow.data), page.context())
        return redirect(url_for("oauth.authorize_continue", authz=page.authz_id))
    scopes = [SCOPE_WORDS.get(scope, scope) for scope in page.pending.consent_scopes]
    return respond("hosted/consent.html", page, form, scopes=scopes)
