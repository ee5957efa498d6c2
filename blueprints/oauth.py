"""OpenID Connect provider endpoints: discovery, JWKS, authorize, token, userinfo, revoke,
introspect, logout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Blueprint, Flask, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, SubmitField

from blueprints.errors import register_pages, register_renderer
from blueprints.web import clear_sso_cookie, current_sso_session, json_body, request_context, services
from idp.dialects.ciam import OtpEmailGrant, OtpSmsGrant
from idp.errors import IdpError
from idp.oauth import errors
from idp.oauth.authorize import Failed, Outcome, ToClient, ToConsent, ToLogin
from idp.oauth.bearer import BearerError, bearer_authorization, userinfo_claims
from idp.oauth.claims import CLAIMS_SUPPORTED, SUPPORTED_SCOPES
from idp.oauth.clients import client_secret_basic
from idp.oauth.endpoints import EndSession, Introspection, Revocation
from idp.oauth.grants import ClientCredentialsGrant, CodeGrant, OpenIDNonce, PkceS256, RefreshTokenGrant
from idp.oauth.registration import SUPPORTED_GRANTS
from idp.services import Services
from idp.sessions.store import ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR
from idp.settings import JWT_ALGORITHMS

bp = Blueprint("oauth", __name__)
register_renderer("oauth", errors.render_error, url_prefixes=("/oauth2/",))  # RFC 6749 5.2 shape
register_pages("oauth.authorize", "oauth.authorize_continue", "oauth.logout")


class JsonBodyRequest(OAuth2Request):
    """Tencent CIAM's "OTP Authentication by SMS and Email" posts the token request as JSON;
    Authlib reads forms. Present one as the other."""

    def __init__(self, uri: str, data: dict[str, Any]) -> None:
        # types-Authlib asks for a Mapping; Authlib reads werkzeug's Headers through .get, like one
        super().__init__(request.method, uri, headers=request.headers)  # type: ignore[call-overload]
        values = {k: _form_value(v) for k, v in data.items() if v is not None}
        self.payload = BasicOAuth2Payload(values)
        self._form = MultiDict(values)

    @property
    def args(self):
        return request.args

    @property
    def form(self):
        return self._form


def _form_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class GatehouseServer(AuthorizationServer):
    """Authlib's server, tied to the services; every grant issues through ``services.tokens``."""

    def __init__(self, svc: Services) -> None:
        super().__init__()
        self.services = svc

    def query_client(self, client_id):
        return self.services.clients.by_client_id(client_id)

    def request_context(self, client_id: str | None = None):
        return request_context(client_id)

    def save_token(self, token, oauth_request):
        raise NotImplementedError("tokens are saved by idp.oauth.issuer.TokenIssuer")

    def create_oauth2_request(self, _request):
        uri = self.services.settings.issuer + request.full_path.rstrip("?")
        if request.is_json:
            data = json_body()
            oauth_request = JsonBodyRequest(uri, data if isinstance(data, dict) else {})
        else:
            oauth_request = super().create_oauth2_request(_request)
            oauth_request.uri = uri
        errors.check_echoed_parameters(oauth_request.payload.data)
        return oauth_request


def init_app(app: Flask, svc: Services) -> None:
    server = GatehouseServer(svc)
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_grant(OtpSmsGrant)
    server.register_grant(OtpEmailGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_grant(CodeGrant, [PkceS256(required=True), OpenIDNonce()])
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_endpoint(EndSession)
    app.extensions["gatehouse.oauth"] = server
    app.register_blueprint(bp)


def _server() -> GatehouseServer:
    from flask import current_app

    return current_app.extensions["gatehouse.oauth"]


# the two answers that say how long they may be cached (every other answer is no-store,
# blueprints/web.py): public metadata, for five minutes
PUBLIC_METADATA = "public, max-age=300"


@bp.get("/.well-known/openid-configuration")
def discovery():
    issuer = services().settings.issuer
    response = jsonify(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth2/authorize",
            "token_endpoint": f"{issuer}/oauth2/token",
            "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
            "jwks_uri": f"{issuer}/oauth2/jwks",
            "revocation_endpoint": f"{issuer}/oauth2/revoke",
            "introspection_endpoint": f"{issuer}/oauth2/introspect",
            "end_session_endpoint": f"{issuer}/oauth2/logout",
            # OpenID Connect Back-Channel Logout 1.0, 2.1: logout tokens are sent, and carry sid
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "scopes_supported": list(SUPPORTED_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": list(SUPPORTED_GRANTS),
            "subject_types_supported": ["public"],
            # RS256 first (OpenID Connect Discovery 1.0, 3: it must be included); an application
            # picks one with id_token_signed_response_alg
            "id_token_signing_alg_values_supported": list(JWT_ALGORITHMS),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login", "consent"],
            "acr_values_supported": [ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR],
            "ui_locales_supported": ["en", "zh-CN"],
            "claims_parameter_supported": True,  # OIDC Core 5.5: the userinfo and id_token members
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "claims_supported": CLAIMS_SUPPORTED,
        }
    )
    response.headers["Cache-Control"] = PUBLIC_METADATA
    return response


@bp.get("/oauth2/jwks")
def jwks():
    response = jsonify(services().keys.jwks())
    response.headers["Cache-Control"] = PUBLIC_METADATA
    return response


@bp.route("/oauth2/authorize", methods=["GET", "POST"])  # OIDC Core 3.1.2.1: GET and POST
def authorize():
    try:
        grant: CodeGrant = _server().get_consent_grant(end_user=None)
    except IdpError as refused:  # a parameter no error may repeat: nowhere safe to redirect
        return _error_page("invalid_request", refused.message)
    except OAuth2Error as error:
        if not error.redirect_uri:  # RFC 6749 4.1.2.1: unknown client or redirect URI: never redirect
            return _error_page(error.error, error.get_error_description())
        mode = request.values.get("response_mode") or "query"
        return _to_client(ToClient(error.redirect_uri, error.get_body(), mode))
    return _render(services().authz.start(grant.pending_request(), current_sso_session()))


@bp.get("/oauth2/authorize/continue")
def authorize_continue():
    """The hosted pages send the browser here when sign-in or consent is done."""
    return _render(services().authz.resume(request.args.get("authz"), current_sso_session()))


def _render(outcome: Outcome):
    if isinstance(outcome, ToLogin):
        return redirect(url_for("hosted.login", authz=outcome.authz_id))
    if isinstance(outcome, ToConsent):
        return redirect(url_for("hosted.consent", authz=outcome.authz_id))
    if isinstance(outcome, ToClient):
        return _to_client(outcome)
    assert isinstance(outcome, Failed)
    return _error_page(outcome.error)


def _to_client(outcome: ToClient):
    # RFC 9207: name the issuer in every authorization response (mix-up defence)
    params = [*outcome.params, ("iss", services().settings.issuer)]
    if outcome.response_mode == "form_post" and urlsplit(outcome.redirect_uri).scheme in ("http", "https"):
        # OAuth 2.0 Form Post Response Mode: a page that POSTs the parameters to the client
        return make_response(render_template("oauth/form_post.html", action=outcome.redirect_uri, params=params))
    # no-store, as every answer (blueprints/web.py): the code must not be cached anywhere
    return redirect(add_params_to_uri(outcome.redirect_uri, params))


def _error_page(error: str, description: str | None = None, status: int = 400):
    return make_response(render_template("oauth/error.html", error=error, description=description), status)


@bp.post("/oauth2/token")
def token():
    return _server().create_token_response()


@bp.post("/oauth2/revoke")
def revoke():
    return _server().create_endpoint_response(Revocation.ENDPOINT_NAME)


@bp.post("/oauth2/introspect")
def introspect():
    return _server().create_endpoint_response(Introspection.ENDPOINT_NAME)


class LogoutForm(FlaskForm):
    """The confirmation page's form: the logout request's parameters travel in hidden fields."""

    id_token_hint = HiddenField()
    client_id = HiddenField()
    post_logout_redirect_uri = HiddenField()
    state = HiddenField()
    ui_locales = HiddenField()
    submit = SubmitField(_l("Sign out"))


LOGOUT_PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")


@bp.route("/oauth2/logout", methods=["GET", "POST"])
def logout():
    """RP-Initiated Logout 1.0. Signed out at once when the id_token_hint names the signed-in
    person (or nobody is signed in); otherwise the person confirms first (RP-Initiated 6)."""
    params = {name: request.values[name] for name in LOGOUT_PARAMS if request.values.get(name)}
    if request.method == "POST" and "csrf_token" not in request.form:
        # an RP's cross-site POST carries no SameSite=Lax cookie: re-ask as a same-site GET
        return redirect(url_for("oauth.logout", **params), 303)
    try:
        req = _server().validate_endpoint_request(EndSession.ENDPOINT_NAME)
    except IdpError as refused:
        return _error_page("invalid_request", refused.message)
    except OAuth2Error as error:  # RP-Initiated 4: on errors, no redirect
        return _error_page(error.error, error.get_error_description())
    session, form = current_sso_session(), LogoutForm(data=params)
    hinted = session is not None and (req.id_token_claims or {}).get("sub") == session.sub
    if session is not None and not hinted and not form.validate_on_submit():
        return render_template("oauth/logout_confirm.html", form=form, client=req.client)
    client_id = req.client.client_id if req.client else None
    services().authz.end_session(session, request_context(client_id), client_id=client_id)
    response = (
        redirect(req.redirect_uri)
        if req.redirect_uri
        else make_response(render_template("oauth/logged_out.html", client=req.client))
    )
    return clear_sso_cookie(response)


@bp.route("/oauth2/userinfo", methods=["GET", "POST"])
@bp.route("/userinfo", methods=["GET"])
def userinfo():
    # RFC 6750 2.1 header, or 2.2 form body (POST only; request.form reads form encodings only)
    form_token = request.form.get("access_token") if request.method == "POST" else None
    try:
        authorization = bearer_authorization(request.headers.get("Authorization"), form_token)
        return jsonify(userinfo_claims(services(), authorization))
    except BearerError as exc:
        # RFC 6750 3: the challenge says why
        response = jsonify({"error": exc.error, "error_description": exc.description})
        response.status_code = exc.status
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
        return response
