"""Huawei OneAccess dialect (OneAccess "Mobile Number + SMS Verification Code Secondary
Authentication Interface" and the SDK calls around it): headers, request models, renderers,
errors.

The dialect translates names and shapes; it never decides. Every rule (password check, MFA
policy, state-token binding to client and device, code budget, send limits) lives in the
core (``LoginFlow``, ``MfaFlow``, ``OtpService``); this module turns the vendor's headers and
bodies into those calls and their results and errors into the vendor's bodies.

Wire details that document leaves open, chosen here and documented for integrators:

- Every call carries ``X-operating-sys-version``, ``X-device-fingerprint``, ``X-agent`` and
  ``X-client-id`` (blank counts as missing); ``X-L`` (``zh``/``en``, default ``en``) picks the
  language of ``error_msg``; ``X-device-ip`` is informational: the caller chooses it, so the IP
  the core sees (rate limits, brute-force counts, audit) is the socket's, or the one
  ``GATEHOUSE_TRUSTED_PROXIES`` trusted proxies name. The tenant SSO endpoints take the same
  headers.
- ``POST /api/v2/sdk/sms/send`` answers ``{"status": "SUCCESS"}``.
- Brute-force policy (the same as every way in, ``idp/guard/bruteforce.py``): after repeated
  failures ``/login`` answers ``SDK.LOGIN.1003`` until a solved captcha comes in the
  ``X-captcha-token`` header (a captcha is fetched and solved at ``POST /auth/v1/captcha/data``
  and ``/captcha/data/verify`` with HTTP Basic ``client_id:``); after more, the account is
  temporarily locked: ``SDK.LOGIN.1002``, like a disabled account. A user without a password
  answers ``SDK.LOGIN.1001`` like a wrong password (the login flow never tells this face).
- ``GET /api/v2/sdk/mobile-by-token`` answers ``{"mobile": "+86 152****7312"}`` (masked).
- ``POST /api/v2/tenant/sso/session-token/sso-ticket`` takes ``{"session_token"}`` and answers
  ``{"sso_ticket", "expire"}``; ``POST /api/v2/tenant/sso/sso-ticket/verify`` takes
  ``{"sso_ticket"}`` (same ``X-client-id``) and answers
  ``{"code": "200", "message": "success", "data": {"user": {"id", "userName", "name", "mobile", "email"}}}``.
- ``GET /api/v2/sdk/logout`` takes the session token in ``X-session-token`` (or the
  ``session_token`` query parameter) and answers ``{"status": "SUCCESS"}``, also for a
  session that already ended (logout is idempotent and tells nothing).

Error codes (``error_code``; 400 unless noted; "denied" rows also carry
``"status": "ACCESS_DENIED"``, as the vendor's failed-MFA answer does; fixed for integrators):

| error_code        | when                                                           |
| ----------------- | -------------------------------------------------------------- |
| SDK.COMMON.1001   | a required header or body parameter is missing or blank        |
| SDK.COMMON.1002   | a parameter is malformed (bad JSON, unknown ``type``, bad number) |
| SDK.COMMON.1003   | unknown ``X-client-id``                                        |
| SDK.COMMON.1004   | the login method or SMS is not enabled for the application     |
| SDK.COMMON.1005   | the request conflicts with existing data                       |
| SDK.COMMON.1429   | 429: too many requests (send limits, quota); ``Retry-After``   |
| SDK.COMMON.1503   | 503: store or SMS delivery unavailable                         |
| SDK.LOGIN.1001    | denied: wrong user name or password                            |
| SDK.LOGIN.1002    | denied: the account is locked (too many failures, temporary) or disabled |
| SDK.LOGIN.1003    | denied: too many failures: send a solved captcha in ``X-captcha-token`` |
| SDK.MFA.1001      | denied: unknown, used, expired or foreign ``X-state-token``    |
| SDK.MFA.1002      | denied: wrong verification code                                |
| SDK.MFA.1003      | denied: code expired or too many wrong codes: request a new one |
| SDK.MFA.1004      | denied: ``mobile`` is not the account's bound number           |
| SDK.MFA.1005      | denied: no usable second factor (enrol one on the account page)|
| SDK.SMS.1001      | the number is already registered (``REGISTER_SMS``)            |
| SDK.SESSION.1001  | unknown or ended ``session_token``                             |
| SDK.SSO.1001      | unknown, used or expired ``sso_ticket``                        |

The tickets themselves live in ``idp/sessions/tickets.py`` (120 s, single use, hashed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import ErrorDetails

from idp.contacts import mask_target
from idp.context import Headers, RequestContext
from idp.dialects.common import parse_json
from idp.errors import ErrorResponse, IdpError, Kind, error, invalid
from idp.flows.results import Completed
from idp.models import Application, User
from idp.oauth.tokens import Principal
from idp.sessions import SsoSession

REQUIRED_HEADERS = ("X-operating-sys-version", "X-device-fingerprint", "X-agent", "X-client-id")
STATE_TOKEN_HEADER = "X-state-token"
CAPTCHA_TOKEN_HEADER = "X-captcha-token"
SESSION_TOKEN_HEADER = "X-session-token"

# OneAccess names of Gatehouse's factor types (``mfa_types``). Recovery codes have no
# OneAccess name or endpoint: they are offered on the hosted pages only.
MFA_TYPES = {"otp_sms": "SMS", "otp_email": "EMAIL", "totp": "OTP"}

# ``sms/send`` ``type`` -> OTP usage (MFA_AUTH_SMS goes to the MFA flow instead)
SMS_USAGES = {
    "LOGIN_SMS": "login",
    "REGISTER_SMS": "signup",
    "FORGET_PWD_SMS": "reset_password",
    "BIND_MOBILE_SMS": "update_userinfo",
}
MFA_AUTH_SMS = "MFA_AUTH_SMS"

# error_code -> (English, Chinese); "{name}" is the parameter's name. The Chinese texts use
# full-width punctuation on purpose (RUF001 is silenced line by line for it).
MESSAGES: dict[str, tuple[str, str]] = {
    "SDK.COMMON.1001": ("Parameter {name} cannot be left blank.", "参数{name}不能为空。"),
    "SDK.COMMON.1002": ("Parameter {name} is invalid.", "参数{name}不合法。"),
    "SDK.COMMON.1003": ("The application does not exist.", "应用不存在。"),
    "SDK.COMMON.1004": ("This login method is not enabled for the application.", "应用未开启该登录方式。"),
    "SDK.COMMON.1005": ("The request conflicts with existing data.", "请求与已有数据冲突。"),
    "SDK.COMMON.1429": ("Too many requests. Please try again later.", "请求过于频繁，请稍后再试。"),  # noqa: RUF001
    "SDK.COMMON.1404": ("The requested API does not exist.", "请求的接口不存在。"),
    "SDK.COMMON.1405": ("The API does not support this request method.", "接口不支持该请求方法。"),
    "SDK.COMMON.1413": ("The request body is too large.", "请求体过大。"),
    "SDK.COMMON.1500": ("Internal error. Please try again later.", "内部错误，请稍后再试。"),  # noqa: RUF001
    "SDK.COMMON.1503": ("Service temporarily unavailable. Please try again later.", "服务暂不可用，请稍后再试。"),  # noqa: RUF001
    "SDK.LOGIN.1001": ("Incorrect user name or password.", "用户名或密码错误。"),
    "SDK.LOGIN.1002": ("The account is locked or disabled.", "账号已被锁定或禁用。"),
    "SDK.LOGIN.1003": ("Too many failed attempts. Please complete the captcha.", "失败次数过多，请完成图形验证码。"),  # noqa: RUF001
    "SDK.MFA.1001": (
        "The state_token is invalid or has expired. Please log in again.",
        "state_token无效或已过期，请重新登录。",  # noqa: RUF001
    ),
    "SDK.MFA.1002": ("Incorrect verification code.", "验证码错误。"),
    "SDK.MFA.1003": ("The verification code has expired. Please request a new one.", "验证码已失效，请重新获取。"),  # noqa: RUF001
    "SDK.MFA.1004": ("The mobile number is not the one bound to the account.", "手机号与账号绑定的手机号不一致。"),
    "SDK.MFA.1005": ("No second factor is available for this account.", "账号没有可用的二次认证方式。"),
    "SDK.SMS.1001": ("The mobile number is already registered.", "手机号已被注册。"),
    "SDK.SESSION.1001": ("The session_token is invalid or has expired.", "session_token无效或已过期。"),
    "SDK.SSO.1001": ("The sso_ticket is invalid or has expired.", "sso_ticket无效或已过期。"),
}

# domain code -> (HTTP status, error_code, ACCESS_DENIED?)
ERRORS: dict[str, tuple[int, str, bool]] = {
    "request.missing": (400, "SDK.COMMON.1001", False),
    "request.invalid": (400, "SDK.COMMON.1002", False),
    "contact.malformed_phone": (400, "SDK.COMMON.1002", False),
    "contact.malformed_email": (400, "SDK.COMMON.1002", False),
    "contact.blocked_email": (400, "SDK.COMMON.1002", False),
    "client.unknown": (400, "SDK.COMMON.1003", False),
    "login.method_disabled": (400, "SDK.COMMON.1004", False),
    "otp.auth_source_required": (400, "SDK.COMMON.1004", False),
    "otp.invalid_auth_source": (400, "SDK.COMMON.1004", False),
    "login.invalid_credentials": (400, "SDK.LOGIN.1001", True),
    "account.abnormal_status": (400, "SDK.LOGIN.1002", True),
    "account.locked": (400, "SDK.LOGIN.1002", True),
    "login.captcha_required": (400, "SDK.LOGIN.1003", True),
    "mfa.invalid_state_token": (400, "SDK.MFA.1001", True),
    "otp.wrong_code": (400, "SDK.MFA.1002", True),
    "totp.wrong_code": (400, "SDK.MFA.1002", True),
    "recovery.wrong_code": (400, "SDK.MFA.1002", True),
    "otp.unknown_token": (400, "SDK.MFA.1003", True),
    "otp.expired_code": (400, "SDK.MFA.1003", True),
    "otp.too_many_failures": (400, "SDK.MFA.1003", True),
    "mfa.target_mismatch": (400, "SDK.MFA.1004", True),
    "mfa.no_factor": (400, "SDK.MFA.1005", True),
    "account.phone_taken": (400, "SDK.SMS.1001", False),
    "sso.invalid_session_token": (400, "SDK.SESSION.1001", False),
    "sso.invalid_ticket": (400, "SDK.SSO.1001", False),
    # the HTTP layer's own refusals, numbered as SDK.COMMON.1429 and 1503 are: after the status
    "request.not_found": (404, "SDK.COMMON.1404", False),
    "request.method_not_allowed": (405, "SDK.COMMON.1405", False),
    "request.too_large": (413, "SDK.COMMON.1413", False),
    "request.failed": (500, "SDK.COMMON.1500", False),
}

# when a code has no entry, its kind decides
BY_KIND: dict[Kind, tuple[int, str, bool]] = {
    Kind.INVALID_INPUT: (400, "SDK.COMMON.1002", False),
    Kind.UNAUTHENTICATED: (400, "SDK.LOGIN.1001", True),
    Kind.FORBIDDEN: (400, "SDK.COMMON.1004", False),
    Kind.NOT_FOUND: (400, "SDK.MFA.1001", True),
    Kind.WRONG_CODE: (400, "SDK.MFA.1002", True),
    Kind.CONFLICT: (400, "SDK.COMMON.1005", False),
    Kind.RATE_LIMITED: (429, "SDK.COMMON.1429", False),
    Kind.QUOTA_EXHAUSTED: (429, "SDK.COMMON.1429", False),
    Kind.FAILED_PRECONDITION: (400, "SDK.MFA.1005", True),
    Kind.CAPTCHA_REQUIRED: (400, "SDK.LOGIN.1003", True),
    Kind.USER_STATUS: (400, "SDK.LOGIN.1002", True),
    Kind.DELIVERY_FAILED: (503, "SDK.COMMON.1503", False),
    Kind.UNAVAILABLE: (503, "SDK.COMMON.1503", False),
}


def language(header: str | None) -> str:
    """``X-L``: ``zh`` (also ``zh-CN``, ``zh_CN``) or ``en`` (anything else)."""
    return "zh" if (header or "").strip().lower().startswith("zh") else "en"


def render_error(exc: IdpError, lang: str = "en") -> ErrorResponse:
    """(status, body, headers) in the OneAccess shape for any domain error."""
    status, error_code, denied = ERRORS.get(exc.code) or BY_KIND[exc.kind]
    english, chinese = MESSAGES[error_code]
    message = (chinese if lang == "zh" else english).format(name=exc.details.get("name", "request"))
    body: dict[str, Any] = {"status": "ACCESS_DENIED"} if denied else {}
    body.update(error_code=error_code, error_msg=message)
    headers: dict[str, str] = {}
    if exc.retry_after is not None and status == 429:
        headers["Retry-After"] = str(exc.retry_after)
    return status, body, headers


# -- headers ----------------------------------------------------------------------------
def missing(name: str) -> IdpError:
    return invalid("request.missing", f"{name} is required", name=name)


@dataclass(frozen=True)
class SdkHeaders:
    """The caller description every OneAccess call carries."""

    os_version: str
    device: str
    agent: str
    client_id: str
    lang: str
    device_ip: str | None = None
    captcha_token: str | None = None  # ``X-captcha-token``: a solved captcha (brute-force policy)

    def context(self, ip: str, now: datetime) -> RequestContext:
        """The core's view of the call: ``ip`` is the socket's, never ``X-device-ip``."""
        return RequestContext(
            ip=ip, user_agent=self.agent[:500], locale=self.lang, client_id=self.client_id, device=self.device, now=now
        )


def parse_headers(headers: Headers) -> SdkHeaders:
    """Raises request.missing (SDK.COMMON.1001) naming the first blank required header."""
    values = {name: (headers.get(name) or "").strip() for name in REQUIRED_HEADERS}
    for name in REQUIRED_HEADERS:
        if not values[name] or len(values[name]) > 1000:
            raise missing(name)
    return SdkHeaders(
        os_version=values["X-operating-sys-version"],
        device=values["X-device-fingerprint"],
        agent=values["X-agent"],
        client_id=values["X-client-id"],
        lang=language(headers.get("X-L")),
        device_ip=(headers.get("X-device-ip") or "").strip() or None,
        captcha_token=(headers.get(CAPTCHA_TOKEN_HEADER) or "").strip()[:256] or None,
    )


def required_header(headers: Headers, name: str) -> str:
    value = (headers.get(name) or "").strip()
    if not value:
        raise missing(name)
    return value


def unknown_client() -> IdpError:
    return error("client.unknown", "unknown X-client-id")


def require_client(client: Application | None) -> Application:
    if client is None:
        raise unknown_client()
    return client


# -- bodies -----------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


# lengths bound the work a request can cause; the rules themselves are the core's
class LoginRequest(_Body):
    user_name: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class SmsSendRequest(_Body):
    mobile: str = Field(max_length=32)
    type: Literal["LOGIN_SMS", "REGISTER_SMS", "MFA_AUTH_SMS", "FORGET_PWD_SMS", "BIND_MOBILE_SMS"]


class MfaSmsRequest(_Body):
    """OneAccess "Mobile Number + SMS Verification Code Secondary Authentication Interface":
    ``mobile`` (the number the code went to) and ``verify_code``."""

    mobile: str = Field(max_length=32)
    verify_code: str = Field(max_length=64)


class SsoTicketRequest(_Body):
    session_token: str = Field(max_length=128)


class SsoTicketVerifyRequest(_Body):
    sso_ticket: str = Field(max_length=128)


B = TypeVar("B", bound=_Body)


def parse(model: type[B], payload: object) -> B:
    """A request model from a JSON body. A missing or blank field is SDK.COMMON.1001 naming it;
    a wrong value SDK.COMMON.1002."""
    data = payload if isinstance(payload, dict) else {}
    for name in model.model_fields:  # blank counts as missing, as for the headers
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise missing(name)
    return parse_json(model, data, wording)


def wording(model: type[BaseModel], field: str, problem: ErrorDetails) -> str:
    """The message behind SDK.COMMON.1002 (the body shows ``MESSAGES``, naming the field)."""
    return f"invalid {field}"


# -- results ----------------------------------------------------------------------------
def render_success(session: SsoSession, id_token: str, expire: int) -> dict[str, Any]:
    """The success body of OneAccess "Mobile Number + SMS Verification Code Secondary
    Authentication Interface"."""
    return {"status": "SUCCESS", "expire": expire, "session_token": session.id, "id_token": id_token}


def render_mfa_required(state_token: str, factors: list[str], expires_in: int) -> dict[str, Any]:
    types = [MFA_TYPES[f] for f in factors if f in MFA_TYPES]
    if not types:  # policy requires MFA and nothing is usable: enrolment happens on the pages
        raise error("mfa.no_factor")
    return {"status": "MFA_REQUIRED", "state_token": state_token, "expire": expires_in, "mfa_types": types}


def principal(done: Completed) -> Principal:
    return Principal(user=done.user, auth_time=done.auth_time, amr=list(done.amr))


def render_mobile(user: User | None) -> dict[str, Any]:
    if user is None or not user.phone_number:
        raise error("mfa.no_factor", "no phone number")
    return {"mobile": mask_target("sms", user.phone_number)}


def render_ticket(ticket: str, expire: int) -> dict[str, Any]:
    return {"sso_ticket": ticket, "expire": expire}


def render_user(user: User) -> dict[str, Any]:
    info = {
        "id": user.sub,
        "userName": user.username,
        "name": user.name,
        "mobile": user.phone_number,
        "email": user.email,
    }
    return {"code": "200", "message": "success", "data": {"user": info}}
