"""What the JSON faces answer, as pydantic models for the OpenAPI document (``/openapi.json``).

The requests are the faces' own parsing models (``idp/dialects/*``, ``idp/admin/shapes.py``);
the answers are built by render functions returning dicts, so their shapes are written here,
next to nothing else: a render that adds or drops a member fails the schemathesis run
(tests/fuzz/test_openapi.py), which checks every answer against these. The OAuth 2.0 form
bodies are read by Authlib, not by a model: their parameters are written here too.

Answer models leave ``extra`` at pydantic's default (other members allowed): an answer may
grow, a client ignores what it does not know.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from idp.dialects.common import ProfileClaims
from idp.oauth.registration import OTP_EMAIL_GRANT, OTP_SMS_GRANT


class Empty(BaseModel):
    """``{}``: the vendor answers a bare 200 OK."""


# -- error shapes, one per face --------------------------------------------------------------
class OAuthError(BaseModel):
    """RFC 6749 5.2 (and RFC 6750 3.1 for a bearer token); Tencent CIAM uses the same shape."""

    error: str = Field(min_length=1)
    error_description: str | None = None


class AdminError(BaseModel):
    """The admin API's ``{"error": <dotted code>, "error_description"}``."""

    error: str
    error_description: str


class CloudbaseError(BaseModel):
    """Tencent CloudBase "User Login API": ``error_code`` is a gRPC status number."""

    error: str
    error_code: int
    error_description: str


class ZitadelErrorDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type_: str | None = Field(default=None, alias="@type")
    id: str | None = None
    message: str | None = None


class ZitadelError(BaseModel):
    """grpc-gateway's status: ``code`` is a gRPC status number, never 0 (OK)."""

    code: int = Field(ge=1)
    message: str
    details: list[ZitadelErrorDetail] = []


class OneAccessError(BaseModel):
    """Huawei OneAccess: ``status`` is ``ACCESS_DENIED`` for a refused sign-in."""

    status: Literal["ACCESS_DENIED"] | None = None
    error_code: str
    error_msg: str


# -- admin API ---------------------------------------------------------------------------------
class AuthSourceOut(BaseModel):
    id: str
    kind: Literal["sms", "email"]
    name: str | None
    code_length: int
    code_ttl: int


class ApplicationOut(BaseModel):
    client_id: str
    name: str
    type: Literal["web", "spa", "native", "m2m"]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    auth_source_ids: list[str]
    login_methods: list[str]
    mfa: Literal["off", "optional", "required"]
    auto_signup: bool
    first_party: bool
    access_token_alg: str | None
    id_token_signed_response_alg: str
    identity_provider_ids: list[str]
    # -- back-channel logout
    backchannel_logout_uri: str | None = Field(
        default=None, description="Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0)."
    )
    client_secret: str | None = Field(default=None, description="Only in the answer to its creation.")


class UserOut(ProfileClaims):
    sub: str
    username: str | None
    email: str | None
    email_verified: bool
    phone_number: str | None
    phone_verified: bool
    status: Literal["active", "locked", "disabled"]
    name: str | None
    locale: str | None
    has_password: bool
    sequence: int
    created_at: str | None


class FactorOut(BaseModel):
    type: Literal["otp_sms", "otp_email", "totp"]
    state: Literal["ready", "not_ready"]
    created_at: str | None


class UserRecordOut(UserOut):
    locked_until: str | None
    factors: list[FactorOut]


class UnlockOut(BaseModel):
    sub: str
    was_locked: bool


class KeyOut(BaseModel):
    kid: str
    alg: Literal["RS256", "ES256", "EdDSA"]
    state: Literal["active", "retired"]
    created_at: str | None


class AuditEventOut(BaseModel):
    id: int
    type: str
    at: str
    sub: str | None
    client_id: str | None
    actor: str | None
    ip: str | None
    user_agent: str | None
    result: str | None
    details: dict[str, Any]


# -- OpenID Connect / OAuth 2.0 ----------------------------------------------------------------
class TokenForm(BaseModel):
    """RFC 6749 4.1.3, 4.4.2 and 6 with RFC 7636 4.5, and Tencent CIAM's OTP grants: the
    parameters of ``POST /oauth2/token`` (``application/x-www-form-urlencoded``)."""

    grant_type: str
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    phone_number: str | None = None
    email: str | None = None
    otp_token: str | None = None
    otp: str | None = None
    auth_source_id: str | None = None


class OtpGrantJson(BaseModel):
    """Tencent CIAM "OTP Authentication by SMS and Email": the OTP grant posted as JSON."""

    grant_type: Literal[OTP_SMS_GRANT, OTP_EMAIL_GRANT]  # type: ignore[valid-type]
    phone_number: str | None = None
    email: str | None = None
    otp_token: str
    otp: str
    scope: str | None = None
    auth_source_id: str | None = None
    client_id: str | None = None


class TokenOut(BaseModel):
    """RFC 6749 5.1 with the OpenID Connect ``id_token``."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None


class UserinfoForm(BaseModel):
    """RFC 6750 2.2: the access token in a form body."""

    access_token: str | None = None


class Claims(BaseModel):
    """The claims the token's scopes release (OpenID Connect Core 1.0, 5.3.2)."""

    sub: str


class RevokeForm(BaseModel):
    """RFC 7009 2.1."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None
    client_id: str | None = None
    client_secret: str | None = None


class IntrospectForm(BaseModel):
    """RFC 7662 2.1."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class IntrospectionOut(BaseModel):
    """RFC 7662 2.2."""

    active: bool


class Metadata(BaseModel):
    """A JSON object (OpenID Connect Discovery 1.0, 3; RFC 7517 5)."""


# -- Tencent CIAM ------------------------------------------------------------------------------
class OtpTokenOut(BaseModel):
    otp_token: str


# -- Tencent CloudBase -------------------------------------------------------------------------
class CloudbaseSentOut(BaseModel):
    verification_id: str
    expires_in: int
    is_user: bool


class CloudbaseVerifiedOut(BaseModel):
    verification_token: str
    expires_in: int


class CloudbaseTokenOut(BaseModel):
    token_type: str
    access_token: str
    refresh_token: str | None = None
    expires_in: int
    sub: str
    scope: str | None = None
    id_token: str | None = None


class CloudbaseProviderUriOut(BaseModel):
    uri: str


class CloudbaseProviderProfile(BaseModel):
    provider_id: str
    sub: str
    name: str | None = None
    picture: str | None = None
    email: str | None = None


class CloudbaseProviderTokenOut(BaseModel):
    provider_token: str
    expires_in: int
    provider_profile: CloudbaseProviderProfile


class CloudbaseUserOut(BaseModel):
    sub: str
    name: str | None = None
    username: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    phone_number: str | None = None
    locale: str | None = None


class CloudbaseCaptchaOut(BaseModel):
    token: str
    data: str
    expires_in: int


class CloudbaseCaptchaTokenOut(BaseModel):
    captcha_token: str
    expires_in: int


# -- ZITADEL -----------------------------------------------------------------------------------
class ZitadelObjectDetails(BaseModel):
    sequence: str
    creationDate: str  # protobuf JSON names
    changeDate: str
    resourceOwner: str


class ZitadelDetailsOut(BaseModel):
    details: ZitadelObjectDetails


class ZitadelListDetails(BaseModel):
    totalResult: str
    processedSequence: str
    viewTimestamp: str


class ZitadelFactor(BaseModel):
    state: str
    otpSms: dict[str, Any] | None = None
    otpEmail: dict[str, Any] | None = None
    otp: dict[str, Any] | None = None


class ZitadelFactorsOut(BaseModel):
    details: ZitadelListDetails
    result: list[ZitadelFactor]


class ZitadelWebAuthNToken(BaseModel):
    id: str
    name: str
    state: str


class ZitadelPasswordlessOut(BaseModel):
    """``ListMyPasswordlessResponse``."""

    details: ZitadelListDetails
    result: list[ZitadelWebAuthNToken]


class ZitadelTotpOut(BaseModel):
    url: str
    secret: str
    details: ZitadelObjectDetails


class ZitadelPhone(BaseModel):
    phone: str | None = None
    isPhoneVerified: bool | None = None


class ZitadelPhoneOut(BaseModel):
    details: ZitadelObjectDetails
    phone: ZitadelPhone


# -- Huawei OneAccess --------------------------------------------------------------------------
class OneAccessSuccessOut(BaseModel):
    status: Literal["SUCCESS"]
    expire: int
    session_token: str
    id_token: str


class OneAccessLoginOut(BaseModel):
    """Signed in, or a second factor is needed (``status`` says which)."""

    status: Literal["SUCCESS", "MFA_REQUIRED"]
    expire: int
    session_token: str | None = None
    id_token: str | None = None
    state_token: str | None = None
    mfa_types: list[Literal["SMS", "EMAIL", "OTP"]] | None = None


class OneAccessStatusOut(BaseModel):
    status: Literal["SUCCESS"]


class OneAccessMobileOut(BaseModel):
    mobile: str


class OneAccessTicketOut(BaseModel):
    sso_ticket: str
    expire: int


class OneAccessUser(BaseModel):
    id: str
    userName: str | None
    name: str | None
    mobile: str | None
    email: str | None


class OneAccessUserData(BaseModel):
    user: OneAccessUser


class OneAccessUserOut(BaseModel):
    code: str
    message: str
    data: OneAccessUserData
