"""Authlib grant and endpoint classes: authorization code (PKCE S256), client credentials,
the Tencent CIAM OTP grants, refresh-token rotation, introspection and RP-initiated logout.

Grants reach the domain through ``self.server.services`` (an ``idp.services.Services``) and
the request's ``RequestContext`` through ``self.server.request_context()``; both are set by
the web layer, so nothing here knows Flask.
"""

from __future__ import annotations

from datetime import UTC, datetime

from authlib.consts import default_json_headers
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope
from authlib.oidc.rpinitiated import EndSessionEndpoint

from idp.accounts.proofs import ContactCode
from idp.errors import IdpError
from idp.oauth.authorize import AuthCode, AuthzRequest
from idp.oauth.bearer import BearerError, validate_access_token
from idp.oauth.errors import oauth_error
from idp.oauth.tokens import Principal

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1", "yes")


class OtpGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """A one-time code for a phone number or email address in exchange for tokens. The grant
    types (URNs) are one-line subclasses in the face whose contract names them."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    CHANNEL = ""  # set by the one-line subclasses
    TARGET_PARAM = ""

    @staticmethod
    def oauth_error(exc: IdpError) -> OAuth2Error:
        """How a refusal reads on the wire; a face may give its grants its own descriptions."""
        return oauth_error(exc)

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"The client is not authorized to use '{self.GRANT_TYPE}'")
        self.request.client = client
        form = self.request.form
        for name in ("otp_token", "otp", self.TARGET_PARAM):
            if not form.get(name):
                raise InvalidRequestError(f"Missing '{name}' in request.")
        try:
            self.request.user = self._authenticate(client, form)
        except IdpError as exc:  # audited by the login flow
            raise self.oauth_error(exc) from exc

    def _authenticate(self, client, form) -> Principal:
        """The one sign-in by code (``LoginFlow.sign_in``) with this contract's options: the
        auth source is the request's (required), ``auto_signup`` may come with the request, and
        an unknown contact is "User not found". Nothing is spent when the request fails."""
        services = self.server.services
        code = ContactCode(self.CHANNEL, form.get(self.TARGET_PARAM), form.get("otp_token"), form.get("otp"),
                           form.get("auth_source_id"))
        done = services.login.sign_in(client, self.server.request_context(), code, source_from_request=True,
                                      auto_signup=True if _truthy(form.get("auto_signup")) else None,
                                      reveal_unknown=True)
        return Principal(user=done.user, auth_time=done.auth_time, amr=list(done.amr))

    def create_token_response(self):
        return issue_token_response(self, self.request.user, self.request.payload.scope)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use; reuse of a rotated token revokes the family (SPEC 1)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        return self.server.services.refresh_tokens.find_live(refresh_token, self.server.request_context())

    def authenticate_user(self, refresh_token) -> Principal | None:
        user = self.server.services.users.by_sub(refresh_token.sub)
        if user is None or not user.is_active:
            raise InvalidGrantError("Abnormal user status")
        return Principal(user=user, auth_time=refresh_token.auth_time, amr=list(refresh_token.amr),
                         family_id=refresh_token.family_id)

    def create_token_response(self):
        principal = self.authenticate_user(self.request.refresh_token)
        scope = self.request.payload.scope or self.request.refresh_token.get_scope()
        return issue_token_response(self, principal, scope)

    def revoke_old_credential(self, refresh_token) -> None:
        """Done atomically in ``GatehouseServer.save_token``, with the new token's insert."""


def issue_token_response(grant: grants.BaseGrant, principal: Principal, requested_scope: str | None):
    """Access token (+ refresh token, + ID token for ``openid``), saved in one transaction."""
    client = grant.request.client
    scope = client.get_allowed_scope(requested_scope)
    if requested_scope and not scope:
        from authlib.oauth2.rfc6749.errors import InvalidScopeError

        raise InvalidScopeError()
    grant.request.user = principal
    token = grant.generate_token(
        user=principal, scope=scope, include_refresh_token=client.check_grant_type("refresh_token")
    )
    if "openid" in scope.split():
        token["id_token"] = grant.server.services.id_tokens.issue(client, principal, token["access_token"])
    try:
        grant.save_token(token)
    except IdpError as exc:
        raise oauth_error(exc) from exc
    return 200, token, default_json_headers


# -- authorization code (RFC 6749 4.1, RFC 7636, OIDC Core 3.1) ---------------------------------
RESPONSE_MODES = ("query", "form_post")


class PkceS256(CodeChallenge):
    """RFC 7636 with S256 only (OAuth 2.0 Security BCP 2.1.1: ``plain`` offers nothing over no
    PKCE). Public clients must send a challenge; a code issued with one needs the verifier."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            if grant.request.client.is_public:
                raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        elif data.get("code_challenge_method") != "S256":
            # RFC 7636 4.3: an absent method means "plain", which is not supported
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDNonce(OpenIDCode):
    """OpenID extension of the code grant, limited to the authorize-side ``nonce`` check.

    ID tokens are issued by ``issue_token_response`` (one path for every grant), and ``prompt``
    is decided by ``AuthorizationService`` (it needs the SSO session), so only Authlib's nonce
    validation is registered here.
    """

    def exists_nonce(self, nonce, request) -> bool:
        # OIDC Core 3.1.3.7 step 11: the RP checks the nonce it sent; it is returned, not tracked
        return False

    def __call__(self, grant):
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook("after_validate_authorization_request_payload",
                                self.validate_openid_authorization_request)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS  # "none" only for public clients (+ PKCE)

    def validate_authorization_request(self) -> str:
        payload = self.request.payload
        if not payload.redirect_uri and self.server.query_client(payload.client_id) is not None:
            # OIDC Core 3.1.2.1: redirect_uri is REQUIRED; without it there is nowhere safe to go
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        redirect_uri = super().validate_authorization_request()
        try:
            self._validate_oidc_parameters()
        except InvalidRequestError as error:
            error.redirect_uri = redirect_uri
            raise
        if not self.request.client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the authorization code grant.",
                                          redirect_uri=redirect_uri)
        if self.request.payload.scope and not self.request.scope:
            raise InvalidScopeError(redirect_uri=redirect_uri)
        return redirect_uri

    def _validate_oidc_parameters(self) -> None:
        data = self.request.payload.data
        for name in ("request", "request_uri"):  # OIDC Core 6: not supported (discovery says so)
            if data.get(name):
                raise InvalidRequestError(f"The '{name}' parameter is not supported.")
        mode = data.get("response_mode") or "query"
        if mode not in RESPONSE_MODES:
            raise InvalidRequestError("Unsupported 'response_mode'.")
        prompt = (data.get("prompt") or "").split()
        if "none" in prompt and len(prompt) > 1:
            # OIDC Core 3.1.2.1: none with any other value is an error
            raise InvalidRequestError("'prompt=none' cannot be combined with other values.")
        max_age = data.get("max_age")
        if max_age is not None and not (max_age.isdigit() and len(max_age) < 10):
            raise InvalidRequestError("'max_age' must be a non-negative integer.")

    def pending_request(self) -> AuthzRequest:
        """The validated request as the domain keeps it while the browser signs in."""
        data, client = self.request.payload.data, self.request.client
        max_age = data.get("max_age")
        return AuthzRequest(
            id="", client_id=client.client_id, client_name=client.name, redirect_uri=self.redirect_uri,
            scopes=self.request.scope.split(), state=data.get("state"), nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"), response_mode=data.get("response_mode") or "query",
            prompt=(data.get("prompt") or "").split(), max_age=int(max_age) if max_age is not None else None,
            login_hint=data.get("login_hint"), ui_locales=data.get("ui_locales"),
            login_methods=list(client.login_methods), first_party=bool(client.first_party),
            mfa=client.mfa or "off",
        )

    # -- token endpoint ---------------------------------------------------------------------
    def query_authorization_code(self, code, client) -> AuthCode | None:
        services = self.server.services
        redemption = services.authz.redeem_code(code)
        if redemption.replayed_family:
            # RFC 6749 4.1.2: a code used twice is refused and the tokens it gave are revoked
            services.refresh_tokens.revoke_family(
                redemption.replayed_family, self.server.request_context(), reason="code_replay",
                client_id=client.client_id)
            return None
        found = redemption.code
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code) -> None:
        """Already gone: ``redeem_code`` took it atomically."""

    def authenticate_user(self, authorization_code: AuthCode) -> Principal:
        user = self.server.services.users.by_sub(authorization_code.sub)
        if user is None or not user.is_active:
            raise InvalidGrantError("Abnormal user status")
        # OIDC Core 2: auth_time and amr are the SSO session's, nonce is the authorize request's
        return Principal(user=user, auth_time=authorization_code.auth_time, amr=list(authorization_code.amr),
                         nonce=authorization_code.nonce, family_id=authorization_code.family_id)

    def create_token_response(self):
        code: AuthCode = self.request.authorization_code
        response = issue_token_response(self, self.authenticate_user(code), code.scope)
        services = self.server.services
        if services.authz.family_replayed(code.family_id):
            # a replay raced this exchange and may have revoked before our tokens were stored
            services.refresh_tokens.revoke_family(code.family_id, self.server.request_context(),
                                                  reason="code_replay", client_id=code.client_id)
            raise InvalidGrantError("The code was used more than once.")
        return response


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 4.4 for m2m applications: an access token only, within the app's scopes."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def create_token_response(self):
        client, requested = self.request.client, self.request.payload.scope
        scope = client.get_allowed_scope(requested)
        if requested and set(requested.split()) - set(scope.split()):
            raise InvalidScopeError("The application may not request these scopes.")
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, default_json_headers


# -- introspection (RFC 7662) ---------------------------------------------------------------------
class IntrospectedToken:
    def __init__(self, client_id: str, payload: dict) -> None:
        self.client_id = client_id
        self.payload = payload

    def is_expired(self) -> bool:
        return False  # expired tokens are never returned by ``query_token``

    def is_revoked(self) -> bool:
        return False


class Introspection(IntrospectionEndpoint):
    """Only the client a token was issued to may introspect it; to any other client (and for
    anything unknown, expired, rotated or revoked) the answer is ``{"active": false}``
    (RFC 7662 2.2). Resource servers verify our JWT access tokens against the JWKS instead."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        finders = [self._access_token, self._refresh_token]
        if token_type_hint == "refresh_token":
            finders.reverse()
        return next((found for find in finders if (found := find(token_string)) is not None), None)

    def _access_token(self, raw: str) -> IntrospectedToken | None:
        try:
            claims = validate_access_token(self.server.services, f"Bearer {raw}")
        except BearerError:
            return None
        keep = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "auth_time", "acr")
        return IntrospectedToken(claims.get("client_id", ""), {
            "token_type": "Bearer", **{k: claims[k] for k in keep if k in claims}})

    def _refresh_token(self, raw: str) -> IntrospectedToken | None:
        token = self.server.services.refresh_tokens.find_active(raw)
        if token is None:
            return None
        return IntrospectedToken(token.client_id, {
            "client_id": token.client_id, "sub": token.sub, "scope": token.scope,
            "iss": self.server.services.settings.issuer, "exp": _epoch(token.expires_at),
            "iat": _epoch(token.created_at)})

    def check_permission(self, token, client, request) -> bool:
        return token.client_id == client.client_id

    def introspect_token(self, token: IntrospectedToken) -> dict:
        return {"active": True, **token.payload}


def _epoch(value: datetime) -> int:
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


# -- RP-initiated logout 1.0 ----------------------------------------------------------------------
class EndSession(EndSessionEndpoint):
    """Validates the logout request; the web layer ends the session (it owns the cookie).

    ``id_token_hint`` must carry our signature (expired ones are accepted, RP-Initiated 2);
    ``post_logout_redirect_uri`` must equal one the named client registered (SPEC 6). Without a
    hint, an exact match with the ``client_id`` given is taken as legitimate: the person
    confirms the sign-out on our page first.
    """

    def get_server_jwks(self):
        return self.server.services.keys.public_keys()

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def _is_valid_post_logout_redirect_uri(self, client, post_logout_redirect_uri: str) -> bool:
        return post_logout_redirect_uri in (client.post_logout_redirect_uris or [])

    def is_post_logout_redirect_uri_legitimate(self, request, post_logout_redirect_uri, client, logout_hint):
        return True

    def end_session(self, end_session_request) -> None:
        """Unused: ``AuthorizationService.end_session`` is called by the web layer."""
