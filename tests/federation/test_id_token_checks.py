"""The ID token is checked against the upstream's keys and this sign-in (OpenID Connect Core
1.0, 3.1.3.7). A tiny OpenID provider on loopback answers discovery, its JWKS and a token
endpoint whose ID token each test tampers with; a 5xx or a stall is an unavailable upstream."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from idp.errors import IdpError
from idp.federation import http
from idp.federation.oidc import forget_cached
from idp.federation.registry import upstream_for
from idp.federation.upstream import UpstreamConfig, UpstreamRequest
from tests.helpers import free_port

NONCE = "nonce-of-this-sign-in"
REQUEST = UpstreamRequest(state="s", nonce=NONCE, code_verifier="v" * 64, redirect_uri="http://127.0.0.1:1/cb")
CALLBACK = {"state": "s", "code": "the-code"}


@dataclass
class TinyProvider:
    issuer: str
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    published: RSAKey | None = None  # the key in the JWKS (default: the signing key)
    claims: dict[str, Any] = field(default_factory=dict)  # changes to the ID token's claims
    status: int = 200  # of the token endpoint
    stall: float = 0.0
    userinfo: dict[str, Any] | None = None
    released: threading.Event = field(default_factory=threading.Event)  # ends a stall at teardown

    def id_token(self) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "up-1", "aud": "rp", "iat": now, "exp": now + 300, "nonce": NONCE}
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/.well-known/openid-configuration":
            body: Any = {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
            }
        elif request.path == "/jwks":
            body = {"keys": [(self.published or self.key).as_dict(private=False)]}
        elif request.path == "/token":
            if self.stall:  # the upstream goes quiet
                self.released.wait(self.stall)
            if self.status != 200:
                return Response("busy", status=self.status)(environ, start_response)
            body = {"access_token": "at", "token_type": "Bearer", "id_token": self.id_token()}
        elif request.path == "/userinfo":
            body = self.userinfo or {}
        else:
            return Response(status=404)(environ, start_response)
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


@pytest.fixture
def tiny():
    port = free_port()
    provider = TinyProvider(f"http://127.0.0.1:{port}")
    server = make_server("127.0.0.1", port, provider, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield provider
    provider.released.set()
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    forget_cached(f"{provider.issuer}/.well-known/openid-configuration")
    forget_cached(f"{provider.issuer}/jwks")


def identity(tiny: TinyProvider):
    config = UpstreamConfig(id="t", name="Tiny", kind="oidc", client_id="rp", client_secret="s", issuer=tiny.issuer)
    oidc = upstream_for("oidc")
    return oidc.identity(oidc.complete(config), REQUEST, CALLBACK)


def refused(tiny: TinyProvider) -> str:
    with pytest.raises(IdpError) as caught:
        identity(tiny)
    return caught.value.code


def test_a_valid_id_token_is_accepted(tiny):
    tiny.claims = {"email": "Up@Example.com", "email_verified": True, "name": "Up"}
    person = identity(tiny)
    assert (person.subject, person.email, person.email_verified) == ("up-1", "Up@Example.com", True)


def test_a_bad_signature_is_refused(tiny):
    tiny.published = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    assert refused(tiny) == "federation.invalid_response"


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "another-sign-in"},
        {"nonce": None},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 3600},
        {"sub": None},
    ],
)
def test_wrong_claims_are_refused(tiny, claims):
    tiny.claims = claims
    assert refused(tiny) == "federation.invalid_response"


def test_userinfo_is_read_when_the_id_token_has_no_email(tiny):
    tiny.userinfo = {"sub": "up-1", "email": "from-userinfo@example.com", "email_verified": False}
    person = identity(tiny)
    assert person.email == "from-userinfo@example.com" and person.email_verified is False


def test_userinfo_of_another_subject_is_refused(tiny):
    tiny.userinfo = {"sub": "someone-else", "email": "x@example.com"}
    assert refused(tiny) == "federation.invalid_response"


def test_a_failing_token_endpoint_is_unavailable(tiny):
    tiny.status = 502
    assert refused(tiny) == "federation.unavailable"


def test_a_stalled_upstream_is_unavailable_within_the_timeout(tiny):
    tiny.stall = 10.0  # ended at teardown
    before = http.timeout()
    http.set_timeout(0.3)
    try:
        started = time.monotonic()
        assert refused(tiny) == "federation.unavailable"
        assert time.monotonic() - started < 3  # the timeout, with room for a busy machine; not the stall
    finally:
        http.set_timeout(before)
