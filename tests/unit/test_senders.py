"""Delivery adapters against real local servers playing the providers.

Nothing in the network stack is mocked: SMTP goes to a real aiosmtpd server (plain, implicit
TLS and STARTTLS with a throw-away certificate), and the HTTP providers are a real
ThreadingHTTPServer on 127.0.0.1 that records what it received and answers as the webhook
gateway, Twilio or Tencent Cloud would. The Tencent stand-in checks the TC3-HMAC-SHA256
signature with its own implementation, as the real API does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.otp.senders.base import DeliveryError, Message
from idp.otp.senders.smtp import SmtpSender
from idp.otp.senders.tencent import TencentSmsSender
from idp.otp.senders.twilio import TwilioSmsSender
from idp.otp.senders.webhook import WebhookSmsSender

CODE = "482913"
# A provider that answers gets a generous timeout, so a busy test machine never trips it; the
# tests of a stalled or silent peer use the short one, and finish well inside their 2 s budget.
TIMEOUT = 5.0
SHORT_TIMEOUT = 0.3


def sms_message(**changes: Any) -> Message:
    values: dict[str, Any] = {
        "channel": "sms",
        "to": "+8613800138000",
        "usage": "login",
        "code": CODE,
        "text": f"Your Gatehouse code is {CODE}. It expires in 5 minutes.",
        "ttl_minutes": 5,
    }
    values.update(changes)
    return Message(**values)


def email_message(**changes: Any) -> Message:
    values: dict[str, Any] = {
        "channel": "email",
        "to": "alice@example.test",
        "usage": "signup",
        "code": CODE,
        "text": f"Your Gatehouse code is {CODE}.",
        "subject": "Your Gatehouse sign-up code",
        "html": f"<p>Your Gatehouse code is <b>{CODE}</b>.</p>",
        "ttl_minutes": 10,
    }
    values.update(changes)
    return Message(**values)


def assert_leaks_nothing(error: DeliveryError, message: Message) -> None:
    text = str(error)
    assert CODE not in text
    assert message.text not in text
    assert message.to not in text


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port() -> int:
    # aiosmtpd's Controller cannot bind port 0 (it connects to its own port to warm up).
    return closed_port()


# --------------------------------------------------------------------------------------- SMTP


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    email: EmailMessage
    tls: bool


@dataclass
class Inbox:
    """aiosmtpd handler: keeps every accepted message; refuses the addresses in ``reject``."""

    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        email = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(email, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), email, session.ssl is not None))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=True)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Start a real SMTP server on 127.0.0.1: ``inbox, port = smtp_server(**controller_kwargs)``."""
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> tuple[Inbox, int]:
        inbox = Inbox()
        port = free_port()
        controller = Controller(
            inbox,
            hostname="127.0.0.1",
            port=port,
            authenticator=inbox.authenticate,
            **kwargs,
        )
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    certfile: Path
    keyfile: Path
    pem: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def client_context(self) -> ssl.SSLContext:
        # Trusts exactly this certificate, with the usual chain and host-name checks.
        return ssl.create_default_context(cadata=self.pem)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (EC, so it is generated in milliseconds)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse test relay")])
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(directory / "cert.pem", directory / "key.pem", pem.decode())


def test_smtp_delivers_text_and_html_and_logs_in(smtp_server):
    inbox, port = smtp_server(auth_require_tls=False)
    # "p@ss word" percent-encoded, as it must be inside a URL
    sender = SmtpSender.from_url(
        f"smtp://mailer:p%40ss%20word@127.0.0.1:{port}", "Gatehouse <no-reply@gatehouse.test>", 5
    )
    message = email_message()

    sender.deliver(message)

    assert inbox.logins == [("PLAIN", b"mailer", b"p@ss word")]
    [received] = inbox.messages
    assert received.mail_from == "no-reply@gatehouse.test"
    assert received.rcpt_tos == ["alice@example.test"]
    assert not received.tls
    email = received.email
    assert email["To"] == "alice@example.test"
    assert email["From"] == "Gatehouse <no-reply@gatehouse.test>"
    assert email["Subject"] == "Your Gatehouse sign-up code"
    assert email["Message-ID"].endswith("@gatehouse.test>")
    assert email["Date"]
    assert email.get_content_type() == "multipart/alternative"
    plain = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == f"Your Gatehouse code is {CODE}."
    assert f"<b>{CODE}</b>" in html.get_content()


def test_smtp_text_only_without_credentials_does_not_authenticate(smtp_server):
    inbox, port = smtp_server(auth_require_tls=False)
    sender = SmtpSender.from_url(f"smtp://127.0.0.1:{port}", "no-reply@gatehouse.test", 5)

    sender.deliver(email_message(html=""))

    assert inbox.logins == []
    [received] = inbox.messages
    assert received.email.get_content_type() == "text/plain"
    assert CODE in received.email.get_content()


def test_smtps_uses_implicit_tls(smtp_server, certificate):
    # aiosmtpd only counts STARTTLS as TLS for its AUTH-needs-TLS rule, hence the flag.
    inbox, port = smtp_server(ssl_context=certificate.server_context(), auth_require_tls=False)
    sender = SmtpSender.from_url(
        f"smtps://mailer:secret@127.0.0.1:{port}",
        "no-reply@gatehouse.test",
        5,
        ssl_context=certificate.client_context(),
    )

    sender.deliver(email_message())

    # The server speaks nothing but TLS on this port, so the delivery itself proves it.
    [received] = inbox.messages
    assert received.rcpt_tos == ["alice@example.test"]
    assert inbox.logins == [("PLAIN", b"mailer", b"secret")]


def test_starttls_upgrades_before_login(smtp_server, certificate):
    # The server refuses MAIL and AUTH until STARTTLS: delivery succeeding proves the upgrade.
    inbox, port = smtp_server(tls_context=certificate.server_context(), require_starttls=True)
    sender = SmtpSender.from_url(
        f"smtp+starttls://mailer:secret@127.0.0.1:{port}",
        "no-reply@gatehouse.test",
        5,
        ssl_context=certificate.client_context(),
    )

    sender.deliver(email_message())

    [received] = inbox.messages
    assert received.tls
    assert inbox.logins == [("PLAIN", b"mailer", b"secret")]


def test_smtps_refuses_an_untrusted_certificate(smtp_server, certificate):
    inbox, port = smtp_server(ssl_context=certificate.server_context())
    # No ssl_context: the system trust store, which does not know the test certificate.
    sender = SmtpSender.from_url(f"smtps://127.0.0.1:{port}", "no-reply@gatehouse.test", 5)
    message = email_message()

    with pytest.raises(DeliveryError) as caught:
        sender.deliver(message)

    assert inbox.messages == []
    assert_leaks_nothing(caught.value, message)


def test_smtp_closed_port_fails_fast():
    sender = SmtpSender.from_url(f"smtp://127.0.0.1:{closed_port()}", "no-reply@x.test", SHORT_TIMEOUT)
    message = email_message()

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        sender.deliver(message)

    assert time.monotonic() - started < 2
    assert_leaks_nothing(caught.value, message)


@pytest.mark.timeout(5)  # without the socket timeout this would hang: fail fast instead
def test_smtp_silent_server_times_out():
    # The kernel completes the TCP handshake for a listening socket nobody accepts from, so
    # the client connects and then waits for a 220 greeting that never comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        sender = SmtpSender.from_url(f"smtp://127.0.0.1:{port}", "no-reply@x.test", SHORT_TIMEOUT)
        message = email_message()

        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            sender.deliver(message)

    assert SHORT_TIMEOUT * 0.9 < time.monotonic() - started < 2
    assert_leaks_nothing(caught.value, message)


@dataclass
class TricklingRelay(Inbox):
    """Answers every envelope command 0.4 s late: each reply inside a 0.5 s socket timeout,
    the three of them (MAIL, RCPT, DATA) far beyond it."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        await asyncio.sleep(0.4)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        await asyncio.sleep(0.4)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(0.4)
        return await super().handle_DATA(server, session, envelope)


def test_smtp_timeout_bounds_the_whole_delivery_not_each_reply():
    """A relay slow on every reply, each within the timeout: the delivery as a whole still ends
    within the timeout (GATEHOUSE_DELIVERY_TIMEOUT_MS is the time a send may wait)."""
    timeout = 0.5
    relay, port = TricklingRelay(), free_port()  # 1.2 s in all: delivered when each reply has the timeout
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = SmtpSender.from_url(f"smtp://127.0.0.1:{port}", "no-reply@x.test", timeout)
        message = email_message()
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            sender.deliver(message)
        elapsed = time.monotonic() - started
    finally:
        controller.stop()
    assert elapsed < timeout + 0.4
    assert relay.messages == []
    assert_leaks_nothing(caught.value, message)


def test_smtp_names_this_host_once_not_on_every_delivery(smtp_server, monkeypatch):
    """The EHLO name is looked up when the sender is built: a reverse DNS lookup per delivery
    would run outside every socket timeout, so a slow resolver could hold a send past its budget."""
    inbox, port = smtp_server()
    sender = SmtpSender.from_url(f"smtp://127.0.0.1:{port}", "no-reply@gatehouse.test", TIMEOUT)

    class ResolverDown:
        """smtplib's view of the socket module, with the reverse lookup gone (the relay in this
        process keeps the real one)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(socket, name)

        def getfqdn(self, *args: object) -> str:
            raise AssertionError("the host name was resolved during a delivery")

    monkeypatch.setattr(smtplib, "socket", ResolverDown())
    sender.deliver(email_message())

    assert [m.rcpt_tos for m in inbox.messages] == [["alice@example.test"]]


def test_smtp_refused_recipient_is_a_delivery_error(smtp_server):
    inbox, port = smtp_server()
    inbox.reject.add("alice@example.test")
    sender = SmtpSender.from_url(f"smtp://127.0.0.1:{port}", "no-reply@gatehouse.test", 5)
    message = email_message()

    with pytest.raises(DeliveryError) as caught:
        sender.deliver(message)

    assert inbox.messages == []
    assert_leaks_nothing(caught.value, message)
    assert "mailbox unavailable" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "security", "port", "username", "password"),
    [
        ("smtp://relay.test", "plain", 25, None, None),
        ("smtps://u:p@relay.test", "tls", 465, "u", "p"),
        ("smtp+starttls://u%40corp:p%3Aw@relay.test", "starttls", 587, "u@corp", "p:w"),
        ("SMTP+STARTTLS://relay.test:2525", "starttls", 2525, None, None),
    ],
)
def test_smtp_url_parsing(url, security, port, username, password):
    sender = SmtpSender.from_url(url, "no-reply@x.test", 2.5)

    assert (sender.host, sender.port, sender.security) == ("relay.test", port, security)
    assert (sender.username, sender.password) == (username, password)
    assert sender.timeout == 2.5


@pytest.mark.parametrize("url", ["", "http://u:hunter2@relay.test", "smtp://u:hunter2@", "smtp://relay.test:99999"])
def test_smtp_bad_url_is_rejected_without_echoing_it(url):
    with pytest.raises(ValueError, match="SMTP_URL") as caught:
        SmtpSender.from_url(url, "no-reply@x.test", 5)
    assert "hunter2" not in str(caught.value)


# ---------------------------------------------------------------------- HTTP provider stand-in


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, Any]  # (status, JSON-able body or raw str)


@dataclass
class FakeProvider:
    url: str
    requests: list[Request] = field(default_factory=list)
    responder: Callable[[Request], Reply] = lambda request: (200, {})
    delay: float = 0.0
    # set at teardown, so a handler sleeping for a slow-provider test ends at once
    release: threading.Event = field(default_factory=threading.Event)

    def reply(self, status: int, body: Any) -> None:
        self.responder = lambda request: (status, body)


class ProviderHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so keep-alive works as with a real provider; every reply sets Content-Length.
    # The socket timeout ends a kept-alive connection a client forgot to close.
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: ProviderServer

    def do_POST(self) -> None:
        provider = self.server.provider
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = Request(
            self.command,
            self.path,
            {name.lower(): value for name, value in self.headers.items()},
            body,
            self.client_address[1],
        )
        provider.requests.append(request)
        if provider.delay:
            provider.release.wait(provider.delay)
        status, payload = provider.responder(request)
        raw = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


class ProviderServer(ThreadingHTTPServer):
    # Non-daemon handler threads are joined by server_close(): none outlives its test.
    daemon_threads = False
    provider: FakeProvider


class QuickProviderHandler(ProviderHandler):
    """For an app under test: it keeps its connection alive, so the server's thread ends soon after."""

    timeout = 0.5


@contextlib.contextmanager
def running_provider(monkeypatch, handler: type[ProviderHandler] = ProviderHandler) -> Iterator[FakeProvider]:
    """The stand-in provider on a free loopback port, stopped (and any stalled answer released)
    at the end."""
    # A proxy from the environment must not intercept requests to the local stand-in.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ProviderServer(("127.0.0.1", 0), handler)
    fake = FakeProvider(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.provider = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def provider(monkeypatch) -> Iterator[FakeProvider]:
    with running_provider(monkeypatch) as fake:
        yield fake


# ------------------------------------------------------------------------------------ webhook


@pytest.fixture
def webhook(provider) -> Iterator[WebhookSmsSender]:
    sender = WebhookSmsSender(f"{provider.url}/hooks/sms?token=t0k", TIMEOUT)
    yield sender
    sender.close()


def test_webhook_posts_json(webhook, provider):
    provider.reply(202, {"accepted": True})
    message = sms_message()

    webhook.deliver(message)

    [request] = provider.requests
    assert (request.method, request.path) == ("POST", "/hooks/sms?token=t0k")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"to": "+8613800138000", "text": message.text, "usage": "login"}


def test_webhook_keeps_the_connection_alive(webhook, provider):
    webhook.deliver(sms_message())
    webhook.deliver(sms_message(usage="signup"))

    first, second = provider.requests
    assert second.json()["usage"] == "signup"
    assert first.client_port == second.client_port  # one TCP connection, reused


@pytest.mark.parametrize("status", [400, 302])
def test_webhook_non_2xx_is_a_delivery_error(webhook, provider, status):
    provider.reply(status, {"error": f"rejected {CODE}"})
    message = sms_message()

    with pytest.raises(DeliveryError, match=str(status)) as caught:
        webhook.deliver(message)

    assert len(provider.requests) == 1  # a redirect is not followed
    assert_leaks_nothing(caught.value, message)


# ------------------------------------------------------------------------------------- Twilio

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token"


@pytest.fixture
def twilio(provider) -> Iterator[TwilioSmsSender]:
    sender = TwilioSmsSender(
        account_sid=TWILIO_SID,
        auth_token=TWILIO_TOKEN,
        from_number="+15005550006",
        base_url=provider.url + "/",
        timeout=TIMEOUT,
    )
    yield sender
    sender.close()


def twilio_message_resource(request: Request) -> Reply:
    form = parse_qs(request.body.decode())
    return 201, {
        "sid": "SM" + "0" * 32,
        "account_sid": TWILIO_SID,
        "to": form["To"][0],
        "from": form["From"][0],
        "body": form["Body"][0],
        "status": "queued",
    }


@pytest.mark.parametrize("status", [201, 200])
def test_twilio_posts_the_form_with_basic_auth(twilio, provider, status):
    provider.responder = lambda request: (status, twilio_message_resource(request)[1])
    message = sms_message(to="+15551234567")

    twilio.deliver(message)

    [request] = provider.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{TWILIO_SID}:{TWILIO_TOKEN}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode(), strict_parsing=True) == {
        "To": ["+15551234567"],
        "From": ["+15005550006"],
        "Body": [message.text],
    }


def test_twilio_error_carries_the_twilio_code(twilio, provider):
    provider.reply(
        400,
        {
            "code": 21211,
            "message": "The 'To' number +8613800138000 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    message = sms_message()

    with pytest.raises(DeliveryError, match="21211") as caught:
        twilio.deliver(message)

    assert "400" in str(caught.value)
    assert "not a valid phone number" not in str(caught.value)
    assert_leaks_nothing(caught.value, message)


# ------------------------------------------------------------------------------------ Tencent

TC_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"
TC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLEKEY"
TC_REGION = "ap-guangzhou"
AUTH_PATTERN = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/sms/tc3_request, "
    r"SignedHeaders=content-type;host, Signature=(?P<signature>[0-9a-f]{64})"
)


def expected_tc3_signature(request: Request, secret_key: str) -> str:
    """TC3-HMAC-SHA256 recomputed from the received request, written independently of idp's
    implementation, following Tencent Cloud's "Signature v3" document step by step."""
    timestamp = int(request.headers["x-tc-timestamp"])
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    canonical_headers = (
        f"content-type:{request.headers['content-type'].lower()}\nhost:{request.headers['host'].lower()}\n"
    )
    canonical_request = (
        f"{request.method}\n{request.path.split('?')[0]}\n\n{canonical_headers}\n"
        f"content-type;host\n{hashlib.sha256(request.body).hexdigest()}"
    )
    string_to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n"
        + hashlib.sha256(canonical_request.encode()).hexdigest()
    )
    key = ("TC3" + secret_key).encode()
    for part in (date, "sms", "tc3_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return hmac.digest(key, string_to_sign.encode(), "sha256").hex()


def tencent_api(request: Request) -> Reply:
    """The stand-in SendSms endpoint: verifies the signature, then sends to every number."""
    match = AUTH_PATTERN.fullmatch(request.headers.get("authorization", ""))
    if not match or match["signature"] != expected_tc3_signature(request, TC_SECRET_KEY):
        return 200, {
            "Response": {
                "Error": {
                    "Code": "AuthFailure.SignatureFailure",
                    "Message": "The provided credentials could not be validated.",
                },
                "RequestId": "req-auth",
            }
        }
    numbers = request.json()["PhoneNumberSet"]
    return 200, {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": "5000:1045710669157053657849499619",
                    "PhoneNumber": number,
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": "Ok",
                    "Message": "send success",
                    "IsoCode": "CN",
                }
                for number in numbers
            ],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279",
        }
    }


def make_tencent(provider: FakeProvider, secret_key: str = TC_SECRET_KEY) -> TencentSmsSender:
    return TencentSmsSender(
        secret_id=TC_SECRET_ID,
        secret_key=secret_key,
        sdk_app_id="1400006666",
        sign_name="Gatehouse",
        template_id="1234567",
        region=TC_REGION,
        endpoint=provider.url,
        timeout=TIMEOUT,
    )


@pytest.fixture
def tencent(provider) -> Iterator[TencentSmsSender]:
    provider.responder = tencent_api
    sender = make_tencent(provider)
    yield sender
    sender.close()


def test_tencent_sends_a_signed_sendsms_request(tencent, provider):
    message = sms_message(ttl_minutes=5)

    tencent.deliver(message)

    [request] = provider.requests
    headers = request.headers
    assert (request.method, request.path) == ("POST", "/")
    assert headers["host"] == provider.url.removeprefix("http://")
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-tc-action"] == "SendSms"
    assert headers["x-tc-version"] == "2021-01-11"
    assert headers["x-tc-region"] == TC_REGION
    assert abs(int(headers["x-tc-timestamp"]) - time.time()) < 60
    assert request.json() == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400006666",
        "SignName": "Gatehouse",
        "TemplateId": "1234567",
        "TemplateParamSet": [CODE, "5"],
    }
    match = AUTH_PATTERN.fullmatch(headers["authorization"])
    assert match, headers["authorization"]
    assert match["id"] == TC_SECRET_ID
    assert match["date"] == time.strftime("%Y-%m-%d", time.gmtime(int(headers["x-tc-timestamp"])))
    assert match["signature"] == expected_tc3_signature(request, TC_SECRET_KEY)
    # and the check has teeth: another key gives another signature
    assert match["signature"] != expected_tc3_signature(request, TC_SECRET_KEY + "x")


def test_tencent_wrong_key_is_rejected_by_the_provider(provider):
    provider.responder = tencent_api
    sender = make_tencent(provider, secret_key="not-the-key")
    message = sms_message()
    try:
        with pytest.raises(DeliveryError, match=r"AuthFailure\.SignatureFailure") as caught:
            sender.deliver(message)
    finally:
        sender.close()

    assert "req-auth" in str(caught.value)  # the RequestId support asks for
    assert "could not be validated" not in str(caught.value)
    assert_leaks_nothing(caught.value, message)


def test_tencent_per_number_failure_is_a_delivery_error(tencent, provider):
    provider.reply(
        200,
        {
            "Response": {
                "SendStatusSet": [
                    {
                        "SerialNo": "",
                        "PhoneNumber": "+8613800138000",
                        "Fee": 0,
                        "SessionContext": "",
                        "Code": "LimitExceeded.PhoneNumberDailyLimit",
                        "Message": "the number of SMS messages sent from a single mobile "
                        f"number every day exceeds the upper limit ({CODE})",
                        "IsoCode": "CN",
                    }
                ],
                "RequestId": "req-limit",
            }
        },
    )
    message = sms_message()

    with pytest.raises(DeliveryError, match=r"LimitExceeded\.PhoneNumberDailyLimit") as caught:
        tencent.deliver(message)

    assert_leaks_nothing(caught.value, message)


@pytest.mark.parametrize(
    "payload",
    [
        {"Response": {"SendStatusSet": [], "RequestId": "r"}},
        {"unexpected": True},
        "<html>bad gateway</html>",
    ],
)
def test_tencent_malformed_answer_is_a_delivery_error(tencent, provider, payload):
    provider.reply(200, payload)

    with pytest.raises(DeliveryError):
        tencent.deliver(sms_message())


# ----------------------------------------------------- failures common to the HTTP providers

HTTP_SENDERS = ["webhook", "twilio", "tencent"]


@pytest.mark.parametrize("name", HTTP_SENDERS)
def test_http_provider_5xx_is_a_delivery_error(request, provider, name):
    sender = request.getfixturevalue(name)
    provider.reply(503, {"message": "Service Unavailable"})
    message = sms_message()

    with pytest.raises(DeliveryError) as caught:
        sender.deliver(message)

    assert len(provider.requests) == 1
    assert_leaks_nothing(caught.value, message)


@pytest.mark.parametrize("name", HTTP_SENDERS)
def test_http_provider_slower_than_the_timeout_is_a_delivery_error(request, provider, name):
    sender = request.getfixturevalue(name)
    sender.http.timeout = SHORT_TIMEOUT
    provider.delay = 5  # cut short at teardown
    message = sms_message()

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        sender.deliver(message)

    assert time.monotonic() - started < 2
    assert len(provider.requests) == 1  # it did reach the provider, which then stalled
    assert_leaks_nothing(caught.value, message)


@pytest.mark.parametrize("name", HTTP_SENDERS)
def test_http_provider_unreachable_is_a_delivery_error(name):
    url = f"http://127.0.0.1:{closed_port()}"
    sender: WebhookSmsSender | TwilioSmsSender | TencentSmsSender
    if name == "webhook":
        sender = WebhookSmsSender(url, SHORT_TIMEOUT)
    elif name == "twilio":
        sender = TwilioSmsSender(TWILIO_SID, TWILIO_TOKEN, "+15005550006", url, SHORT_TIMEOUT)
    else:
        sender = make_tencent(FakeProvider(url=url))
    message = sms_message()
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError) as caught:
            sender.deliver(message)
    finally:
        sender.close()

    assert time.monotonic() - started < 2
    assert_leaks_nothing(caught.value, message)


@pytest.mark.parametrize("name", HTTP_SENDERS)
def test_http_provider_redirect_is_not_followed(request, provider, name):
    sender = request.getfixturevalue(name)
    provider.reply(302, {"moved": True})
    message = sms_message()

    with pytest.raises(DeliveryError) as caught:
        sender.deliver(message)

    assert len(provider.requests) == 1  # "/elsewhere" (the Location) was never asked for
    assert_leaks_nothing(caught.value, message)


def success_reply(name: str) -> Callable[[Request], Reply]:
    return {"webhook": lambda request: (202, {}), "twilio": twilio_message_resource, "tencent": tencent_api}[name]


@pytest.mark.parametrize("name", HTTP_SENDERS)
def test_http_provider_connection_is_pooled_even_after_a_refusal(request, provider, name):
    """The one helper reads and closes every answer, so the kept-alive connection goes back to
    the pool: a refused message, then a good one, travel on one TCP connection."""
    sender = request.getfixturevalue(name)
    provider.reply(400, {"code": 21211, "Response": {"Error": {"Code": "InvalidParameter"}}})
    with pytest.raises(DeliveryError):
        sender.deliver(sms_message())
    provider.responder = success_reply(name)

    sender.deliver(sms_message(usage="signup"))

    refused, accepted = provider.requests
    assert refused.client_port == accepted.client_port


def test_provider_http_names_the_provider_and_nothing_of_the_request():
    from idp.otp.senders.http import ProviderHttp

    http = ProviderHttp("Example SMS", SHORT_TIMEOUT)
    url = f"http://127.0.0.1:{closed_port()}/send?token=secret-token"
    try:
        with pytest.raises(DeliveryError) as caught:
            http.post(url, json={"to": "+8613800138000", "text": f"code {CODE}"})
    finally:
        http.close()

    assert str(caught.value) == "Example SMS unreachable (ConnectionError)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_provider_http_answers_none_for_a_body_that_is_not_json(provider):
    from idp.otp.senders.http import ProviderHttp

    provider.reply(502, "<html>bad gateway</html>")
    http = ProviderHttp("Example SMS", TIMEOUT)
    try:
        reply = http.post(provider.url + "/send", json={})
    finally:
        http.close()

    assert (reply.status, reply.body, reply.ok) == (502, None, False)
