"""SMS delivery through Tencent Cloud SMS (API 3.0, ``SendSms``, version 2021-01-11).

Tencent Cloud only sends pre-approved templates, so the request carries the bare code and the
validity in minutes as template parameters (``TemplateParamSet``) rather than ``message.text``;
the template registered in the console must take exactly these two parameters, e.g.
"Your code is {1}, valid for {2} minutes."

Requests are signed with TC3-HMAC-SHA256, implemented here with hmac/hashlib so the adapter
needs no vendor SDK:

1. canonical request = method, URI ``/``, empty query, canonical headers
   ``content-type:...\\nhost:...\\n``, signed headers ``content-type;host``, hex SHA-256 of
   the body, joined by newlines;
2. string to sign = ``TC3-HMAC-SHA256``, timestamp, credential scope ``<UTC date>/sms/tc3_request``,
   hex SHA-256 of the canonical request, joined by newlines;
3. key = HMAC chain ``"TC3" + SecretKey`` -> date -> service -> ``"tc3_request"``, and the
   signature is the hex HMAC-SHA256 of the string to sign under that key;
4. ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<scope>, SignedHeaders=content-type;host,
   Signature=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from idp.otp.senders.base import DeliveryError, Message
from idp.otp.senders.http import ProviderHttp

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    payload: bytes,
    timestamp: int,
    service: str = SERVICE,
    content_type: str = CONTENT_TYPE,
) -> str:
    """The ``Authorization`` header value for a POST of ``payload`` to ``https://{host}/``."""
    # The date in the scope must be the UTC date of the timestamp, or requests signed just
    # after local midnight are rejected as AuthFailure.SignatureFailure.
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",  # no query string: everything travels in the JSON body
            f"content-type:{content_type}\nhost:{host}\n",
            SIGNED_HEADERS,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    credential_scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            credential_scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    # Deriving the key per date and service limits what a leaked derived key can sign.
    secret_date = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac_sha256(secret_date, service)
    secret_signing = _hmac_sha256(secret_service, "tc3_request")
    signature = hmac.new(secret_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


class TencentSmsSender:
    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        template_id: str,
        region: str,
        endpoint: str,
        timeout: float,
    ) -> None:
        if not (secret_id and secret_key and sdk_app_id and sign_name and template_id):
            raise ValueError(
                "TENCENT_SMS_SECRET_ID, TENCENT_SMS_SECRET_KEY, TENCENT_SMS_APP_ID, "
                "TENCENT_SMS_SIGN and TENCENT_SMS_TEMPLATE_ID are required"
            )
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.template_id = template_id
        self.region = region
        self.timeout = timeout
        # Accept "sms.tencentcloudapi.com" as well as "https://sms.tencentcloudapi.com".
        if "://" not in endpoint:
            endpoint = f"https://{endpoint}"
        parts = urlsplit(endpoint)
        if not parts.netloc:
            raise ValueError("TENCENT_SMS_ENDPOINT has no host")
        # The signed host must be byte-for-byte the Host header sent, port included when
        # the endpoint names one (a regional or local endpoint).
        self.host = parts.netloc
        self.url = f"{parts.scheme}://{parts.netloc}/"
        self.http = ProviderHttp("Tencent Cloud SMS", timeout)

    def build_request(self, message: Message, timestamp: int) -> tuple[dict[str, str], bytes]:
        """Headers and body for one SendSms call, signed for ``timestamp``."""
        body = {
            "PhoneNumberSet": [message.to],  # E.164 with "+": Tencent's documented format
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": self.template_id,
            "TemplateParamSet": [message.code, str(message.ttl_minutes)],
        }
        # Serialised once: the signature covers these exact bytes, so they are sent as-is
        # (``data=``), never re-encoded by requests' ``json=``.
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self.secret_id,
                secret_key=self.secret_key,
                host=self.host,
                payload=payload,
                timestamp=timestamp,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        return headers, payload

    def deliver(self, message: Message) -> None:
        # Tencent rejects a timestamp more than 5 minutes off its clock; the host clock
        # must be NTP-synchronised, as for TLS and token lifetimes anyway.
        headers, payload = self.build_request(message, int(time.time()))
        reply = self.http.post(self.url, data=payload, headers=headers)
        result = reply.body.get("Response") if isinstance(reply.body, dict) else None
        if not isinstance(result, dict):
            # API 3.0 answers HTTP 200 with a JSON envelope even for errors; anything else is
            # a gateway/proxy failure in front of it.
            raise DeliveryError(f"Tencent Cloud SMS answered HTTP {reply.status} without a Response")
        request_id = result.get("RequestId", "")
        error = result.get("Error")
        if isinstance(error, dict):
            # Request-level failure (AuthFailure.SignatureFailure, InvalidParameterValue...).
            # Code and RequestId are what Tencent support asks for; the free-text Message is
            # omitted because it can quote parameters, the OTP among them.
            raise DeliveryError(f"Tencent Cloud SMS error {error.get('Code', 'unknown')} (RequestId {request_id})")
        statuses = result.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise DeliveryError(f"Tencent Cloud SMS returned no send status (RequestId {request_id})")
        # Per-number failure (LimitExceeded.PhoneNumberDailyLimit, InvalidParameterValue.
        # IncorrectPhoneNumber...): the call succeeded but this number was not sent to.
        code = statuses[0].get("Code")
        if code != "Ok":
            raise DeliveryError(f"Tencent Cloud SMS did not send: {code} (RequestId {request_id})")

    def close(self) -> None:
        """Release pooled connections (tests, or a worker shutting down)."""
        self.http.close()
