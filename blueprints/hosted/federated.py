"""Sign in with another identity provider: the "Continue with <name>" buttons' target, the
upstream's callback, and the page asking the owner of an existing account to sign in to link.

The browser that starts a sign-in keeps a random binding in the signed session; the flow keeps
only its hash with the sign-in's ``state``, so a callback finished in another browser is
refused (login CSRF, RFC 6749 10.12). The callback is protected by that ``state`` rather than
our CSRF token: the upstream, not our page, sends the browser to it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, flash, redirect, request, session
from flask_babel import lazy_gettext as _l

from blueprints.hosted.account import login_required
from blueprints.hosted.account_security import act
from blueprints.hosted.base import FEDERATED_LINK, Page, bp, finish_login, pending_request, resolve_page, respond
from blueprints.hosted.errors import describe, full_page
from blueprints.hosted.forms import ActionForm
from blueprints.web import request_context, services
from idp.crypto import new_token
from idp.errors import IdpError, error
from idp.flows.federated import LinkRequired

BINDING = "gh_fed_binding"
UNLINKED = _l("The account was unlinked.")
# answers of the upstream that send the person back to the login page with a message, rather
# than to an error page: they can try again or choose another way in
BACK_TO_LOGIN = ("federation.denied", "federation.invalid_response", "federation.not_offered")


@bp.post("/login/federated/<provider_id>")
def federated_start(provider_id: str):
    """A "Continue with <name>" button: off to the upstream."""
    page = resolve_page()
    if not ActionForm().validate_on_submit():
        abort(400)  # no or stale CSRF token
    binding = session.get(BINDING) or new_token(24)
    session[BINDING] = binding
    try:
        url = services().federation.start(
            page.client, page.context(), provider_id, authz_id=page.authz_id, binding=binding
        )
    except IdpError as exc:
        if full_page(exc):
            raise
        flash(str(describe(exc)[1]), "error")
        return redirect(page.url("hosted.login"))
    return redirect(url)


@bp.route("/login/federated/<provider_id>/callback", methods=["GET", "POST"])
def federated_callback(provider_id: str):
    """Where the upstream sends the browser back. ``response_mode=form_post`` (OAuth 2.0 Form
    Post Response Mode) arrives as a cross-site POST, which carries no SameSite=Lax session
    cookie: it is turned into a GET of this same address, which does."""
    if request.method == "POST":
        return redirect(f"{request.base_url}?{urlencode(request.form.to_dict())}", code=303)
    params = request.args.to_dict()
    flow = services().federation
    arrival = flow.arrive(params.get("state"), session.get(BINDING), request_context())
    if arrival.provider_id != provider_id:
        raise error("federation.invalid_state")
    page = _page_of(arrival.client_id, arrival.authz_id)
    try:
        result = flow.complete(arrival, page.client, params, page.context())
    except IdpError as exc:
        if exc.code not in BACK_TO_LOGIN:
            raise
        flash(str(describe(exc)[1]), "error")
        return redirect(page.url("hosted.login"))
    if isinstance(result, LinkRequired):
        session[FEDERATED_LINK] = result.token
        return respond("hosted/federated_link.html", page, None, link=result)
    return finish_login(result, page)


def _page_of(client_id: str, authz_id: str | None) -> Page:
    """The sign-in's page: its application and pending authorize request (still there)."""
    client = services().clients.by_client_id(client_id)
    pending = pending_request(authz_id) if authz_id else None
    if client is None or (authz_id and pending is None):
        raise error("authz.expired", "the sign-in request has expired")
    return Page(client, authz_id, pending)


def provider_buttons(page: Page) -> list:
    """The providers the login page offers, each with its form (the CSRF token)."""
    try:
        providers = services().federation.offered(page.client)
    except IdpError:
        return []
    return [(provider, page.url("hosted.federated_start", provider_id=provider.id)) for provider in providers]


@bp.post("/account/linked/<provider_id>/unlink")
@login_required
def account_unlink(sso, user, provider_id: str):
    """ "Unlink" on the account page; refused while it is the person's only way in."""
    return act(lambda ctx: services().federation.unlink(sso.sub, provider_id, ctx), UNLINKED)
