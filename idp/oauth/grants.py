"""Authlib grant classes: authorization code (PKCE S256), client credentials, the one-time-code
grant and refresh-token rotation. Every grant gets its tokens from the one issuer
(``idp.oauth.issuer``); the other endpoints' classes are in ``idp.oauth.endpoints``.

Grants reach the domain through ``self.server.services`` (an ``idp.services.Services``) and
the request's ``RequestContext`` through ``self.server.request_context(client_id)``; both are
set by the web layer, so nothing here knows Flask. ``OAuthServer`` says what they use of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, Protocol, TypeAlias

from authlib.consts import default_json_headers
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope
from sqlalchemy.exc import InterfaceError, OperationalError

from idp.accounts.proofs import CodeProof, ContactCode
from idp.accounts.users import UserService
from idp.context import RequestContext
from idp.db import Database
from idp.errors import IdpError
from idp.flows.login import LoginFlow
from idp.models import Application
from idp.models.users import Person
from idp.oauth.authorize import AuthCode, AuthorizationService, AuthzRequest
from idp.oauth.bearer import BearerServices
from idp.oauth.claims import CLIENT_SCOPES, USER_SCOPES, ClaimsRequest, granted_scope, parse_claims_request
from idp.oauth.errors import oauth_error
from idp.oauth.issuer import TokenIssuer, TokenResponse
from idp.oauth.tokens import Principal, RefreshTokenStore, StoredRefreshToken
from idp.store import OUTAGE_ERRORS

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

# A grant's token response: (status, body, headers). Authlib's own grants return the token as
# a dict too, which the server serialises (``handle_response``); types-Authlib types that body
# as ``str``, the one mismatch the ``create_token_response`` overrides below ignore.
TokenEndpointResponse: TypeAlias = tuple[int, TokenResponse, list[tuple[str, str]]]


class OAuthServices(BearerServices, Protocol):
    """What the grants and endpoints use of ``idp.services.Services``."""

    @property
    def db(self) -> Database: ...

    @property
    def users(self) -> UserService: ...

    @property
    def login(self) -> LoginFlow: ...

    @property
    def tokens(self) -> TokenIssuer: ...

    @property
    def refresh_tokens(self) -> RefreshTokenStore: ...

    @property
    def authz(self) -> AuthorizationService: ...


class OAuthServer(Protocol):
    """What the grants and endpoints use of the web layer's Authlib server."""

    @property
    def services(self) -> OAuthServices: ...

    def request_context(self, client_id: str | None = None) -> RequestContext: ...

    def query_client(self, client_id: str) -> Application | None: ...


class TokenGrant(Protocol):
    """What ``issue_token_response`` needs of a grant."""

    @property
    def GRANT_TYPE(self) -> str: ...  # Authlib's name

    @property
    def request(self) -> OAuth2Request: ...

    @property
    def server(self) -> OAuthServer: ...


def application(client: ClientMixin | None) -> Application:
    """An authenticated client as the Application it is: Authlib types it as any ``ClientMixin``
    (None before authentication), and the server's ``query_client`` returns Applications."""
    assert isinstance(client, Application)
    return client


def payload(request: OAuth2Request) -> OAuth2Payload:
    """The request's parameters (the web layer's server sets them on every request)."""
    assert request.payload is not None
    return request.payload


def _truthy(value: object) -> bool:
    return str(value).lower() in ("true", "1", "yes")


def _is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is a store outage: Redis or the database
    not answering, as raised or as ``store.unavailable``."""
    while exc is not None:
        if isinstance(exc, IdpError) and exc.code == "store.unavailable":
            return True
        if isinstance(exc, (*OUTAGE_ERRORS, OperationalError, InterfaceError)):
            return True
        exc = exc.__cause__
    return False


class OtpGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """A one-time code for a phone number or email address in exchange for tokens. The grant
    types (URNs) are one-line subclasses in the face whose contract names them."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    # set by the one-line subclasses
    GRANT_TYPE: str
    CHANNEL = ""
    TARGET_PARAM = ""
    server: OAuthServer
    _proof: CodeProof | None = None  # the request's code, once the sign-in has it

    @staticmethod
    def oauth_error(exc: IdpError) -> OAuth2Error:
        """How a refusal reads on the wire; a face may give its grants its own descriptions."""
        return oauth_error(exc)

    def validate_token_request(self) -> None:
        authenticated = self.authenticate_token_endpoint_client()
        client = application(authenticated)
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"The client is not authorized to use '{self.GRANT_TYPE}'")
        self.request.client = authenticated
        form = self.request.form
        for name in ("otp_token", "otp", self.TARGET_PARAM):
            if not form.get(name):
                raise InvalidRequestError(f"Missing '{name}' in request.")
        requested = payload(self.request).scope
        if requested and requested.split() and not granted_scope(client, requested, within=USER_SCOPES):
            raise InvalidScopeError()  # before the code is checked: a refused request spends nothing
        try:
            with self._giving_back():
                self.request.user = self._authenticate(client, form)
        except IdpError as exc:  # audited by the login flow
            raise self.oauth_error(exc) from exc

    def _authenticate(self, client: Application, form: Mapping[str, str]) -> Principal:
        """The one sign-in by code (``LoginFlow.sign_in``) with this contract's options: the
        auth source is the request's (required), ``auto_signup`` may come with the request, and
        an unknown contact is "User not found". Nothing is spent when the request fails."""
        login = self.server.services.login
        ctx = self.server.request_context()
        code = ContactCode(
            self.CHANNEL,
            form.get(self.TARGET_PARAM),
            form.get("otp_token"),
            form.get("otp"),
            form.get("auth_source_id"),
        )
        self._proof = login.code_proof(client, ctx, code, source_from_request=True)
        done = login.sign_in(
            client,
            ctx,
            self._proof,
            auto_signup=True if _truthy(form.get("auto_signup")) else None,
            reveal_unknown=True,
            method=self.CHANNEL,
            record_success=False,  # with the tokens, in the issuer's transaction
        )
        return Principal(user=done.user, auth_time=done.auth_time, amr=list(done.amr))

    def create_token_response(self) -> TokenEndpointResponse:  # type: ignore[override]  # see TokenEndpointResponse
        with self._giving_back():
            return issue_token_response(
                self, self.request.user, payload(self.request).scope, sign_in_method=self.CHANNEL
            )

    @contextmanager
    def _giving_back(self) -> Iterator[None]:
        """A request that answers 503 spends nothing: when a store fails after the sign-in
        spent the code and before the tokens are saved, the code is given back for the
        client's retry. A user an auto sign-up created stays; the retry signs them in."""
        try:
            yield
        except Exception as exc:
            if self._proof is not None and _is_outage(exc):
                with suppress(Exception):  # best effort: the store that failed may be Redis itself
                    self._proof.give_back()
            raise


def active_principal(user: Person | None, **facts: Any) -> Principal:
    """The person a grant was given to, while they may still get tokens: a refresh token or a
    code of a user who is gone (None), locked or disabled is ``invalid_grant`` (RFC 6749 5.2)."""
    if user is None or not user.is_active:
        raise InvalidGrantError("Abnormal user status")
    return Principal(user=user, **facts)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use; reuse of a rotated token revokes the family (OAuth 2.0 Security
    BCP 4.14.2). The requested scope may narrow the grant, never widen it (RFC 6749 6)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: OAuthServer

    # types-Authlib leaves out None, which is how a grant refuses the token (invalid_grant)
    def authenticate_refresh_token(self, refresh_token: str) -> StoredRefreshToken | None:  # type: ignore[override]
        ctx = self.server.request_context(application(self.request.client).client_id)  # set before this is called
        return self.server.services.refresh_tokens.find_live(refresh_token, ctx)

    def authenticate_user(self, refresh_token: StoredRefreshToken) -> Principal:
        return active_principal(
            refresh_token.holder,  # read with the token, in one query
            auth_time=refresh_token.auth_time,
            amr=list(refresh_token.amr),
            family_id=refresh_token.family_id,
            claims=refresh_token.claims,
            sid=refresh_token.sid,
        )

    def create_token_response(self) -> TokenEndpointResponse:  # type: ignore[override]  # see TokenEndpointResponse
        row = self.request.refresh_token
        assert isinstance(row, StoredRefreshToken)  # set by validate_token_request (authenticate_refresh_token)
        return issue_token_response(
            self, self.authenticate_user(row), payload(self.request).scope or row.scope, rotating=row
        )

    def revoke_old_credential(self, refresh_token: TokenMixin) -> None:
        """Done by the issuer, atomically with the new token's insert."""


def issue_token_response(
    grant: TokenGrant,
    principal: Principal | None,
    requested_scope: str | None,
    *,
    rotating: StoredRefreshToken | None = None,
    sign_in_method: str | None = None,
) -> TokenEndpointResponse:
    """The token response of a grant, from the issuer. Unsupported scopes are not granted;
    asking only for scopes that cannot be granted is invalid_scope (RFC 6749 5.2)."""
    client = application(grant.request.client)
    scope = granted_scope(client, requested_scope, within=USER_SCOPES)
    if requested_scope and requested_scope.split() and not scope:
        raise InvalidScopeError()
    grant.request.user = principal
    services = grant.server.services
    ctx = grant.server.request_context(client.client_id)
    # a face may word its grant's errors
    to_oauth: Callable[[IdpError], OAuth2Error] = getattr(grant, "oauth_error", oauth_error)
    try:
        token = services.tokens.issue(
            client,
            principal,
            ctx,
            grant_type=grant.GRANT_TYPE,
            scope=scope,
            rotating=rotating,
            sign_in_method=sign_in_method,
        )
    except IdpError as exc:
        raise to_oauth(exc) from exc
    return 200, token, default_json_headers


# -- authorization code (RFC 6749 4.1, RFC 7636, OIDC Core 3.1) ---------------------------------
RESPONSE_MODES = ("query", "form_post")


class PkceS256(CodeChallenge):
    """RFC 7636 with S256 only (OAuth 2.0 Security BCP 2.1.1: ``plain`` offers nothing over no
    PKCE). Public clients must send a challenge; a code issued with one needs the verifier."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = payload(grant.request).data
        if not data.get("code_challenge"):
            if application(grant.request.client).is_public:
                raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        elif data.get("code_challenge_method") != "S256":
            # RFC 7636 4.3: an absent method means "plain", which is not supported
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: grants.AuthorizationCodeGrant, result: object) -> None:
        # RFC 7636 4.6: the code is bound to its challenge, so redeeming it without the verifier
        # fails the grant itself (invalid_grant, as FAPI 2.0 expects), not the request's shape
        code = grant.request.authorization_code
        assert isinstance(code, AuthCode)  # set by validate_token_request (query_authorization_code)
        if code.code_challenge and not grant.request.form.get("code_verifier"):
            raise InvalidGrantError("The code was issued with a 'code_challenge': send its 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class OpenIDNonce(OpenIDCode):
    """OpenID extension of the code grant, limited to the authorize-side ``nonce`` check.

    ID tokens are issued by the token issuer (one path for every grant), and ``prompt`` is
    decided by ``AuthorizationService`` (it needs the SSO session), so only Authlib's nonce
    validation is registered here.
    """

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # OIDC Core 3.1.3.7 step 11: the RP checks the nonce it sent; it is returned, not tracked
        return False

    def __call__(self, grant: grants.BaseGrant) -> None:
        if is_openid_scope(payload(grant.request).scope):
            grant.register_hook(
                "after_validate_authorization_request_payload", self.validate_openid_authorization_request
            )


class RequestNotSupportedError(OAuth2Error):
    """OIDC Core 3.1.2.6: the OP does not support the ``request`` parameter."""

    error = "request_not_supported"


class RequestUriNotSupportedError(OAuth2Error):
    """OIDC Core 3.1.2.6: the OP does not support the ``request_uri`` parameter."""

    error = "request_uri_not_supported"


REQUEST_OBJECT_ERRORS = {"request": RequestNotSupportedError, "request_uri": RequestUriNotSupportedError}


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS  # "none" only for public clients (+ PKCE)
    requested_claims: ClaimsRequest | None = None
    server: OAuthServer

    def validate_authorization_request(self) -> str:
        params = payload(self.request)
        if not params.redirect_uri and self.server.query_client(params.client_id) is not None:
            # OIDC Core 3.1.2.1: redirect_uri is REQUIRED; without it there is nowhere safe to go
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        redirect_uri = super().validate_authorization_request()
        try:
            self._validate_oidc_parameters()
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        client = application(self.request.client)
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "The client may not use the authorization code grant.", redirect_uri=redirect_uri
            )
        # OIDC Core 3.1.2.1: scopes that are not understood are ignored; nothing grantable is an error
        self.request.scope = granted_scope(client, params.scope, within=USER_SCOPES)
        if params.scope and not self.request.scope:
            raise InvalidScopeError(redirect_uri=redirect_uri)
        try:
            self.requested_claims = self._requested_claims()
        except IdpError as exc:
            raise InvalidRequestError(exc.message, redirect_uri=redirect_uri) from exc
        return redirect_uri

    def _validate_oidc_parameters(self) -> None:
        data = payload(self.request).data
        for name, refusal in REQUEST_OBJECT_ERRORS.items():  # OIDC Core 6: not supported (discovery says so)
            if data.get(name):
                raise refusal(f"The '{name}' parameter is not supported.")
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

    def _requested_claims(self) -> ClaimsRequest | None:
        """OIDC Core 5.5: the ``claims`` parameter, for OpenID requests only; limited to the
        claims of scopes the application may have. Raises oauth.invalid_claims."""
        parsed = parse_claims_request(
            payload(self.request).data.get("claims"),
            granted_scope(application(self.request.client), None, within=USER_SCOPES).split(),
        )
        return parsed if "openid" in self.request.scope.split() else None

    def pending_request(self) -> AuthzRequest:
        """The validated request as the domain keeps it while the browser signs in."""
        data, client = payload(self.request).data, application(self.request.client)
        max_age = data.get("max_age")
        return AuthzRequest(
            id="",
            client_id=client.client_id,
            client_name=client.name,
            redirect_uri=self.redirect_uri,
            scopes=self.request.scope.split(),
            state=data.get("state"),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            response_mode=data.get("response_mode") or "query",
            prompt=(data.get("prompt") or "").split(),
            max_age=int(max_age) if max_age is not None else None,
            login_hint=data.get("login_hint"),
            ui_locales=data.get("ui_locales"),
            login_methods=list(client.login_methods),
            first_party=bool(client.first_party),
            mfa=client.mfa or "off",
            claims=self.requested_claims,
        )

    # -- token endpoint ---------------------------------------------------------------------
    def query_authorization_code(self, code: str, client: ClientMixin) -> AuthCode | None:
        services, client_id = self.server.services, client.get_client_id()
        redemption = services.authz.redeem_code(code)
        if redemption.replayed_family:
            # RFC 6749 4.1.2: a code used twice is refused and the tokens it gave are revoked
            services.refresh_tokens.revoke_family(
                redemption.replayed_family,
                self.server.request_context(client_id),
                reason="code_replay",
                client_id=client_id,
            )
            return None
        found = redemption.code
        return found if found is not None and found.client_id == client_id else None

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        """Already gone: ``redeem_code`` took it atomically."""

    def authenticate_user(self, authorization_code: AuthCode) -> Principal:
        # OIDC Core 2: auth_time and amr are the SSO session's, nonce is the authorize request's
        return active_principal(
            self.server.services.users.by_sub(authorization_code.sub),
            auth_time=authorization_code.auth_time,
            amr=list(authorization_code.amr),
            nonce=authorization_code.nonce,
            family_id=authorization_code.family_id,
            claims=authorization_code.claims,
            sid=authorization_code.sid,
        )

    def create_token_response(self) -> TokenEndpointResponse:  # type: ignore[override]  # see TokenEndpointResponse
        code = self.request.authorization_code
        assert isinstance(code, AuthCode)  # set by validate_token_request (query_authorization_code)
        response = issue_token_response(self, self.authenticate_user(code), code.scope)
        services = self.server.services
        if services.authz.family_replayed(code.family_id):
            # a replay raced this exchange and may have revoked before our tokens were stored
            services.refresh_tokens.revoke_family(
                code.family_id,
                self.server.request_context(code.client_id),
                reason="code_replay",
                client_id=code.client_id,
            )
            raise InvalidGrantError("The code was used more than once.")
        return response


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 4.4 for m2m applications: an access token only, within the app's scopes and
    the scopes an application's own token may carry."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: OAuthServer

    def create_token_response(self) -> TokenEndpointResponse:  # type: ignore[override]  # see TokenEndpointResponse
        client, requested = application(self.request.client), payload(self.request).scope
        scope = granted_scope(client, requested, within=CLIENT_SCOPES)
        if requested and set(requested.split()) - set(scope.split()):
            raise InvalidScopeError("The application may not request these scopes.")
        services = self.server.services
        try:
            token = services.tokens.issue(
                client, None, self.server.request_context(client.client_id), grant_type=self.GRANT_TYPE, scope=scope
            )
        except IdpError as exc:
            raise oauth_error(exc) from exc
        return 200, token, default_json_headers
