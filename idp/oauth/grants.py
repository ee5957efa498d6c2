"""Authlib grant classes: the Tencent CIAM OTP grants and refresh-token rotation.

Grants reach the domain through ``self.server.services`` (an ``idp.services.Services``) and
the request's ``RequestContext`` through ``self.server.request_context()``; both are set by
the web layer, so nothing here knows Flask.
"""

from __future__ import annotations

import time

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, UnauthorizedClientError

from idp import audit
from idp.dialects.ciam import oauth_error
from idp.errors import IdpError, Kind
from idp.oauth.clients import OTP_EMAIL_GRANT, OTP_SMS_GRANT
from idp.oauth.tokens import Principal

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1", "yes")


class OtpGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """Tencent CIAM "OTP Authentication by SMS and Email" (seed 000)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    CHANNEL = ""  # set by the one-line subclasses
    TARGET_PARAM = ""

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
        except IdpError as exc:
            if exc.kind is not Kind.UNAVAILABLE:
                self._audit_failure(client, exc)
            raise oauth_error(exc) from exc

    def _authenticate(self, client, form) -> Principal:
        """Verify the code, then find (or auto-create) the user. Nothing is consumed when the
        request fails: the code is only spent once the user is known to be able to log in."""
        services, ctx = self.server.services, self.server.request_context()
        otp, users = services.otp, services.users
        policy = otp.code_policy(client, self.CHANNEL, "login", form.get("auth_source_id"))
        target = otp.normalise_target(self.CHANNEL, form.get(self.TARGET_PARAM))
        auto_signup = _truthy(form.get("auto_signup")) or client.auto_signup
        user = users.by_contact(self.CHANNEL, target)
        can_login = (user is None and auto_signup) or (user is not None and user.is_active)
        otp.verify(client, self.CHANNEL, target, "login", policy.auth_source_id,
                   form.get("otp_token"), form.get("otp"), consume=can_login)
        if not can_login:
            users.user_for_code_login(self.CHANNEL, target, auto_signup=auto_signup)  # raises
        if user is None:
            user = users.create_from_verified_contact(self.CHANNEL, target, ctx)
        return Principal(user=user, auth_time=int(time.time()), amr=["otp", self.CHANNEL])

    def create_token_response(self):
        return issue_token_response(self, self.request.user, self.request.payload.scope)

    def _audit_failure(self, client, exc: IdpError) -> None:
        services = self.server.services
        with services.db.transaction() as session:
            audit.record(session, "login.failure", self.server.request_context(), result="failure",
                         client_id=client.client_id, grant_type=self.GRANT_TYPE, reason=exc.code)


class OtpSmsGrant(OtpGrant):
    GRANT_TYPE, CHANNEL, TARGET_PARAM = OTP_SMS_GRANT, "sms", "phone_number"


class OtpEmailGrant(OtpGrant):
    GRANT_TYPE, CHANNEL, TARGET_PARAM = OTP_EMAIL_GRANT, "email", "email"


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
