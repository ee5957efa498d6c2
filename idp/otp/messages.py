"""Render code messages from templates/messages/ (operators override them like any template)."""

from __future__ import annotations

from urllib.parse import urlparse

from jinja2 import Environment, FileSystemLoader, select_autoescape

from idp.otp.senders.base import Message
from idp.settings import ROOT

_env = Environment(
    loader=FileSystemLoader(str(ROOT / "templates" / "messages")),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    keep_trailing_newline=False,
)


def render_code_message(
    channel: str, to: str, usage: str, code: str, ttl_seconds: int, issuer: str, product: str = "Gatehouse"
) -> Message:
    minutes = max(1, (ttl_seconds + 59) // 60)
    values = {
        "code": code,
        "usage": usage,
        "minutes": minutes,
        "product": product,
        # WebOTP: the last line "@host #code" binds the code to our origin's host (WICG,
        # "Origin-bound one-time codes delivered via SMS"), so the browser offers it only there
        "host": urlparse(issuer).hostname or "localhost",
    }
    if channel == "sms":
        text = _env.get_template("otp/sms.txt").render(values).strip()
        return Message(channel, to, usage, code, text, ttl_minutes=minutes)
    return Message(
        channel,
        to,
        usage,
        code,
        _env.get_template("otp/body.txt").render(values).strip(),
        subject=_env.get_template("otp/subject.txt").render(values).strip(),
        html=_env.get_template("otp/body.html").render(values),
        ttl_minutes=minutes,
    )
