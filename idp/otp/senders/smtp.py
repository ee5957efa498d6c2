"""Email delivery over SMTP (``SMTP_URL``).

Three URL schemes, because relays come in three flavours:

- ``smtp://user:pass@host:25``: plain SMTP, for a relay on localhost or a private network;
- ``smtps://user:pass@host:465``: implicit TLS, the socket is TLS from the first byte;
- ``smtp+starttls://user:pass@host:587``: plain connection upgraded with STARTTLS before
  anything (credentials included) is sent.

Failures surface as DeliveryError whose text names the failure kind and, at most, the SMTP
reply code: never the one-time code, the body, the password or the server's free-text reply
(a server may echo the recipient or parts of the message back in it).
"""

from __future__ import annotations

import functools
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from idp.otp.senders.base import DeliveryError, Message

if TYPE_CHECKING:
    from typing_extensions import Buffer  # smtplib's own annotation (typeshed)

Security = Literal["plain", "tls", "starttls"]

# scheme -> (transport security, port used when the URL gives none); the ports are the
# IANA/RFC 8314 defaults for each flavour.
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtps": ("tls", 465),
    "smtp+starttls": ("starttls", 587),
}


class SmtpSender:
    """Sends one email per ``deliver`` on a fresh connection.

    A fresh connection per message keeps the sender stateless and safe to share between
    threads; OTP mail volume is far too low for connection reuse to matter.
    """

    def __init__(
        self,
        host: str,
        port: int,
        from_addr: str,
        timeout: float,
        *,
        security: Security = "plain",
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.from_addr = from_addr
        self.timeout = timeout
        self.security: Security = security
        self.username = username
        self.password = password
        # The system trust store by default; a caller may pass its own context to trust a
        # private CA (an internal relay, or a test server with a throw-away certificate).
        self.ssl_context = ssl_context
        # The name this host gives in EHLO (RFC 5321, 4.1.1.1), looked up once when the sender
        # is built: smtplib would otherwise resolve it on every connection, a reverse DNS lookup
        # outside any socket timeout that a slow resolver stretches past the delivery budget.
        self.local_hostname = _local_hostname()

    @classmethod
    def from_url(
        cls,
        url: str,
        from_addr: str,
        timeout: float,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> SmtpSender:
        """Build a sender from ``smtp[s|+starttls]://[user[:pass]@]host[:port]``.

        Raises ValueError on a malformed URL, so a bad setting fails at boot, not at the
        first login. The message never repeats the URL: it may hold the password.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"SMTP_URL scheme must be one of {', '.join(sorted(_SCHEMES))}, not {scheme!r}")
        security, default_port = _SCHEMES[scheme]
        if not parts.hostname:
            raise ValueError("SMTP_URL has no host")
        try:
            port = parts.port or default_port
        except ValueError as exc:  # urlsplit raises lazily on a non-numeric/out-of-range port
            raise ValueError("SMTP_URL has an invalid port") from exc
        # Credentials are percent-encoded in a URL ("p%40ss" for "p@ss"); decode them once here.
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(
            parts.hostname,
            port,
            from_addr,
            timeout,
            security=security,
            username=username,
            password=password,
            ssl_context=ssl_context,
        )

    def build_email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.from_addr
        email["To"] = message.to
        email["Subject"] = message.subject
        # Date and Message-ID are expected by receiving MTAs; mail without them scores worse
        # in spam filters. The Message-ID domain comes from the sender address so that
        # make_msgid does not do a (possibly slow) reverse DNS lookup of this host.
        email["Date"] = formatdate(usegmt=True)
        domain = parseaddr(self.from_addr)[1].rpartition("@")[2] or "localhost"
        email["Message-ID"] = make_msgid(domain=domain)
        email.set_content(message.text)
        if message.html:
            # multipart/alternative: clients that render HTML show it, others the text part.
            email.add_alternative(message.html, subtype="html")
        return email

    def deliver(self, message: Message) -> None:
        email = self.build_email(message)
        # SMTP errors are re-raised ``from None``: their str() and attributes can carry the
        # recipient and the server's reply, and a logged traceback would print the chained
        # cause. Socket errors carry nothing of the message, so they stay chained for debugging.
        try:
            self._send(email)
        except smtplib.SMTPResponseException as exc:
            # The reply code tells an operator what went wrong (535 auth, 550 mailbox...);
            # the reply text is left out, servers may quote the message back in it.
            raise DeliveryError(f"SMTP server refused the message ({type(exc).__name__}, {exc.smtp_code})") from None
        except smtplib.SMTPException as exc:
            # Includes SMTPRecipientsRefused, whose str() lists the recipient address.
            raise DeliveryError(f"SMTP delivery failed ({type(exc).__name__})") from None
        except OSError as exc:
            # Connection refused, DNS failure, TLS handshake/verification failure and socket
            # timeouts (TimeoutError is an OSError) all land here.
            reason = exc.strerror or type(exc).__name__
            raise DeliveryError(f"SMTP connection to {self.host}:{self.port} failed: {reason}") from exc

    def _send(self, email: EmailMessage) -> None:
        # ``timeout`` bounds the whole conversation, not each step: before every command and
        # every reply the socket gets what is left of it, so neither a dead relay nor one that
        # is slow on every reply holds the request thread longer than the configured budget.
        deadline = time.monotonic() + self.timeout
        client: smtplib.SMTP
        # Connecting (and waiting for the relay's 220 greeting) spends the same budget.
        if self.security == "tls":
            client = _DeadlineSMTPSSL(
                deadline, self.host, self.port, local_hostname=self.local_hostname, context=self._context()
            )
        else:
            client = _DeadlineSMTP(deadline, self.host, self.port, local_hostname=self.local_hostname)
        with client:
            if self.security == "starttls":
                # Upgrade before AUTH so the password never crosses the wire in clear;
                # smtplib raises SMTPNotSupportedError if the server does not offer it
                # rather than silently continuing unencrypted.
                client.starttls(context=self._context())
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(email)

    def _context(self) -> ssl.SSLContext:
        # create_default_context verifies the certificate chain and the host name.
        return self.ssl_context or ssl.create_default_context()


@functools.cache
def _local_hostname() -> str:
    return socket.getfqdn()


class _DeadlineSMTP(smtplib.SMTP):
    """An ``smtplib.SMTP`` whose every send and reply waits at most until ``deadline``
    (``time.monotonic()``); past it, ``TimeoutError`` like a socket timeout."""

    def __init__(self, deadline: float, host: str, port: int, **kwargs: Any) -> None:
        # Set before connecting (the constructor connects): the greeting's wait is bounded by
        # it, and the connection attempt by the timeout, which is what is left of it.
        self.deadline = deadline
        super().__init__(host, port, timeout=max(deadline - time.monotonic(), 0.001), **kwargs)

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("SMTP delivery took longer than its timeout")
        return left

    def _remaining(self) -> None:
        if self.sock is not None:
            self.sock.settimeout(self._left())

    def send(self, s: Buffer | str) -> None:
        self._remaining()
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        self._remaining()
        return super().getreply()


class _DeadlineSMTPSSL(_DeadlineSMTP, smtplib.SMTP_SSL):
    """The same over implicit TLS."""
