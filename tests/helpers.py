"""Request builders shared by the API tests."""

from __future__ import annotations

from tests.conftest import basic

SMS_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/sms"
EMAIL_GRANT = "http://tencentciam.com/oauth2/grant-type/otp/email"
TENANT = basic("TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET")
CLIENT_4 = basic("CLIENT_4_ID", "CLIENT_4_SECRET")


def send_sms(client, phone="13612345678", headers=None, **body):
    payload = {"usage": "login", "phone_number": phone, "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"}
    payload.update(body)
    return client.post("/otp/send", json=payload, headers=headers or TENANT)


def sms_login(client, otp_token, otp, phone="13612345678", **extra):
    body = {"grant_type": SMS_GRANT, "client_id": "TENANT_CLIENT_ID", "client_secret": "TENANT_CLIENT_SECRET",
            "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID", "phone_number": phone,
            "otp_token": otp_token, "otp": otp}
    body.update(extra)
    return client.post("/oauth2/token", json=body)


def create_user(services, **fields):
    from idp.context import RequestContext

    return services.users.create(fields, RequestContext(ip="127.0.0.1"))
