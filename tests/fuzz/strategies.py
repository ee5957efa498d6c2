"""Hypothesis strategies for hostile requests to the JSON faces, one per input class.

A request is drawn as ``FuzzRequest`` (method, path, raw query string, headers, raw body) and
tagged with its input class, so the test can count how often each class reached each endpoint:

1. ``fields``: JSON objects with the face's own field names holding wrong types, empty and huge
   strings, nulls, nested objects and numbers out of every integer range;
2. ``surrogates``: strings with lone UTF-16 surrogates (``"\\ud800"``), which RFC 8259 8.2 lets
   a JSON text carry but no Unicode string may hold, in the face's fields (and NUL, which
   PostgreSQL text refuses);
3. ``nesting``: deeply nested arrays and objects, and top-level values that are not objects;
4. ``not_json``: random bytes, invalid UTF-8, truncated JSON and form bodies, with and without
   ``Content-Type: application/json``;
5. ``authorization``: malformed ``Authorization`` headers (RFC 7617 Basic, RFC 6750 Bearer);
6. ``query``: query strings with control characters, CR/LF, NUL and non-ASCII text;
7. ``method``: a method the route does not answer (405, RFC 9110 15.5.6).

Outside class 5 the request carries credentials that work (the face's own), so it reaches the
body parsing behind the authentication.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from hypothesis import strategies as st
from pydantic import BaseModel

from idp.admin.shapes import AUDIT_FILTERS
from tests.factories import (
    MOCK_EMAIL_OTP_AUTH_SOURCE_ID,
    MOCK_SMS_OTP_AUTH_SOURCE_ID,
    REDIRECT_URI,
    SPA_CLIENT_ID,
    TENANT_CLIENT_ID,
    TENANT_CLIENT_SECRET,
)
from tests.fuzz.faces import Endpoint

INPUT_CLASSES = ("fields", "surrogates", "nesting", "not_json", "authorization", "query", "method")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# the request models each face reads its bodies with
_MODEL_MODULES = {
    "ciam": ("idp.dialects.ciam", "idp.dialects.common"),
    "cloudbase": ("idp.dialects.cloudbase", "idp.dialects.common"),
    "zitadel": ("idp.dialects.zitadel",),
    "oneaccess": ("idp.dialects.oneaccess",),
    "admin": ("idp.admin.shapes",),
}
# RFC 6749 (4.1.3, 4.4.2, 6), RFC 7009 2.1, RFC 7662 2.1 and Tencent CIAM's OTP grants
OAUTH_FIELDS = (
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "token",
    "token_type_hint",
    "access_token",
    "auth_source_id",
    "phone_number",
    "email",
    "otp_token",
    "otp",
    "username",
    "password",
)
# OpenID Connect Core 3.1.2.1 authorization request parameters
AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "claims",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
)


# the query parameters the faces read (besides the body fields): the admin API's searches and
# audit filters, OneAccess's session_token, CloudBase's captcha_token
QUERY_NAMES = {
    "admin": ("username", "email", "phone_number", *AUDIT_FILTERS),
    "oneaccess": ("session_token",),
    "cloudbase": ("captcha_token",),
}


def field_names(face: str) -> tuple[str, ...]:
    """The JSON field names ``face`` reads: its pydantic request models' (by alias), or the
    OAuth parameters."""
    if face == "oauth":
        return OAUTH_FIELDS
    names: set[str] = set()
    for module_name in _MODEL_MODULES[face]:
        for value in vars(importlib.import_module(module_name)).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                names.update(info.alias or name for name, info in value.model_fields.items())
    return tuple(sorted(names))


@dataclass(frozen=True)
class Credentials:
    """Headers that pass each face's authentication, made by the test from real records."""

    client_basic: str  # ``Basic base64(client_id:secret)`` of a confidential application
    client_id: str
    user_bearer: str  # ``Bearer <access token>`` of an active person, scope openid
    admin_bearer: str  # ``Bearer <GATEHOUSE_ADMIN_TOKEN>``


@dataclass
class FuzzRequest:
    input_class: str
    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def describe(self) -> str:
        body = self.body if self.body is not None else b""
        lines = [
            f"input class: {self.input_class}",
            f"request: {self.method} {self.path}{'?' + self.query_string if self.query_string else ''}"[:400],
            f"headers: {self.headers!r}"[:400],
            f"body ({len(body)} bytes): {body[:200]!r}",
        ]
        return "\n".join(lines)


# -- values ---------------------------------------------------------------------------------
LONE_SURROGATES = ("\ud800", "x\udfffy", "\udc00\ud800", "\ud83d", "a\udbff")
_surrogate_text = st.one_of(
    st.sampled_from(LONE_SURROGATES),
    st.tuples(
        st.text(max_size=5),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.text(max_size=5),
    ).map("".join),
)
_huge_text = st.sampled_from([300, 5_000, 70_000]).map(lambda n: "x" * n)
_plausible = st.sampled_from(
    [
        "13612345678",
        "+8613612345678",
        "someone@example.com",
        "login",
        "signup",
        "reset_password",
        "password",
        "sms",
        "email",
        "otp_sms",
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "http://tencentciam.com/oauth2/grant-type/otp/sms",
        "openid profile",
        "123456",
        "MFA_AUTH_SMS",
        "LOGIN_SMS",
        "SIGN_IN",
        "active",
        "web",
        "m2m",
        "https://rp.example/cb",
        "2000-13-45",
        "zh-CN",
        "a\x00b",  # NUL: valid in JSON and Python text, refused by PostgreSQL text columns
        # the seeded applications and auth sources, so some bodies name real records
        TENANT_CLIENT_ID,
        TENANT_CLIENT_SECRET,
        SPA_CLIENT_ID,
        MOCK_SMS_OTP_AUTH_SOURCE_ID,
        MOCK_EMAIL_OTP_AUTH_SOURCE_ID,
        REDIRECT_URI,
    ]
)
_out_of_range = st.sampled_from([2**31, 2**63, 2**64 + 1, -(2**63) - 1, 10**30, -1, 0, 1e308, -1e308, 1.5, 10**400])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.just(""),
    st.just(" "),
    st.text(max_size=20),
    _plausible,
    _huge_text,
    st.integers(),
    _out_of_range,
    st.floats(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=4,
)


def _json_text(value: object) -> bytes:
    """JSON text, non-ASCII as ``\\u`` escapes (so lone surrogates become escapes, RFC 8259 7)."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def _object_of(names: tuple[str, ...], values: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(names), values, min_size=0, max_size=6)


# -- per class --------------------------------------------------------------------------------
# one bad value at a time, in a body that is otherwise well formed, goes deepest
HOSTILE = (
    None,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f",
    "\u202eevil",
    "用户名",
    "é" * 300,
    "x" * 257,
    "x" * 70_000,
    True,
    0,
    -1,
    2**31,
    2**63,
    2**64 + 1,
    10**400,
    1e308,
    -0.0,
    [],
    {},
    ["x"],
    {"a": {"b": "c"}},
)


def _one_bad(names: tuple[str, ...], reaching: tuple[dict, ...], bad: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A well-formed body (or ``{}``) with one field, its own or any of the face's, made bad."""

    def spoil(base: dict) -> st.SearchStrategy[dict]:
        own = st.sampled_from(tuple(base) if base else names)
        return st.builds(lambda name, value: {**base, name: value}, st.one_of(own, st.sampled_from(names)), bad)

    return st.sampled_from(({}, *reaching)).flatmap(spoil)


def _fields_body(names: tuple[str, ...], reaching: tuple[dict, ...] = ()) -> st.SearchStrategy[tuple[bytes, str]]:
    one_bad = _one_bad(names, reaching, st.one_of(st.sampled_from(HOSTILE), _values))
    return st.one_of(one_bad, one_bad, _object_of(names, _values)).map(lambda obj: (_json_text(obj), JSON))


def _surrogates_body(names: tuple[str, ...], reaching: tuple[dict, ...] = ()) -> st.SearchStrategy[tuple[bytes, str]]:
    every_field = st.builds(lambda text: dict.fromkeys(names, text), _surrogate_text)
    # NUL too: a code point JSON and Python text carry but PostgreSQL text columns refuse
    bad_text = st.one_of(_surrogate_text, _surrogate_text, _surrogate_text, st.sampled_from(["a\x00b", "\x00"]))
    one_in_a_good_body = _one_bad(names, reaching, bad_text)
    some_fields = st.dictionaries(st.sampled_from(names), _surrogate_text, min_size=1)
    in_a_key = st.builds(lambda text, value: {text: value}, _surrogate_text, _plausible)
    in_a_list = st.builds(lambda name, text: {name: [text]}, st.sampled_from(names), _surrogate_text)
    return st.one_of(every_field, *[one_in_a_good_body] * 4, some_fields, in_a_key, in_a_list).map(
        lambda obj: (_json_text(obj), JSON)
    )


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"1" + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"username":' + b"[" * depth + b"]" * depth + b"}"  # deep inside a field


_TOP_LEVEL = (b"[]", b"1", b'"text"', b"null", b"true", b"1e999", b"NaN", b"-Infinity", b"[{}]", b'""', b"  ")


def _nesting_body(_names: tuple[str, ...]) -> st.SearchStrategy[tuple[bytes, str]]:
    deep = st.builds(
        _nested, st.sampled_from([990, 1_100, 5_000, 50_000]), st.sampled_from(["array", "object", "field"])
    )
    return st.one_of(deep, deep, deep, st.sampled_from(_TOP_LEVEL)).map(lambda body: (body, JSON))


_INVALID_UTF8 = (b"\xff\xfe{}", b'{"username": "\xc3"}', b"{\x80}", b'{"a": "\xed\xa0\x80"}', b"\xc0\xaf")


def _not_json_body(names: tuple[str, ...]) -> st.SearchStrategy[tuple[bytes, str]]:
    truncated = st.builds(
        lambda obj, cut: _json_text(obj)[: max(1, len(_json_text(obj)) * cut // 100)],
        _object_of(names, _scalars),
        st.integers(1, 99),
    )
    form = _object_of(names, st.text(max_size=20)).map(lambda obj: urlencode(obj).encode())
    bodies = st.one_of(st.binary(max_size=200), st.sampled_from(_INVALID_UTF8), truncated, st.just(b""))
    content_types = st.sampled_from([JSON, "", "text/plain", "application/json; charset=utf-16", FORM])
    return st.one_of(st.tuples(bodies, content_types), st.tuples(form, st.sampled_from([FORM, JSON])))


MALFORMED_AUTHORIZATION = (
    "Basic ",
    "Basic  \t ",
    "Basic //46gIE=",
    "Basic \xe9\xff",
    "Basic \xe9",
    "Basic ====",
    "Basic Og==",  # ":" (empty id and secret)
    "Basic YQ==",  # "a" (no colon)
    "Basic w6k6w6k=",  # "é:é" (non-ASCII id)
    "Basic 7aCA",  # not UTF-8 once decoded
    "Basic",
    "Bearer ",
    "Bearer",
    "Bearer \xe9\xff",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
    "Bearer test-admin-token extra",
    "Digest username=x",
    "\xe9",
    "",
)


def _authorization(credentials: Credentials) -> st.SearchStrategy[str]:
    junk = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
    return st.one_of(
        st.sampled_from(MALFORMED_AUTHORIZATION),
        st.builds(lambda scheme, rest: f"{scheme} {rest}", st.sampled_from(["Basic", "Bearer", "basic"]), junk),
        st.just(credentials.client_basic + "x"),
        st.just(credentials.user_bearer + "x"),
    )


# query values: encoded control characters, CR/LF (response splitting), NUL, invalid UTF-8,
# non-ASCII (percent-encoded and raw), and Latin-1 control characters left raw
QUERY_VALUES = (
    "%0D%0AX-Injected%3A%201",
    "%0d%0aSet-Cookie:%20x=y",
    "%00",
    "a%00b",
    "%FF",
    "%ED%A0%80",
    "%E7%94%A8%E6%88%B7",
    "%01%02%1B%7F",
    "%",
    "%zz",
    "\x01\x7f",
    "\xe9",
    "\r\nX-Injected: 1",
    "https://rp.example/cb%0D%0AX-Injected:%201",
    "",
)


def _query_string(names: tuple[str, ...], own: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    keys = st.one_of(
        *([st.sampled_from(own)] * 3 if own else []),
        st.sampled_from(names + AUTHORIZE_PARAMS),
        st.sampled_from(QUERY_VALUES),
    )
    values = st.one_of(
        st.sampled_from(QUERY_VALUES), st.text(max_size=10).map(lambda s: quote(s.encode("utf-8", "surrogatepass")))
    )
    pair = st.builds(lambda k, v: f"{k}={v}", keys, values)
    return st.lists(pair, min_size=1, max_size=5).map("&".join)


# path arguments: a slash encoded inside a segment, dots, non-ASCII, very long, NUL
RAW_PATH_VALUES = ("a%2Fb", "a%2fb", "%2E%2E", "..", "%00", "%E7%94%A8%E6%88%B7", "user-1", "x" * 3_000, "%25", "a%20b")


def _path_values(endpoint: Endpoint, *, fuzzed: bool) -> st.SearchStrategy[dict[str, str]]:
    strategies = {}
    for name, choices in endpoint.arguments:
        accepted = st.sampled_from(choices) if choices else st.sampled_from(["user-1", "otp_sms", "totp"])
        if fuzzed:
            odd = st.one_of(
                st.sampled_from(RAW_PATH_VALUES),
                st.text(min_size=1, max_size=20).map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")),
            )
            strategies[name] = st.one_of(accepted, odd)
        else:
            strategies[name] = accepted
    return st.fixed_dictionaries(strategies)


# well-formed bodies, per route, that get past its first checks: a bad header then meets the
# code that reads credentials, and one spoiled field meets the code (and the database) behind
# the request model, rather than a refusal of the whole body
_PHONE = "13612345678"
_OTP_GRANT = {
    "grant_type": "http://tencentciam.com/oauth2/grant-type/otp/sms",
    "client_id": TENANT_CLIENT_ID,
    "client_secret": TENANT_CLIENT_SECRET,
    "auth_source_id": MOCK_SMS_OTP_AUTH_SOURCE_ID,
    "phone_number": _PHONE,
    "otp_token": "x",
    "otp": "123456",
}
_PASSWORD = "a long enough passphrase"
REACHING: dict[str, tuple[dict, ...]] = {
    "/oauth2/token": (
        {"grant_type": "client_credentials"},
        {"grant_type": "client_credentials", "client_id": TENANT_CLIENT_ID, "client_secret": TENANT_CLIENT_SECRET},
        {"grant_type": "refresh_token", "refresh_token": "x"},
        _OTP_GRANT,
    ),
    "/oauth2/revoke": ({"token": "x"}, {"token": "x", "client_id": TENANT_CLIENT_ID, "client_secret": "x"}),
    "/oauth2/introspect": ({"token": "x", "token_type_hint": "access_token"},),
    "/otp/send": ({"usage": "login", "phone_number": _PHONE, "auth_source_id": MOCK_SMS_OTP_AUTH_SOURCE_ID},),
    "/signup": ({"phone_number": _PHONE, "otp_token": "x", "otp": "123456", "username": "ada", "password": _PASSWORD},),
    "/reset_user_password": ({"phone_number": _PHONE, "otp_token": "x", "otp": "123456", "password": _PASSWORD},),
    "/change_user_password": ({"old_password": "x" * 10, "new_password": _PASSWORD},),
    "/userinfo": ({"name": "Ada", "nickname": "ada"}, {"phone_number": _PHONE, "otp_token": "x", "otp": "123456"}),
    "/auth/v1/verification": ({"phone_number": "+86 " + _PHONE, "target": "ANY", "usage": "SIGN_IN"},),
    "/auth/v1/verification/verify": ({"verification_id": "x", "verification_code": "123456"},),
    "/auth/v1/signin": ({"username": "someone", "password": "x" * 10}, {"verification_token": "x"}),
    "/auth/v1/signup": ({"verification_token": "x", "phone_number": "+86 " + _PHONE, "password": _PASSWORD},),
    "/auth/v1/reset": ({"verification_token": "x", "phone_number": "+86 " + _PHONE, "new_password": _PASSWORD},),
    "/auth/v1/token": ({"grant_type": "password", "username": "someone", "password": "x" * 10},),
    "/auth/v1/captcha/data/verify": ({"token": "x", "key": "ABCDE"},),
    "/auth/v1/users/me/auth_factors/otp/_verify": ({"code": "123456"},),
    "/auth/v1/users/me/phone": ({"phone": "+86" + _PHONE},),
    "/auth/v1/users/me/phone/_verify": ({"code": "123456"},),
    "/api/v2/sdk/login": ({"user_name": "someone", "password": "x" * 10},),
    "/api/v2/sdk/sms/send": ({"mobile": _PHONE, "type": "LOGIN_SMS"}, {"mobile": _PHONE, "type": "MFA_AUTH_SMS"}),
    "/api/v2/sdk/mfa/sms": ({"mobile": _PHONE, "verify_code": "123456"},),
    "/api/v2/tenant/sso/session-token/sso-ticket": ({"session_token": "x"},),
    "/api/v2/tenant/sso/sso-ticket/verify": ({"sso_ticket": "x"},),
    "/admin/api/v1/auth-sources": ({"kind": "sms", "name": "fuzz"},),
    "/admin/api/v1/applications": ({"name": "fuzz", "type": "web", "redirect_uris": ["https://rp.example/cb"]},),
    "/admin/api/v1/users": ({"username": "ada", "password": _PASSWORD, "name": "Ada"},),
    "/admin/api/v1/users/<sub>": ({"name": "Ada", "status": "active"},),
    "/admin/api/v1/users/<sub>/factors": ({"type": "otp_sms"},),
}


# the routes of the Basic-authenticated faces that take a person's Bearer access token instead
# (RFC 6750): Tencent CIAM's password change and profile update, CloudBase's user/me, userinfo
BEARER_ROUTES = frozenset({"/change_user_password", "/userinfo", "/auth/v1/user/me", "/oauth2/userinfo"})


_SDK_HEADERS = {"X-operating-sys-version": "Android 14", "X-device-fingerprint": "fuzz-device", "X-agent": "fuzz"}
# header values that reach the code: NUL, Latin-1, blank, very long (RFC 9110 5.5 field values)
HOSTILE_HEADER_VALUES = ("a\x00b", "\x00", "\xe9\xff", " ", "x" * 3_000, "用户".encode().decode("latin-1"))


def face_headers(endpoint: Endpoint, credentials: Credentials) -> st.SearchStrategy[dict[str, str]]:
    """Headers that get past the face's authentication (most of the time), so the body is read."""
    face = endpoint.face
    bearer_route = endpoint.rule in BEARER_ROUTES
    if face == "admin":
        auth = st.sampled_from([credentials.admin_bearer] * 4 + [None])
    elif face == "zitadel" or bearer_route:
        auth = st.sampled_from([credentials.user_bearer] * 4 + [credentials.client_basic, None])
    elif face in ("ciam", "cloudbase", "oauth"):
        auth = st.sampled_from([credentials.client_basic] * 4 + [credentials.user_bearer, None])
    else:  # oneaccess identifies the application by headers, not Authorization
        auth = st.just(None)
    sdk = st.just({})
    if face == "oneaccess":  # Huawei OneAccess SDK: the caller's description on every call
        odd_caller = st.builds(
            lambda name, value: {**_SDK_HEADERS, "X-client-id": credentials.client_id, name: value},
            st.sampled_from([*_SDK_HEADERS, "X-client-id", "X-state-token", "X-session-token", "X-L"]),
            st.sampled_from(HOSTILE_HEADER_VALUES),
        )
        sdk = st.one_of(
            odd_caller,
            st.sampled_from(
                [
                    {
                        "X-operating-sys-version": "Android 14",
                        "X-device-fingerprint": "fuzz-device",
                        "X-agent": "fuzz",
                        "X-client-id": credentials.client_id,
                        "X-state-token": "fuzz-state",
                    },
                    {
                        "X-operating-sys-version": "iOS 17",
                        "X-device-fingerprint": "fuzz-device",
                        "X-agent": "fuzz",
                        "X-client-id": credentials.client_id,
                    },
                    {},
                ]
            ),
        )
    return st.builds(lambda a, extra: {**extra, **({"Authorization": a} if a else {})}, auth, sdk)


def requests_for(
    endpoint: Endpoint, credentials: Credentials, wrong_methods: tuple[str, ...]
) -> dict[str, st.SearchStrategy[FuzzRequest]]:
    """Requests to one endpoint, by input class; ``wrong_methods`` are those no rule of its
    path answers."""
    names = field_names(endpoint.face)
    headers = face_headers(endpoint, credentials)
    fuzzed_path = st.builds(endpoint.path, _path_values(endpoint, fuzzed=True))
    plain_path = st.builds(endpoint.path, _path_values(endpoint, fuzzed=False))
    reaching = REACHING.get(endpoint.rule, ())
    plain_body = st.sampled_from(
        [b"{}", _json_text({name: "" for name in names[:3]}), *(_json_text(b) for b in reaching)]
    )

    def make(input_class: str, path: str, hdrs: dict, body_and_type: tuple[bytes, str], query: str = "", method=None):
        body, content_type = body_and_type
        hdrs = dict(hdrs)
        if content_type:
            hdrs["Content-Type"] = content_type
        method = method or endpoint.method
        if method in ("GET", "DELETE") and input_class != "method":
            body = b""  # a GET carries its input in the query
        return FuzzRequest(input_class, method, path, query, hdrs, body or None)

    by_class = {
        "fields": st.builds(make, st.just("fields"), fuzzed_path, headers, _fields_body(names, reaching)),
        "surrogates": st.builds(make, st.just("surrogates"), plain_path, headers, _surrogates_body(names, reaching)),
        "nesting": st.builds(make, st.just("nesting"), plain_path, headers, _nesting_body(names)),
        "not_json": st.builds(make, st.just("not_json"), plain_path, headers, _not_json_body(names)),
        "authorization": st.builds(
            make,
            st.just("authorization"),
            plain_path,
            st.builds(lambda h, a: {**h, "Authorization": a}, headers, _authorization(credentials)),
            plain_body.map(lambda b: (b, JSON)),
        ),
        "query": st.builds(
            make,
            st.just("query"),
            plain_path,
            headers,
            plain_body.map(lambda b: (b, JSON)),
            _query_string(names, QUERY_NAMES.get(endpoint.face, ())),
        ),
        "method": st.builds(
            make,
            st.just("method"),
            plain_path,
            headers,
            plain_body.map(lambda b: (b, JSON)),
            st.sampled_from(["", "x=1"]),
            st.sampled_from(wrong_methods),
        ),
    }
    return by_class
