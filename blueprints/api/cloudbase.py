"""Tencent CloudBase dialect routes (CloudBase "User Login API", the ``/auth/v1`` HTTP API):
``/auth/v1/*``. Wire choices that document leaves open are listed in ``idp/dialects/cloudbase.py``.

``/auth/v1/users/me/...`` (plural) is the ZITADEL face (blueprints/api/zitadel.py); this one
owns ``/auth/v1/user/me`` (singular) and the rest of ``/auth/v1``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Response, current_app, jsonify, request

from blueprints.errors import register_renderer
from blueprints.oauth import JsonBodyRequest
from blueprints.web import json_body, request_context, services
from idp.context import RequestContext
from idp.dialects import cloudbase
from idp.errors import error
from idp.flows.mfa import NeedsFactor
from idp.flows.results import Completed
from idp.guard.captcha import PASS_TTL
from idp.models import Application
from idp.oauth.bearer import authenticate_bearer
from idp.oauth.tokens import Principal

bp = Blueprint("cloudbase", __name__, url_prefix="/auth/v1")
register_renderer("cloudbase", cloudbase.render_error, url_prefixes=("/auth/v1/",))


def _reply(body: dict[str, Any]) -> Response:
    return jsonify(body)


def _call() -> tuple[Application, RequestContext]:
    """The application, by HTTP Basic ``client_id:client_secret`` (fixed for integrators: CloudBase
    SDKs identify the application this way), and the core's view of the request."""
    client = services().clients.authenticate_basic(request.headers)
    return client, request_context(client.client_id)


def _uri() -> str:
    return services().settings.issuer + request.path  # GATEHOUSE_ISSUER, never the client-chosen Host header


def _captcha_token() -> str | None:
    return request.headers.get("X-Captcha-Token") or request.args.get("captcha_token")


def _signed_in(client: Application, ctx: RequestContext, done: Completed, grant_type: str) -> Response:
    """Tokens for a passed first factor, from the issuer every grant uses."""
    if isinstance(services().mfa.after_first_factor(client, ctx, done), NeedsFactor):
        raise cloudbase.two_factor_required()
    principal = Principal(user=done.user, auth_time=done.auth_time, amr=list(done.amr))
    token = services().tokens.issue(client, principal, ctx, grant_type=grant_type)
    return _reply(cloudbase.render_token(token, done.user.sub))


@bp.post("/verification")
def verification():
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.VerificationRequest, json_body())
    channel, target = body.one_contact()
    sent = services().verifications.send(client, ctx, channel, target, body.otp_usage, body.target)
    return _reply(cloudbase.render_sent(sent))


@bp.post("/verification/verify")
def verification_verify():
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.VerifyRequest, json_body())
    issued = services().verifications.verify(client, ctx, body.verification_id, body.verification_code)
    return _reply(cloudbase.render_verified(issued))


@bp.post("/signin")
def signin():
    svc = services()
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.SigninRequest, json_body())
    if body.mode() == "password":
        # Tencent CloudBase, User Login API: this contract names password_not_set
        done = svc.login.password(
            client, ctx, body.username, body.password, captcha_token=_captcha_token(), reveal_password_not_set=True
        )
        return _signed_in(client, ctx, done, "password")
    return _signed_in(
        client, ctx, svc.verifications.sign_in(client, ctx, body.verification_token), "verification_token"
    )


@bp.post("/signup")
def signup():
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.SignupRequest, json_body())
    done = services().verifications.sign_up(
        client,
        ctx,
        body.verification_token,
        contact=body.contact,
        username=body.username,
        password=body.password,
        profile=body.profile,
    )
    return _signed_in(client, ctx, done, "verification_token")


@bp.post("/reset")
def reset():
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.ResetRequest, json_body())
    services().verifications.reset_password(
        client, ctx, body.verification_token, body.new_password, contact=body.contact
    )
    return _reply({})


@bp.post("/token")
def token():
    """``password`` as ``/signin``; the other grants through the OAuth server, unchanged."""
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.TokenRequest, json_body())
    if body.grant_type == "password":
        done = services().login.password(
            client,
            ctx,
            body.username or "",
            body.password or "",
            captcha_token=_captcha_token(),
            reveal_password_not_set=True,
        )
        return _signed_in(client, ctx, done, "password")
    server = current_app.extensions["gatehouse.oauth"]
    oauth_request = JsonBodyRequest(_uri(), body.oauth_params(client.client_id))
    try:
        grant = server.get_token_grant(oauth_request)
        grant.validate_token_request()
        _status, token, _headers = grant.create_token_response()
    except OAuth2Error as error:
        raise cloudbase.oauth_failure(error.error, error.get_error_description(), error.status_code) from None
    principal = oauth_request.user
    sub = principal.user.sub if isinstance(principal, Principal) else client.client_id
    return _reply(cloudbase.render_token_extras(token, sub))


# -- third-party login: CloudBase HTTP API "Generate the provider redirect URI", "Grant a
# provider token", "Sign in with a provider token" ------------------------------------------
@bp.route("/provider/uri", methods=["GET", "POST"])
def provider_uri():
    """The SDKs send GET with a query string; a JSON body with the same names is read too."""
    client, _ctx = _call()
    values = request.args.to_dict() if request.method == "GET" else json_body()
    body = cloudbase.parse(cloudbase.ProviderUriRequest, values)
    uri = services().provider_tokens.authorization_uri(client, body.provider_id, body.redirect_uri, body.state)
    return _reply(cloudbase.render_provider_uri(uri))


@bp.post("/provider/token")
def provider_token():
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.ProviderTokenRequest, json_body())
    grant = services().provider_tokens.grant(
        client, ctx, body.provider_id, body.provider_code, body.provider_redirect_uri
    )
    return _reply(cloudbase.render_provider_token(grant))


@bp.post("/signin/with/provider")
def signin_with_provider():
    client, ctx = _call()
    body = cloudbase.parse(cloudbase.SigninWithProviderRequest, json_body())
    done = services().provider_tokens.sign_in(
        client, ctx, body.provider_token, can_sign_up=not body.force_disable_sign_up
    )
    return _signed_in(client, ctx, done, "provider_token")


@bp.get("/user/me")
def user_me():
    svc = services()
    grant = authenticate_bearer(svc, request.headers.get("Authorization", ""))
    user = svc.users.by_sub(grant.sub)
    if user is None:
        raise error("bearer.invalid_token", "The access token's user is unknown.")
    svc.users.ensure_active(user)
    return _reply(cloudbase.render_user(user))


@bp.post("/captcha/data")
def captcha_data():
    _client, ctx = _call()
    return _reply(cloudbase.render_captcha(services().bruteforce.new_captcha(ctx)))  # per-IP limited


@bp.post("/captcha/data/verify")
def captcha_verify():
    _client, ctx = _call()
    body = cloudbase.parse(cloudbase.CaptchaVerifyRequest, json_body())
    return _reply(cloudbase.render_captcha_token(services().captcha.solve(body.token, body.key, ctx), PASS_TTL))
