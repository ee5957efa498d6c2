"""Tencent CIAM dialect routes (SPEC 4.2): ``POST /otp/send``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from blueprints.errors import register_renderer
from blueprints.web import json_body, request_context, services
from idp.dialects import ciam

bp = Blueprint("ciam", __name__)
register_renderer("ciam", ciam.render_error)


@bp.post("/otp/send")
def otp_send():
    svc = services()
    client = svc.clients.authenticate_basic(request.headers)
    body = ciam.parse_otp_send(json_body())
    result = svc.otp.send(client, body.channel, body.target, body.usage, body.auth_source_id,
                          request_context(client.client_id))
    return jsonify({"otp_token": result.otp_token})
