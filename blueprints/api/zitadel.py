"""ZITADEL dialect routes (ZITADEL auth API v1, "Add One-Time-Password (OTP) SMS" and its
siblings): the signed-in user's second factors, passkeys and phone under ``/auth/v1/users/me``, with a
Bearer access token carrying ``openid``.

Only ``/auth/v1/users/me/...`` lives here: the rest of ``/auth/v1`` is CloudBase's
(blueprints/api/cloudbase.py).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from blueprints.errors import register_renderer
from blueprints.web import json_body, request_context, services
from idp.dialects import zitadel
from idp.errors import error
from idp.models import Application, User
from idp.oauth.bearer import AccessGrant, authenticate_bearer

bp = Blueprint("zitadel", __name__, url_prefix="/auth/v1/users/me")
register_renderer("zitadel", zitadel.render_error, url_prefixes=("/auth/v1/users/",))

OTP_CHANNELS = {"otp_sms": "sms", "otp_email": "email"}


def _caller() -> tuple[AccessGrant, User]:
    """The bearer's grant and user, who must be active: a locked or disabled user answers 412
    code 9 (gRPC FAILED_PRECONDITION)."""
    svc = services()
    grant = authenticate_bearer(svc, request.headers.get("Authorization", ""))
    return grant, svc.self_service.active_user(grant.sub)


def _client(grant: AccessGrant) -> Application:
    """The application the token was issued to: codes are sent and checked for it."""
    client = services().clients.by_client_id(grant.client_id)
    if client is None:
        raise error("bearer.invalid_token", "The access token's application is unknown.")
    return client


def _details(sub: str):
    """``{"details": ...}`` of the user after the change."""
    svc = services()
    user = svc.users.by_sub(sub)
    assert user is not None  # the change just made found the user
    return jsonify(zitadel.render_details(user, svc.settings.issuer))


# -- auth factors ------------------------------------------------------------------------------
@bp.post("/auth_factors/_search")
def list_factors():
    grant, user = _caller()
    factors = services().factors.list(grant.sub)
    return jsonify(zitadel.render_factors(user, factors, services().settings.issuer))


@bp.post("/auth_factors/<any(otp_sms, otp_email):factor>")
def add_otp_factor(factor: str):
    grant, _ = _caller()
    zitadel.parse(zitadel.EmptyRequest, json_body())
    services().factors.add_otp(grant.sub, OTP_CHANNELS[factor], request_context(grant.client_id))
    return _details(grant.sub)


@bp.delete("/auth_factors/<any(otp_sms, otp_email):factor>")
def remove_otp_factor(factor: str):
    grant, _ = _caller()
    services().factors.remove(grant.sub, factor, request_context(grant.client_id))
    return _details(grant.sub)


@bp.post("/auth_factors/otp")
def add_totp():
    grant, user = _caller()
    zitadel.parse(zitadel.EmptyRequest, json_body())
    setup = services().factors.start_totp(grant.sub, request_context(grant.client_id))
    return jsonify(zitadel.render_totp_setup(user, setup, services().settings.issuer))


@bp.post("/auth_factors/otp/_verify")
def verify_totp():
    grant, _ = _caller()
    body = zitadel.parse(zitadel.CodeRequest, json_body())
    services().factors.confirm_totp(grant.sub, body.code, request_context(grant.client_id))
    return _details(grant.sub)


@bp.delete("/auth_factors/otp")
def remove_totp():
    grant, _ = _caller()
    services().factors.remove(grant.sub, "totp", request_context(grant.client_id))
    return _details(grant.sub)


# -- passkeys ("passwordless") -------------------------------------------------------------------
@bp.post("/passwordless/_search")
def list_passwordless():
    grant, user = _caller()
    return jsonify(zitadel.render_passwordless(user, services().passkeys.list(grant.sub)))


@bp.delete("/passwordless/<string(maxlength=64):passkey_id>")
def remove_passwordless(passkey_id: str):
    grant, _ = _caller()
    services().passkeys.remove(grant.sub, passkey_id, request_context(grant.client_id))
    return _details(grant.sub)


# -- phone -------------------------------------------------------------------------------------
@bp.get("/phone")
def get_phone():
    grant, _ = _caller()
    state = services().phones.phone(grant.sub)
    return jsonify(zitadel.render_phone(state.phone, state.verified, state.user, services().settings.issuer))


@bp.put("/phone")
def set_phone():
    grant, _ = _caller()
    body = zitadel.parse(zitadel.SetPhoneRequest, json_body())
    services().phones.set_phone(_client(grant), grant.sub, request_context(grant.client_id), body.phone)
    return _details(grant.sub)


@bp.post("/phone/_verify")
def verify_phone():
    grant, _ = _caller()
    body = zitadel.parse(zitadel.CodeRequest, json_body())
    services().phones.verify_phone(_client(grant), grant.sub, request_context(grant.client_id), body.code)
    return _details(grant.sub)


@bp.post("/phone/_resend_verification")
def resend_phone_verification():
    grant, _ = _caller()
    services().phones.resend_phone_code(_client(grant), grant.sub, request_context(grant.client_id))
    return _details(grant.sub)


@bp.delete("/phone")
def remove_phone():
    grant, _ = _caller()
    services().phones.remove_phone(grant.sub, request_context(grant.client_id))
    return _details(grant.sub)
