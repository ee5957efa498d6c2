"""``GET /openapi.json``: one OpenAPI 3.1 document for every JSON face, built at run time from
the pydantic models the faces parse with, and ``GET /docs``, which renders it with the
Swagger UI copy Gatehouse serves itself (``static/docs/``).

``OPERATIONS`` below is the one table of what each JSON route takes and answers, keyed by the
route's Flask endpoint and method: the address, its path parameters (with the values an
``any(...)`` converter allows) and the face are read from ``app.url_map``, so the document
names exactly the routes the app registered. It is a table rather than a decorator on each
view so that documenting a route never touches its view: a new route needs one line here,
and tests/unit/test_openapi.py fails while a JSON route has none.

Errors are documented per face, in the face's own shape (its renderer in
``blueprints/errors.py``'s registry), with the statuses that face's error table can answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, make_response, render_template
from pydantic import BaseModel, TypeAdapter

from blueprints import openapi_models as out
from blueprints.web import services
from idp.admin import shapes as admin
from idp.audit import MAX_LIMIT
from idp.dialects import ciam, cloudbase, oneaccess, zitadel

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Face:
    """One JSON face: its name in the document, its error shape, the statuses it can answer."""

    tag: str
    description: str
    error: type[BaseModel]
    statuses: tuple[int, ...]
    security: tuple[str, ...] = ()  # the default of its operations


# blueprint name -> face; the statuses are those of the face's error table (and 405/413 from the
# HTTP layer, which every face answers in its own shape)
FACES: dict[str, Face] = {
    "admin": Face(
        "Admin API",
        "Users, applications, auth sources, identity providers, keys and audit events (`Authorization: Bearer`).",
        out.AdminError,
        (400, 401, 403, 404, 405, 409, 413, 429, 503),
        ("adminBearer",),
    ),
    "oauth": Face(
        "OpenID Connect",
        "OpenID Connect Core 1.0 and OAuth 2.0 (RFC 6749, RFC 7009, RFC 7662).",
        out.OAuthError,
        (400, 401, 403, 405, 413, 503),
    ),
    "ciam": Face(
        "Tencent CIAM",
        "Tencent CIAM: OTP sending, sign-up, passwords and the profile.",
        out.OAuthError,
        (400, 401, 403, 405, 413, 503),
    ),
    "cloudbase": Face(
        "Tencent CloudBase",
        "Tencent CloudBase User Login API (`/auth/v1`).",
        out.CloudbaseError,
        (400, 401, 403, 404, 405, 409, 413, 429, 501, 503),
    ),
    "zitadel": Face(
        "ZITADEL",
        "ZITADEL auth API v1: the signed-in user's factors, passkeys and phone (`/auth/v1/users/me`).",
        out.ZitadelError,
        (400, 401, 403, 404, 405, 409, 412, 413, 429, 501, 503),
    ),
    "oneaccess": Face(
        "Huawei OneAccess",
        "Huawei OneAccess SDK calls and SSO tickets (`/api/v2`).",
        out.OneAccessError,
        (400, 405, 413, 429, 503),
    ),
}

# security scheme names
ADMIN, CLIENT, USER = "adminBearer", "clientBasic", "userBearer"

SECURITY_SCHEMES = {
    ADMIN: {
        "type": "http",
        "scheme": "bearer",
        "description": "GATEHOUSE_ADMIN_TOKEN, or an m2m application's access token with scope admin.",
    },
    CLIENT: {"type": "http", "scheme": "basic", "description": "The application's client_id:client_secret."},
    USER: {"type": "http", "scheme": "bearer", "description": "A user's access token (RFC 6750)."},
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query" | "header"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Op:
    """What one (endpoint, method) takes and answers."""

    summary: str
    request: type[BaseModel] | None = None
    responses: dict[int, Any] = field(default_factory=dict)  # status -> model / type / None (no body)
    security: tuple[str, ...] = ()  # any one of these schemes
    form: type[BaseModel] | None = None  # an application/x-www-form-urlencoded body
    body_required: bool = True
    params: tuple[Param, ...] = ()


def _q(name: str, schema: dict[str, Any] | None = None) -> Param:
    return Param(name, "query", schema or {"type": "string"})


def _h(name: str, *, required: bool = False) -> Param:
    return Param(name, "header", {"type": "string"}, required)


CAPTCHA_HEADER = _h("X-Captcha-Token")
# every OneAccess call describes its caller in these headers (SDK.COMMON.1001 when one is blank)
SDK_HEADERS = (*(_h(name, required=True) for name in oneaccess.REQUIRED_HEADERS), _h("X-L"), _h("X-device-ip"))
FACE_PARAMS = {"oneaccess": SDK_HEADERS}
STATE_TOKEN = _h(oneaccess.STATE_TOKEN_HEADER)
AUDIT_QUERY = (
    _q("sub"),
    _q("type"),
    _q("client_id"),
    _q("result"),
    _q("since"),
    _q("until"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    _q("before_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}),
)
PAGE_QUERY = (_q("after"), _q("limit", {"type": "integer", "minimum": 1, "maximum": 200}))

# (endpoint, method) -> what it takes and answers: the one table (see the module text)
OPERATIONS: dict[tuple[str, str], Op] = {
    # -- admin API -----------------------------------------------------------------------------
    ("admin.create_auth_source", "POST"): Op("Create an auth source", admin.AuthSourceIn, {201: out.AuthSourceOut}),
    ("admin.list_auth_sources", "GET"): Op(
        "List auth sources; next page in Link", None, {200: list[out.AuthSourceOut]}, params=PAGE_QUERY
    ),
    ("admin.get_auth_source", "GET"): Op("An auth source", None, {200: out.AuthSourceOut}),
    ("admin.patch_auth_source", "PATCH"): Op("Change an auth source", admin.AuthSourcePatch, {200: out.AuthSourceOut}),
    ("admin.delete_auth_source", "DELETE"): Op("Delete an auth source no application uses", None, {204: None}),
    ("admin.create_application", "POST"): Op("Create an application", admin.ApplicationIn, {201: out.ApplicationOut}),
    ("admin.list_applications", "GET"): Op(
        "List applications; next page in Link", None, {200: list[out.ApplicationOut]}, params=PAGE_QUERY
    ),
    ("admin.get_application", "GET"): Op("An application", None, {200: out.ApplicationOut}),
    ("admin.patch_application", "PATCH"): Op(
        "Change an application (any create field but type)", admin.ApplicationPatch, {200: out.ApplicationOut}
    ),
    ("admin.delete_application", "DELETE"): Op("Delete an application and revoke its tokens", None, {204: None}),
    ("admin.rotate_application_secret", "POST"): Op(
        "A new client secret; the old one stops working", None, {200: admin.ApplicationSecretOut}
    ),
    # sign in with another identity provider
    ("admin.create_identity_provider", "POST"): Op(
        "Register an upstream identity provider", admin.IdentityProviderIn, {201: admin.IdentityProviderOut}
    ),
    ("admin.list_identity_providers", "GET"): Op(
        "List identity providers; next page in Link", None, {200: list[admin.IdentityProviderOut]}, params=PAGE_QUERY
    ),
    ("admin.get_identity_provider", "GET"): Op("An identity provider", None, {200: admin.IdentityProviderOut}),
    ("admin.patch_identity_provider", "PATCH"): Op(
        "Change an identity provider (any field but kind)",
        admin.IdentityProviderPatch,
        {200: admin.IdentityProviderOut},
    ),
    ("admin.delete_identity_provider", "DELETE"): Op(
        "Delete an identity provider no application offers, and its links", None, {204: None}
    ),
    ("admin.create_user", "POST"): Op("Create a user", admin.UserIn, {201: out.UserOut}),
    ("admin.search_users", "GET"): Op(
        "Find users: exact username, email or phone_number, or q (a prefix of any); next page in Link",
        None,
        {200: list[out.UserOut]},
        params=(
            _q("username"),
            _q("email"),
            _q("phone_number"),
            _q("q"),
            _q("status"),
            *PAGE_QUERY,
        ),
    ),
    ("admin.delete_user", "DELETE"): Op("Delete a user and everything that is theirs", None, {204: None}),
    ("admin.list_sessions", "GET"): Op("A user's SSO sessions", None, {200: list[admin.SessionOut]}),
    ("admin.sign_out_everywhere", "DELETE"): Op(
        "Sign out everywhere: sessions, refresh tokens, remembered devices", None, {204: None}
    ),
    ("admin.get_user", "GET"): Op("A user, their lock and factors", None, {200: out.UserRecordOut}),
    ("admin.patch_user", "PATCH"): Op("Change a user", admin.UserPatch, {200: out.UserOut}),
    ("admin.list_factors", "GET"): Op("A user's factors", None, {200: list[out.FactorOut]}),
    ("admin.add_factor", "POST"): Op("Enrol an OTP factor", admin.FactorIn, {201: out.FactorOut}),
    ("admin.remove_factor", "DELETE"): Op("Remove a factor", None, {204: None}),
    ("admin.unlock_user", "POST"): Op("Lift a temporary lock", None, {200: out.UnlockOut}),
    ("admin.list_keys", "GET"): Op("Signing keys (never the keys themselves)", None, {200: list[out.KeyOut]}),
    ("admin.rotate_key", "POST"): Op(
        "Rotate an algorithm's key", admin.KeyRotateIn, {200: out.KeyOut}, body_required=False
    ),
    ("admin.list_audit_events", "GET"): Op(
        "Audit events, newest first", None, {200: list[out.AuditEventOut]}, params=AUDIT_QUERY
    ),
    # -- OpenID Connect ------------------------------------------------------------------------
    ("oauth.discovery", "GET"): Op("OpenID Provider metadata", None, {200: out.Metadata}),
    ("oauth.jwks", "GET"): Op("The JSON Web Key Set", None, {200: out.Metadata}),
    ("oauth.token", "POST"): Op(
        "Token endpoint (RFC 6749 3.2; Tencent CIAM's OTP grant as JSON)",
        out.OtpGrantJson,
        {200: out.TokenOut},
        (CLIENT, ""),
        form=out.TokenForm,
    ),
    ("oauth.userinfo", "GET"): Op("UserInfo (OpenID Connect Core 1.0, 5.3)", None, {200: out.Claims}, (USER,)),
    ("oauth.userinfo", "POST"): Op(
        "UserInfo (OpenID Connect Core 1.0, 5.3)", None, {200: out.Claims}, (USER, ""), form=out.UserinfoForm
    ),
    ("oauth.revoke", "POST"): Op(
        "Revoke a token (RFC 7009)", None, {200: out.Empty}, (CLIENT, ""), form=out.RevokeForm
    ),
    ("oauth.introspect", "POST"): Op(
        "Introspect a token (RFC 7662)", None, {200: out.IntrospectionOut}, (CLIENT,), form=out.IntrospectForm
    ),
    # -- Tencent CIAM --------------------------------------------------------------------------
    ("ciam.otp_send", "POST"): Op("Send an OTP", ciam.OtpSendRequest, {200: out.OtpTokenOut}, (CLIENT,)),
    ("ciam.signup", "POST"): Op("Sign up", ciam.SignupRequest, {200: out.Claims}, (CLIENT,)),
    ("ciam.reset_user_password", "POST"): Op(
        "Reset a password with a code", ciam.ResetPasswordRequest, {200: out.Empty}, (CLIENT,)
    ),
    ("ciam.change_user_password", "POST"): Op(
        "Change one's password", ciam.ChangePasswordRequest, {200: out.Empty}, (USER,)
    ),
    ("ciam.update_userinfo", "PATCH"): Op(
        "Change one's profile and contacts", ciam.UserinfoUpdateRequest, {200: out.Claims}, (USER,)
    ),
    # -- Tencent CloudBase ---------------------------------------------------------------------
    ("cloudbase.verification", "POST"): Op(
        "Send a verification code", cloudbase.VerificationRequest, {200: out.CloudbaseSentOut}, (CLIENT,)
    ),
    ("cloudbase.verification_verify", "POST"): Op(
        "Check a verification code", cloudbase.VerifyRequest, {200: out.CloudbaseVerifiedOut}, (CLIENT,)
    ),
    ("cloudbase.signin", "POST"): Op(
        "Sign in", cloudbase.SigninRequest, {200: out.CloudbaseTokenOut}, (CLIENT,), params=(CAPTCHA_HEADER,)
    ),
    ("cloudbase.signup", "POST"): Op("Sign up", cloudbase.SignupRequest, {200: out.CloudbaseTokenOut}, (CLIENT,)),
    ("cloudbase.reset", "POST"): Op("Reset a password", cloudbase.ResetRequest, {200: out.Empty}, (CLIENT,)),
    ("cloudbase.token", "POST"): Op(
        "Token", cloudbase.TokenRequest, {200: out.CloudbaseTokenOut}, (CLIENT,), params=(CAPTCHA_HEADER,)
    ),
    ("cloudbase.provider_uri", "GET"): Op(
        "Where to send the person to sign in with another provider",
        None,
        {200: out.CloudbaseProviderUriOut},
        (CLIENT,),
        params=(_q("provider_id"), _q("redirect_uri"), _q("state"), _q("scope"), _q("response_type")),
    ),
    ("cloudbase.provider_uri", "POST"): Op(
        "Where to send the person to sign in with another provider",
        cloudbase.ProviderUriRequest,
        {200: out.CloudbaseProviderUriOut},
        (CLIENT,),
    ),
    ("cloudbase.provider_token", "POST"): Op(
        "Exchange another provider's code for a provider token",
        cloudbase.ProviderTokenRequest,
        {200: out.CloudbaseProviderTokenOut},
        (CLIENT,),
    ),
    ("cloudbase.signin_with_provider", "POST"): Op(
        "Sign in with a provider token", cloudbase.SigninWithProviderRequest, {200: out.CloudbaseTokenOut}, (CLIENT,)
    ),
    ("cloudbase.user_me", "GET"): Op("The signed-in user", None, {200: out.CloudbaseUserOut}, (USER,)),
    ("cloudbase.captcha_data", "POST"): Op("A captcha image", None, {200: out.CloudbaseCaptchaOut}, (CLIENT,)),
    ("cloudbase.captcha_verify", "POST"): Op(
        "Solve a captcha", cloudbase.CaptchaVerifyRequest, {200: out.CloudbaseCaptchaTokenOut}, (CLIENT,)
    ),
    # -- ZITADEL -------------------------------------------------------------------------------
    ("zitadel.list_factors", "POST"): Op("List my factors", None, {200: out.ZitadelFactorsOut}, (USER,)),
    ("zitadel.add_otp_factor", "POST"): Op(
        "Add an SMS or email OTP factor",
        zitadel.EmptyRequest,
        {200: out.ZitadelDetailsOut},
        (USER,),
        body_required=False,
    ),
    ("zitadel.remove_otp_factor", "DELETE"): Op(
        "Remove an SMS or email OTP factor", None, {200: out.ZitadelDetailsOut}, (USER,)
    ),
    ("zitadel.add_totp", "POST"): Op(
        "Start TOTP enrolment", zitadel.EmptyRequest, {200: out.ZitadelTotpOut}, (USER,), body_required=False
    ),
    ("zitadel.verify_totp", "POST"): Op("Confirm TOTP", zitadel.CodeRequest, {200: out.ZitadelDetailsOut}, (USER,)),
    ("zitadel.remove_totp", "DELETE"): Op("Remove TOTP", None, {200: out.ZitadelDetailsOut}, (USER,)),
    ("zitadel.list_passwordless", "POST"): Op("List my passkeys", None, {200: out.ZitadelPasswordlessOut}, (USER,)),
    ("zitadel.remove_passwordless", "DELETE"): Op("Remove a passkey", None, {200: out.ZitadelDetailsOut}, (USER,)),
    ("zitadel.get_phone", "GET"): Op("My phone", None, {200: out.ZitadelPhoneOut}, (USER,)),
    ("zitadel.set_phone", "PUT"): Op("Set my phone", zitadel.SetPhoneRequest, {200: out.ZitadelDetailsOut}, (USER,)),
    ("zitadel.verify_phone", "POST"): Op("Verify my phone", zitadel.CodeRequest, {200: out.ZitadelDetailsOut}, (USER,)),
    ("zitadel.resend_phone_verification", "POST"): Op(
        "Resend the phone code", None, {200: out.ZitadelDetailsOut}, (USER,)
    ),
    ("zitadel.remove_phone", "DELETE"): Op("Remove my phone", None, {200: out.ZitadelDetailsOut}, (USER,)),
    # -- Huawei OneAccess ----------------------------------------------------------------------
    ("oneaccess.login", "POST"): Op(
        "Sign in", oneaccess.LoginRequest, {200: out.OneAccessLoginOut}, params=(_h(oneaccess.CAPTCHA_TOKEN_HEADER),)
    ),
    ("oneaccess.mobile_by_token", "GET"): Op(
        "The masked number for the second factor",
        None,
        {200: out.OneAccessMobileOut},
        params=(Param(oneaccess.STATE_TOKEN_HEADER, "header", required=True),),
    ),
    ("oneaccess.sms_send", "POST"): Op(
        "Send an SMS code", oneaccess.SmsSendRequest, {200: out.OneAccessStatusOut}, params=(STATE_TOKEN,)
    ),
    ("oneaccess.mfa_sms", "POST"): Op(
        "Second factor by SMS",
        oneaccess.MfaSmsRequest,
        {200: out.OneAccessSuccessOut},
        params=(Param(oneaccess.STATE_TOKEN_HEADER, "header", required=True),),
    ),
    ("oneaccess.logout", "GET"): Op(
        "End the SSO session",
        None,
        {200: out.OneAccessStatusOut},
        params=(_h(oneaccess.SESSION_TOKEN_HEADER), _q("session_token")),
    ),
    ("oneaccess.sso_ticket", "POST"): Op(
        "An SSO ticket for a session", oneaccess.SsoTicketRequest, {200: out.OneAccessTicketOut}
    ),
    ("oneaccess.sso_ticket_verify", "POST"): Op(
        "Redeem an SSO ticket", oneaccess.SsoTicketVerifyRequest, {200: out.OneAccessUserOut}
    ),
}

# routes of the documented blueprints that answer a browser with HTML, not JSON
HTML_ENDPOINTS = frozenset({"oauth.authorize", "oauth.authorize_continue", "oauth.logout"})

_ARGUMENT = re.compile(r"<(?:[^>:]*:)?(\w+)>")


def documented_routes(app: Flask) -> list[tuple[str, str, str]]:
    """Every (endpoint, method, rule) of the JSON faces in ``app.url_map``."""
    found = []
    for rule in app.url_map.iter_rules():
        face = rule.endpoint.partition(".")[0]
        if face not in FACES or rule.endpoint in HTML_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return sorted(found, key=lambda r: (r[2], r[1]))


def undocumented(app: Flask) -> list[str]:
    """The JSON routes the table does not describe (``METHOD rule``)."""
    return [f"{m} {r}" for e, m, r in documented_routes(app) if (e, m) not in OPERATIONS]


def _schemas(operations: list[Op]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """Each model's JSON schema (a ``$ref`` into ``components``) and the components."""
    types: list[Any] = [f.error for f in FACES.values()]
    for op in operations:
        types += [m for m in (op.request, op.form) if m is not None]
        types += [t for t in op.responses.values() if t is not None]
    unique = list(dict.fromkeys(types))
    keyed, top = TypeAdapter.json_schemas([(t, "validation", TypeAdapter(t)) for t in unique], ref_template=REF)
    return {t: keyed[(t, "validation")] for t in unique}, top.get("$defs", {})


def _path_parameters(app: Flask, rule_text: str) -> tuple[str, list[dict[str, Any]]]:
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text)
    parameters = []
    for name in _ARGUMENT.findall(rule.rule):
        items = getattr(rule._converters[name], "items", None)
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if items:
            schema = {"type": "string", "enum": sorted(items)}
        else:
            schema["pattern"] = "^[^/]+$"
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule.rule), parameters


def _media(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def build(app: Flask, issuer: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON routes ``app`` registered."""
    routes = [(e, m, r) for e, m, r in documented_routes(app) if (e, m) in OPERATIONS]
    schemas, components = _schemas([OPERATIONS[(e, m)] for e, m, _ in routes])
    paths: dict[str, dict[str, Any]] = {}
    for endpoint, method, rule in routes:
        op = OPERATIONS[(endpoint, method)]
        face = FACES[endpoint.partition(".")[0]]
        path, parameters = _path_parameters(app, rule)
        parameters += [
            {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema}
            for p in (*FACE_PARAMS.get(endpoint.partition(".")[0], ()), *op.params)
        ]
        operation: dict[str, Any] = {
            "operationId": f"{endpoint.replace('.', '_')}_{method.lower()}"
            + ("" if rule == _first_rule(app, endpoint) else "_" + re.sub(r"\W+", "_", rule).strip("_")),
            "summary": op.summary,
            "tags": [face.tag],
        }
        if parameters:
            operation["parameters"] = parameters
        content: dict[str, Any] = {}
        if op.request is not None:
            content[JSON] = {"schema": schemas[op.request]}
        if op.form is not None:
            content[FORM] = {"schema": schemas[op.form]}
        if content:
            operation["requestBody"] = {"required": op.body_required and op.form is None, "content": content}
        responses: dict[str, Any] = {}
        for status, model in op.responses.items():
            responses[str(status)] = {"description": "Success"}
            if model is not None:
                responses[str(status)]["content"] = _media(schemas[model])
        for status in face.statuses:
            responses[str(status)] = {
                "description": f"An error in the {face.tag} shape",
                "content": _media(schemas[face.error]),
            }
        operation["responses"] = responses
        security = op.security or face.security
        if security:
            operation["security"] = [{name: []} if name else {} for name in security]
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse",
            "version": "1",
            "description": "Every JSON face of this Gatehouse: the admin API, the OpenID Connect endpoints "
            "and the vendor-compatible APIs, each answering errors in its own shape.",
        },
        "servers": [{"url": issuer}],
        "tags": [{"name": f.tag, "description": f.description} for f in FACES.values()],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


def _first_rule(app: Flask, endpoint: str) -> str:
    return next(r.rule for r in app.url_map.iter_rules() if r.endpoint == endpoint)


@bp.get("/openapi.json")
def openapi_json():
    """Built once per app (the routes and models do not change while it runs)."""
    document = current_app.extensions.get("gatehouse.openapi")
    if document is None:
        document = current_app.extensions["gatehouse.openapi"] = build(current_app, services().settings.issuer)
    return jsonify(document)


# the hosted pages' policy: scripts and styles from this server only, no inline script
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@bp.get("/docs")
def docs():
    response = make_response(render_template("docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
