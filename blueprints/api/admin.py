"""Admin API ``/admin/api/v1``: ``Authorization: Bearer`` with the bootstrap
``GATEHOUSE_ADMIN_TOKEN`` or an m2m application's client_credentials access token carrying
scope ``admin`` (``idp.admin.service.authenticate``). Every change is audited naming the actor."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for

from blueprints.errors import generic, register_renderer
from blueprints.web import json_body, request_context, services
from idp import audit
from idp.admin import service as admin
from idp.admin import shapes
from idp.context import RequestContext
from idp.errors import ErrorResponse, IdpError

bp = Blueprint("admin", __name__)


REALM = 'Bearer realm="gatehouse-admin"'
# domain code -> WWW-Authenticate: RFC 6750 3, a 401 names the scheme the client must use, and
# 3.1, a 403 for a missing scope names the scope
CHALLENGES = {
    "admin.unauthenticated": REALM,
    "admin.insufficient_scope": f'{REALM}, error="insufficient_scope", scope="{admin.ADMIN_SCOPE}"',
}


def render_error(exc: IdpError) -> ErrorResponse:
    """``{"error": <domain code>, "error_description": <text>}`` (the field names of RFC 6749
    5.2, which integrators' OAuth libraries already read) with the generic status table."""
    status, body, headers = generic(exc)
    body = {"error": exc.code, "error_description": exc.message}
    challenge = CHALLENGES.get(exc.code) or (REALM if status == 401 else None)
    if challenge:
        headers = {**headers, "WWW-Authenticate": challenge}
    return status, body, headers


register_renderer("admin", render_error, url_prefixes=("/admin/api/",))


@bp.before_request
def require_admin():
    g.admin_actor = admin.authenticate(services(), request.headers.get("Authorization", ""))


def admin_context() -> RequestContext:
    """The request's context naming the administrator who acts (audit events' ``actor``)."""
    return replace(request_context(), actor=g.admin_actor)


@bp.post("/auth-sources")
def create_auth_source():
    data = shapes.parse(shapes.AuthSourceIn, json_body())
    source = services().clients.create_auth_source(data, admin_context())
    return jsonify(shapes.render_auth_source(source)), 201


@bp.get("/auth-sources")
def list_auth_sources():
    """``limit`` (50; at most 200); the next page in ``Link: <...>; rel="next"`` (RFC 8288)."""
    page = admin.page_auth_sources(services(), **_page_args())
    return _paged([shapes.render_auth_source(s) for s in page.items], page.next_after, ".list_auth_sources")


@bp.get("/auth-sources/<source_id>")
def get_auth_source(source_id: str):
    return jsonify(shapes.render_auth_source(services().clients.get_auth_source(source_id)))


@bp.patch("/auth-sources/<source_id>")
def patch_auth_source(source_id: str):
    data = shapes.parse(shapes.AuthSourcePatch, json_body(), partial=True)
    source = services().clients.update_auth_source(source_id, data, admin_context())
    return jsonify(shapes.render_auth_source(source))


@bp.delete("/auth-sources/<source_id>")
def delete_auth_source(source_id: str):
    """409 auth_source.in_use while an application uses it: detach it there first."""
    services().clients.delete_auth_source(source_id, admin_context())
    return "", 204


@bp.post("/applications")
def create_application():
    data = shapes.parse(shapes.ApplicationIn, json_body())
    app, secret = services().clients.create_application(data, admin_context())
    return jsonify(shapes.render_application(app, secret, created=True)), 201


@bp.get("/applications")
def list_applications():
    """``limit`` (50; at most 200); the next page in ``Link: <...>; rel="next"`` (RFC 8288)."""
    page = admin.page_applications(services(), **_page_args())
    return _paged([shapes.render_application(a) for a in page.items], page.next_after, ".list_applications")


@bp.get("/applications/<client_id>")
def get_application(client_id: str):
    return jsonify(shapes.render_application(services().clients.get_application(client_id)))


@bp.patch("/applications/<client_id>")
def patch_application(client_id: str):
    data = shapes.parse(shapes.ApplicationPatch, json_body(), partial=True)
    app = services().clients.update_application(client_id, data, admin_context())
    return jsonify(shapes.render_application(app))


@bp.delete("/applications/<client_id>")
def delete_application(client_id: str):
    admin.delete_application(services(), client_id, admin_context())
    return "", 204


@bp.post("/applications/<client_id>/secret")
def rotate_application_secret(client_id: str):
    secret = services().clients.rotate_secret(client_id, admin_context())
    return jsonify(shapes.render_secret(client_id, secret))


# -- identity providers (sign in with another identity provider) ---------------------------------
def _render_provider(provider) -> dict:
    providers = services().identity_providers
    return shapes.render_identity_provider(provider, providers.effective(provider), providers.redirect_uri(provider.id))


@bp.post("/identity-providers")
def create_identity_provider():
    data = shapes.parse(shapes.IdentityProviderIn, json_body())
    provider = services().identity_providers.create(data, admin_context())
    return jsonify(_render_provider(provider)), 201


@bp.get("/identity-providers")
def list_identity_providers():
    """``limit`` (50; at most 200); the next page in ``Link: <...>; rel="next"`` (RFC 8288)."""
    page = admin.page_identity_providers(services(), **_page_args())
    return _paged([_render_provider(p) for p in page.items], page.next_after, ".list_identity_providers")


@bp.get("/identity-providers/<provider_id>")
def get_identity_provider(provider_id: str):
    return jsonify(_render_provider(services().identity_providers.get(provider_id)))


@bp.patch("/identity-providers/<provider_id>")
def patch_identity_provider(provider_id: str):
    data = shapes.parse(shapes.IdentityProviderPatch, json_body(), partial=True)
    provider = services().identity_providers.update(provider_id, data, admin_context())
    return jsonify(_render_provider(provider))


@bp.delete("/identity-providers/<provider_id>")
def delete_identity_provider(provider_id: str):
    """409 federation.in_use while an application offers it: take it off there first. The
    links of people to it go with it."""
    services().identity_providers.delete(provider_id, admin_context())
    return "", 204


# -- end of identity providers ------------------------------------------------------------------------
@bp.post("/users")
def create_user():
    data = shapes.parse(shapes.UserIn, json_body())
    user = services().users.create(data, admin_context())
    return jsonify(shapes.render_user(user)), 201


@bp.get("/users")
def search_users():
    """Exact ``username``/``email``/``phone_number``, or ``q`` (a prefix of any), ``status``,
    ``limit`` (50; at most 200); the next page in ``Link: <...>; rel="next"`` (RFC 8288)."""
    args = {name: request.args.get(name, "").strip() or None for name in shapes.USER_FILTERS}
    page = admin.search_users(services(), **args, limit=shapes.parse_limit(request.args.get("limit")))
    return _paged([shapes.render_user(u) for u in page.users], page.next_after, ".search_users")


def _page_args() -> dict:
    return {
        "after": request.args.get("after") or None,
        "limit": shapes.parse_limit(request.args.get("limit")),
    }


def _paged(items: list, next_after: str | None, endpoint: str):
    """The page as a JSON array; the next one's address in ``Link`` (RFC 8288) when there is one."""
    response = jsonify(items)
    if next_after is not None:
        link_args: dict[str, Any] = {**request.args.to_dict(), "after": next_after}
        response.headers["Link"] = f'<{url_for(endpoint, **link_args)}>; rel="next"'
    return response


@bp.get("/users/<sub>")
def get_user(sub: str):
    return jsonify(shapes.render_user_record(admin.user_record(services(), sub)))


@bp.patch("/users/<sub>")
def patch_user(sub: str):
    """``{"status": "active"}`` also lifts a temporary lock (the accounts service's rule)."""
    data = shapes.parse(shapes.UserPatch, json_body(), partial=True)
    user = services().users.update(sub, data, admin_context())
    return jsonify(shapes.render_user(user))


@bp.delete("/users/<sub>")
def delete_user(sub: str):
    admin.delete_user(services(), sub, admin_context())
    return "", 204


@bp.get("/users/<sub>/sessions")
def list_sessions(sub: str):
    return jsonify([shapes.render_session(s) for s in admin.list_sessions(services(), sub)])


@bp.delete("/users/<sub>/sessions")
def sign_out_everywhere(sub: str):
    """Sign out everywhere: SSO sessions, refresh tokens (and their access tokens), remembered devices."""
    admin.sign_out_everywhere(services(), sub, admin_context())
    return "", 204


@bp.get("/users/<sub>/factors")
def list_factors(sub: str):
    return jsonify([shapes.render_factor(f) for f in admin.list_factors(services(), sub)])


@bp.post("/users/<sub>/factors")
def add_factor(sub: str):
    """Enrol an SMS or email OTP factor, ready at once (the phone/email must be verified)."""
    data = shapes.parse(shapes.FactorIn, json_body())
    factor = services().factors.add_otp(sub, data["type"], admin_context())
    return jsonify(shapes.render_factor(factor)), 201


@bp.delete("/users/<sub>/factors/<factor_type>")
def remove_factor(sub: str, factor_type: str):
    services().factors.remove(sub, factor_type, admin_context())
    return "", 204


@bp.post("/users/<sub>/unlock")
def unlock_user(sub: str):
    """Lift a temporary lock (brute-force policy) and clear the account's failure counts."""
    unlocked = services().bruteforce.unlock_account(sub, admin_context())
    return jsonify(shapes.render_unlock(sub, unlocked))


@bp.get("/keys")
def list_keys():
    return jsonify([shapes.render_key(k) for k in services().keys.all_keys()])


@bp.post("/keys/rotate")
def rotate_key():
    """``{"alg"?: "RS256"|"ES256"|"EdDSA"}`` (RS256 when absent or no body): that algorithm's
    key is replaced and the new one answered; the old one stays in the JWKS, and the other
    algorithms' keys are untouched."""
    body = json_body()
    data = shapes.parse(shapes.KeyRotateIn, {} if body is None and not request.get_data() else body)
    keys = services().keys
    kid = keys.rotate(data["alg"], admin_context())
    return jsonify(shapes.render_key(next(k for k in keys.all_keys() if k.kid == kid)))


@bp.get("/audit-events")
def list_audit_events():
    """Newest first; ``Link: <...>; rel="next"`` (RFC 8288) carries the cursor to older events."""
    page = audit.search(services().db, shapes.parse_audit_query(request.args))
    response = jsonify([shapes.render_audit_event(e) for e in page.events])
    if page.next_before_id is not None:
        args = {**request.args.to_dict(), "before_id": page.next_before_id}
        response.headers["Link"] = f'<{url_for(".list_audit_events", **args)}>; rel="next"'
    return response
