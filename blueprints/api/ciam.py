"""Tencent CIAM dialect routes: ``POST /otp/send`` (Tencent CIAM, "Send OTP Verification Code")
and its siblings ``PATCH /userinfo``, ``POST /signup``, ``POST /reset_user_password``,
``POST /change_user_password``.

``GET /userinfo`` lives with the OIDC endpoints (blueprints/oauth.py); the same URL answers
PATCH here.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from blueprints.errors import register_renderer
from blueprints.web import json_body, request_context, services
from idp.dialects import ciam
from idp.oauth.bearer import authenticate_bearer

bp = Blueprint("ciam", __name__)
register_renderer("ciam", ciam.render_error, url_prefixes=("/otp/",))
for _operation in ciam.OPERATION_ERRORS:
    register_renderer(f"ciam.{_operation}", ciam.render_operation_error(_operation))


@bp.post("/otp/send")
def otp_send():
    svc = services()
    client = svc.clients.authenticate_basic(request.headers)
    body = ciam.parse_otp_send(json_body())
    ctx = request_context(client.client_id)
    if body.usage == "signup":  # only to a contact no account uses: email_is_used, phone_number_is_used
        result = svc.signup.send_code(client, ctx, body.channel, body.target, body.auth_source_id)
    else:
        result = svc.otp.send(client, body.channel, body.target, body.usage, body.auth_source_id, ctx)
    return jsonify({"otp_token": result.otp_token})


@bp.post("/signup")
def signup():
    svc = services()
    client = svc.clients.authenticate_basic(request.headers)
    command = ciam.parse(ciam.SignupRequest, json_body()).command()
    done = svc.signup.sign_up(client, request_context(client.client_id), **command)
    return jsonify(ciam.render_new_user(done.user))


@bp.post("/reset_user_password")
def reset_user_password():
    svc = services()
    client = svc.clients.authenticate_basic(request.headers)
    command = ciam.parse(ciam.ResetPasswordRequest, json_body()).command()
    svc.self_service.reset_password(client, request_context(client.client_id), **command)
    return jsonify({})  # the vendor answers a bare 200 OK


@bp.post("/change_user_password")
def change_user_password():
    svc = services()
    grant = authenticate_bearer(svc, request.headers.get("Authorization", ""))
    body = ciam.parse(ciam.ChangePasswordRequest, json_body())
    svc.self_service.change_password(
        grant.sub, request_context(grant.client_id), old_password=body.old_password, new_password=body.new_password
    )
    return jsonify({})  # the vendor answers a bare 200 OK


@bp.patch("/userinfo", endpoint="update_userinfo")
def update_userinfo():
    svc = services()
    grant = authenticate_bearer(svc, request.headers.get("Authorization", ""))
    body = ciam.parse(ciam.UserinfoUpdateRequest, json_body())
    user = svc.self_service.update_userinfo(
        svc.clients.by_client_id(grant.client_id),
        grant.sub,
        request_context(grant.client_id),
        profile=body.attributes,
        contacts=body.proofs(),
    )
    return jsonify(ciam.render_userinfo(user, grant.scopes))
