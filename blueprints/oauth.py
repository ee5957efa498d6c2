"""OpenID Connect provider endpoints: discovery, JWKS, token, userinfo, revoke."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Blueprint, Flask, jsonify, request
from werkzeug.datastructures import MultiDict

from blueprints.web import request_context, services
from idp import audit
from idp.oauth.bearer import BearerError, userinfo_claims
from idp.oauth.clients import SUPPORTED_GRANTS
from idp.oauth.grants import OtpEmailGrant, OtpSmsGrant, RefreshTokenGrant
from idp.services import Services

bp = Blueprint("oauth", __name__)


class JsonBodyRequest(OAuth2Request):
    """Seed 000 posts the token request as JSON; Authlib reads forms. Present one as the other."""

    def __init__(self, uri: str, data: dict) -> None:
        super().__init__(request.method, uri, headers=request.headers)
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
    def __init__(self, svc: Services) -> None:
        super().__init__()
        self.services = svc
        self.register_token_generator("default", svc.access_tokens)

    def query_client(self, client_id):
        return self.services.clients.by_client_id(client_id)

    def request_context(self):
        return request_context()

    def save_token(self, token, oauth_request):
        """Rotate the presented refresh token, store the new one (hashed) and the audit event:
        one short transaction, after signing, so no lock is held while tokens are signed."""
        svc, client, principal = self.services, oauth_request.client, oauth_request.user
        presented = getattr(oauth_request, "refresh_token", None)
        store = svc.refresh_tokens
        try:
            with svc.db.transaction() as session:
                if presented is not None and not store.rotate(session, presented):
                    raise _LostRotation
                if token.get("refresh_token"):
                    store.add(token["refresh_token"], client, principal, token.get("scope", ""))
                audit.record(session, "login.token", request_context(client.client_id),
                             sub=principal.user.sub, grant_type=oauth_request.payload.grant_type,
                             amr=principal.amr)
        except _LostRotation:
            store.reject_reuse(presented, request_context(client.client_id))
            raise InvalidGrantError("Invalid 'refresh_token' in request.") from None

    def create_oauth2_request(self, _request):
        uri = self.services.settings.issuer + request.full_path.rstrip("?")
        if request.is_json:
            data = request.get_json(silent=True)
            return JsonBodyRequest(uri, data if isinstance(data, dict) else {})
        oauth_request = super().create_oauth2_request(_request)
        oauth_request.uri = uri
        return oauth_request

    def handle_response(self, status_code, payload, headers):
        response = super().handle_response(status_code, payload, headers)
        response.headers["Cache-Control"] = "no-store"
        return response


class _LostRotation(Exception):
    """Another request rotated the same refresh token first (a replay racing the owner)."""


class Revocation(RevocationEndpoint):
    """RFC 7009. Refresh tokens revoke their whole family; JWT access tokens expire on their own."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string, token_type_hint):
        return self.server.services.refresh_tokens.find(token_string)

    def revoke_token(self, token, oauth_request):
        self.server.services.refresh_tokens.revoke_family(
            token.family_id, request_context(token.client_id), reason="revoked", sub=token.sub,
            client_id=token.client_id)


def init_app(app: Flask, svc: Services) -> None:
    server = GatehouseServer(svc)
    server.register_grant(OtpSmsGrant)
    server.register_grant(OtpEmailGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(Revocation)
    app.extensions["gatehouse.oauth"] = server
    app.register_blueprint(bp)


def _server() -> GatehouseServer:
    from flask import current_app

    return current_app.extensions["gatehouse.oauth"]


@bp.get("/.well-known/openid-configuration")
def discovery():
    issuer = services().settings.issuer
    return jsonify({
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "scopes_supported": ["openid", "profile", "email", "phone", "offline_access"],
        "response_types_supported": ["code"],
        "grant_types_supported": list(SUPPORTED_GRANTS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "amr", "acr", "azp",
                             "name", "preferred_username", "locale", "email", "email_verified",
                             "phone_number", "phone_number_verified"],
    })


@bp.get("/oauth2/jwks")
def jwks():
    response = jsonify(services().keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth2/authorize")
def authorize():  # placeholder until the authorization endpoint lands
    return "authorize", 501


@bp.get("/oauth2/authorize/continue")
def authorize_continue():  # placeholder: the hosted pages send the browser here when done
    return "continue", 501


@bp.post("/oauth2/token")
def token():
    return _server().create_token_response()


@bp.post("/oauth2/revoke")
def revoke():
    return _server().create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)


@bp.route("/oauth2/userinfo", methods=["GET", "POST"])
@bp.route("/userinfo", methods=["GET"])
def userinfo():
    try:
        return jsonify(userinfo_claims(services(), request.headers.get("Authorization", "")))
    except BearerError as exc:
        # RFC 6750 3: the challenge says why
        response = jsonify({"error": exc.error, "error_description": exc.description})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
        return response

