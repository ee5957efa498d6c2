"""Huawei OneAccess dialect routes (OneAccess "Mobile Number + SMS Verification Code Secondary
Authentication Interface" and the SDK calls around it): ``/api/v2/sdk/*`` and the tenant SSO
ticket endpoints. Wire choices that document leaves open are listed in ``idp/dialects/oneaccess.py``.

Every call first passes the required-header check (``SDK.COMMON.1001``); errors render in the
OneAccess shape, in the language ``X-L`` asks for.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, request

from blueprints.errors import register_renderer
from blueprints.web import json_body, services
from idp.context import RequestContext
from idp.dialects import oneaccess
from idp.flows.mfa import NeedsFactor
from idp.flows.results import Completed
from idp.models import Application

bp = Blueprint("oneaccess", __name__)
register_renderer(
    "oneaccess",
    lambda exc: oneaccess.render_error(exc, oneaccess.language(request.headers.get("X-L"))),
    url_prefixes=("/api/v2/",),
)


@bp.before_request
def _sdk_headers() -> None:
    g.sdk = oneaccess.parse_headers(request.headers)


def _reply(body: dict) -> Response:
    """JSON in the order the vendor documents it (``flask.jsonify`` sorts the keys)."""
    return current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype="application/json")


def _call() -> tuple[Application, RequestContext]:
    """The calling application (``X-client-id``) and the core's view of the request."""
    client = oneaccess.require_client(services().clients.by_client_id(g.sdk.client_id))
    ip = request.remote_addr or "0.0.0.0"  # noqa: S104 - a placeholder, nothing binds to it
    return client, g.sdk.context(ip, services().clock.now())


def _state_token() -> str:
    return oneaccess.required_header(request.headers, oneaccess.STATE_TOKEN_HEADER)


def _signed_in(client: Application, ctx: RequestContext, done: Completed) -> Response:
    """A completed login: an SSO session (its id is the ``session_token``) and an ID token."""
    svc = services()
    session = svc.login.start_session(done, ctx)
    id_token = svc.tokens.id_token(client, oneaccess.principal(done))
    return _reply(oneaccess.render_success(session, id_token, svc.settings.session_ttl))


@bp.post("/api/v2/sdk/login")
def login():
    svc = services()
    client, ctx = _call()
    body = oneaccess.parse(oneaccess.LoginRequest, json_body())
    done = svc.login.password(client, ctx, body.user_name, body.password, captcha_token=g.sdk.captcha_token)
    result = svc.mfa.after_first_factor(client, ctx, done)
    if isinstance(result, NeedsFactor):
        return _reply(oneaccess.render_mfa_required(result.state_token, result.factors, result.expires_in))
    return _signed_in(client, ctx, result)


@bp.get("/api/v2/sdk/mobile-by-token")
def mobile_by_token():
    svc = services()
    client, ctx = _call()
    state = svc.mfa.peek(client, ctx, _state_token())
    return _reply(oneaccess.render_mobile(svc.users.by_sub(state.sub)))


@bp.post("/api/v2/sdk/sms/send")
def sms_send():
    svc = services()
    client, ctx = _call()
    body = oneaccess.parse(oneaccess.SmsSendRequest, json_body())
    if body.type == oneaccess.MFA_AUTH_SMS:  # to the account's own number, bound to the state token
        svc.mfa.send_code(client, ctx, _state_token(), "sms", target=body.mobile)
    elif body.type == "LOGIN_SMS":  # the login flow: method check, no enumeration
        svc.login.send_code(client, ctx, "sms", body.mobile)
    elif body.type == "REGISTER_SMS":  # the sign-up flow: only to a number no account uses
        svc.signup.send_code(client, ctx, "sms", body.mobile, client.auth_source_for("sms"))
    else:
        svc.otp.send(client, "sms", body.mobile, oneaccess.SMS_USAGES[body.type], client.auth_source_for("sms"), ctx)
    return _reply({"status": "SUCCESS"})


@bp.post("/api/v2/sdk/mfa/sms")
def mfa_sms():
    svc = services()
    client, ctx = _call()
    body = oneaccess.parse(oneaccess.MfaSmsRequest, json_body())
    done = svc.mfa.verify(client, ctx, _state_token(), "otp_sms", body.verify_code, target=body.mobile)
    return _signed_in(client, ctx, done)


@bp.get("/api/v2/sdk/logout")
def logout():
    svc = services()
    _client, ctx = _call()
    token = request.headers.get(oneaccess.SESSION_TOKEN_HEADER) or request.args.get("session_token")
    if not token:
        raise oneaccess.missing(oneaccess.SESSION_TOKEN_HEADER)
    session = svc.sessions.get(token)
    if session is not None:  # idempotent: an ended session answers the same
        svc.login.end_session(session, ctx)
    return _reply({"status": "SUCCESS"})


@bp.post("/api/v2/tenant/sso/session-token/sso-ticket")
def sso_ticket():
    svc = services()
    client, _ctx = _call()
    body = oneaccess.parse(oneaccess.SsoTicketRequest, json_body())
    ticket = svc.sso_tickets.issue(body.session_token, client.client_id)
    return _reply(oneaccess.render_ticket(ticket, svc.sso_tickets.ttl))


@bp.post("/api/v2/tenant/sso/sso-ticket/verify")
def sso_ticket_verify():
    svc = services()
    client, _ctx = _call()
    body = oneaccess.parse(oneaccess.SsoTicketVerifyRequest, json_body())
    return _reply(oneaccess.render_user(svc.sso_tickets.redeem(body.sso_ticket, client.client_id)))
