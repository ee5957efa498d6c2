"""Admin API (SPEC 4.7): Bearer ``GATEHOUSE_ADMIN_TOKEN``."""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request, url_for

from blueprints.errors import generic, register_renderer
from blueprints.web import json_body, request_context, services
from idp import audit
from idp.admin import shapes
from idp.errors import IdpError, Kind

bp = Blueprint("admin", __name__)


def render_error(exc: IdpError) -> tuple[int, dict, dict]:
    status, body, headers = generic(exc)
    if status == 401:  # RFC 6750 3: a 401 names the scheme the client must use
        headers = {**headers, "WWW-Authenticate": 'Bearer realm="gatehouse-admin"'}
    return status, body, headers


register_renderer("admin", render_error)


@bp.before_request
def require_admin_token():
    expected = services().settings.admin_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise IdpError("admin.unauthenticated", Kind.UNAUTHENTICATED, "admin bearer token required")


@bp.post("/auth-sources")
def create_auth_source():
    data = shapes.parse(shapes.AuthSourceIn, json_body())
    source = services().clients.create_auth_source(data, request_context())
    return jsonify(shapes.render_auth_source(source)), 201


@bp.get("/auth-sources")
def list_auth_sources():
    return jsonify([shapes.render_auth_source(s) for s in services().clients.list_auth_sources()])


@bp.post("/applications")
def create_application():
    data = shapes.parse(shapes.ApplicationIn, json_body())
    app, secret = services().clients.create_application(data, request_context())
    return jsonify(shapes.render_application(app, secret, created=True)), 201


@bp.get("/applications")
def list_applications():
    return jsonify([shapes.render_application(a) for a in services().clients.list_applications()])


@bp.post("/users")
def create_user():
    data = shapes.parse(shapes.UserIn, json_body())
    user = services().users.create(data, request_context())
    return jsonify(shapes.render_user(user)), 201


@bp.get("/users")
def search_users():
    users = services().users.search(
        username=request.args.get("username"), email=request.args.get("email"),
        phone_number=request.args.get("phone_number"),
    )
    return jsonify([shapes.render_user(u) for u in users])


@bp.get("/users/<sub>")
def get_user(sub: str):
    user = services().users.by_sub(sub)
    if user is None:
        raise IdpError("account.not_found", Kind.NOT_FOUND, "no such user")
    return jsonify(shapes.render_user(user))


@bp.patch("/users/<sub>")
def patch_user(sub: str):
    data = shapes.parse(shapes.UserPatch, json_body(), partial=True)
    user = services().users.update(sub, data, request_context())
    if data.get("status") == "active":  # "make this account usable": a temporary lock goes too
        services().bruteforce.unlock(sub, request_context(), sub=sub)
    return jsonify(shapes.render_user(user))


@bp.post("/users/<sub>/unlock")
def unlock_user(sub: str):
    """Lift a temporary lock (brute-force policy) and clear the account's failure counts."""
    unlocked = services().bruteforce.unlock_account(sub, request_context())
    return jsonify(shapes.render_unlock(sub, unlocked))


@bp.get("/audit-events")
def list_audit_events():
    """Newest first; ``Link: <...>; rel="next"`` (RFC 8288) carries the cursor to older events."""
    page = audit.search(services().db, shapes.parse_audit_query(request.args))
    response = jsonify([shapes.render_audit_event(e) for e in page.events])
    if page.next_before_id is not None:
        args = {**request.args.to_dict(), "before_id": page.next_before_id}
        response.headers["Link"] = f'<{url_for(".list_audit_events", **args)}>; rel="next"'
    response.headers["Cache-Control"] = "no-store"
    return response
