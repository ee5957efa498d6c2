"""Delivery adapters. ``build_senders`` picks one per channel from the settings."""

from __future__ import annotations

from idp.otp.senders.base import DeliveryError, Message, Sender
from idp.settings import Settings

__all__ = ["DeliveryError", "Message", "Sender", "build_senders"]


def build_senders(settings: Settings) -> dict[str, Sender]:
    """Return ``{"sms": sender, "email": sender}`` for the configured providers."""
    from idp.otp.senders.outbox import OutboxSender

    outbox = OutboxSender(settings.outbox_path)
    senders: dict[str, Sender] = {"sms": outbox, "email": outbox}
    if settings.email_sender == "smtp":
        from idp.otp.senders.smtp import SmtpSender

        senders["email"] = SmtpSender.from_url(settings.smtp_url, settings.smtp_from, settings.delivery_timeout)
    sms = settings.sms_sender
    if sms == "webhook":
        from idp.otp.senders.webhook import WebhookSmsSender

        senders["sms"] = WebhookSmsSender(settings.sms_webhook_url, settings.delivery_timeout)
    elif sms == "twilio":
        from idp.otp.senders.twilio import TwilioSmsSender

        senders["sms"] = TwilioSmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from,
            base_url=settings.twilio_base_url,
            timeout=settings.delivery_timeout,
        )
    elif sms == "tencent":
        from idp.otp.senders.tencent import TencentSmsSender

        senders["sms"] = TencentSmsSender(
            secret_id=settings.tencent_sms_secret_id,
            secret_key=settings.tencent_sms_secret_key,
            sdk_app_id=settings.tencent_sms_app_id,
            sign_name=settings.tencent_sms_sign,
            template_id=settings.tencent_sms_template_id,
            region=settings.tencent_sms_region,
            endpoint=settings.tencent_sms_endpoint,
            timeout=settings.delivery_timeout,
        )
    elif sms != "outbox":
        raise ValueError(f"unknown GATEHOUSE_SMS_SENDER {sms!r}")
    return senders
