"""Local stand-ins of the services behind each preset, on 127.0.0.1.

Each plays the documented endpoints of one service and checks what the real one checks: the
client id and secret, the registered ``redirect_uri``, a code used once and only by the client
it was issued to, the PKCE verifier (RFC 7636) where the service supports PKCE. A preset that
sends the wrong thing fails here as it would against the service. Their authorization endpoint
stands for the person: it approves at once and redirects to the ``redirect_uri`` (or answers
``access_denied`` when ``deny`` is set), so ``follow`` returns the callback's parameters.

- ``GitHubStandIn`` — "Authorizing OAuth apps" (GitHub Docs): ``/login/oauth/authorize``,
  ``/login/oauth/access_token`` (errors as HTTP 200 ``{"error": "bad_verification_code"}``),
  and the REST API's ``/user`` and ``/user/emails``.
- ``WeChatStandIn`` — "Website Application WeChat Login" (WeChat Open Platform):
  ``/connect/qrconnect``, ``/sns/oauth2/access_token`` and ``/sns/userinfo``, errors as HTTP
  200 ``{"errcode", "errmsg"}``.
- ``OidcStandIn`` — an OpenID provider (Google's, or Apple's with ``apple=True``): discovery,
  JWKS, authorization (``form_post`` when asked), a token endpoint issuing RS256 ID tokens
  (Apple: ES256-signed client-secret JWT checked against the team's public key, else
  ``invalid_client``), userinfo.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

Answer = tuple[int, dict[str, str], bytes]


def json_answer(body: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def redirect(url: str) -> Answer:
    return 302, {"Location": url}, b""


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    """One authorization code, as the service remembers it until it is exchanged."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None = None
    nonce: str | None = None


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: Mapping[str, str]


class StandIn:
    """An HTTP server on a free 127.0.0.1 port whose ``routes`` answer ``(method, path)``.
    ``requests`` lists every call it received, for tests that look at what a preset sent."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, Grant] = {}
        self.requests: list[Request] = []
        self.deny = False
        self.stopped = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        raise NotImplementedError

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (a test may stop a stand-in to play an outage; the fixture stops it
        again at the end)."""
        if self.stopped:
            return
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()

    def issue_code(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = grant
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None) -> Grant | None:
        """The grant behind ``code``, spent; None when the code is unknown, used, another
        client's, for another redirect URI, or the PKCE verifier does not match."""
        grant = self.codes.pop(code, None)
        if grant is None or grant.client_id != client_id:
            return None
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            return None
        if grant.code_challenge is not None and (not verifier or s256(verifier) != grant.code_challenge):
            return None
        return grant

    def issue_token(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = grant
        return token

    def bearer(self, request: Request) -> Grant | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                request = Request(
                    self.command, parts.path, dict(parse_qsl(parts.query)), dict(parse_qsl(body)), self.headers
                )
                stand_in.requests.append(request)
                route = stand_in.routes().get((self.command, parts.path))
                status, headers, payload = route(request) if route else json_answer({"message": "Not Found"}, 404)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(payload))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler


def follow(authorization_url: str) -> dict[str, str]:
    """What the person's browser brings back to the callback after the stand-in's
    authorization endpoint: the redirect's query, or the fields of a ``form_post`` page."""
    answer = requests.get(authorization_url, allow_redirects=False, timeout=5)
    if answer.is_redirect:
        return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', answer.text)
    if answer.status_code != 200 or not fields:
        raise AssertionError(f"the authorization endpoint answered {answer.status_code}: {answer.text[:300]}")
    return {name: html.unescape(value) for name, value in fields}


# -- GitHub -------------------------------------------------------------------------------------


@dataclass
class GitHubUser:
    id: int = 583231
    login: str = "octocat"
    name: str | None = "The Octocat"
    email: str | None = None  # the public profile email, often empty
    avatar_url: str = "https://avatars.githubusercontent.com/u/583231"
    emails: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"email": "octo@old.example", "primary": False, "verified": True, "visibility": None},
            {"email": "octocat@github.example", "primary": True, "verified": True, "visibility": "private"},
        ]
    )


class GitHubStandIn(StandIn):
    """github.com's OAuth endpoints and api.github.com's ``/user`` on one server."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        super().__init__(client_id, client_secret, redirect_uri)
        self.user = GitHubUser()

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        return {
            ("GET", "/login/oauth/authorize"): self.authorize,
            ("POST", "/login/oauth/access_token"): self.access_token,
            ("GET", "/user"): self.profile,
            ("GET", "/user/emails"): self.emails,
        }

    def authorize(self, request: Request) -> Answer:
        query = request.query
        if query.get("client_id") != self.client_id:
            return 404, {}, b"Not Found"  # github.com shows its 404 page for an unknown client
        redirect_uri = query.get("redirect_uri", self.redirect_uri)
        if redirect_uri != self.redirect_uri:
            return redirect(
                f"{self.redirect_uri}?" + urlencode({"error": "redirect_uri_mismatch", "state": query.get("state", "")})
            )
        if self.deny:
            return redirect(f"{redirect_uri}?" + urlencode({"error": "access_denied", "state": query.get("state", "")}))
        challenge = query.get("code_challenge")
        if challenge and query.get("code_challenge_method") != "S256":
            return 400, {}, b"unsupported code_challenge_method"
        code = self.issue_code(Grant(self.client_id, redirect_uri, query.get("scope", ""), challenge))
        return redirect(f"{redirect_uri}?" + urlencode({"code": code, "state": query.get("state", "")}))

    def access_token(self, request: Request) -> Answer:
        form = request.form
        if request.headers.get("Accept") != "application/json":
            return 200, {"Content-Type": "application/x-www-form-urlencoded"}, b"error=json_expected_in_this_test"
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Basic":
            client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return json_answer(
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                }
            )
        grant = self.redeem(form.get("code", ""), client_id, form.get("redirect_uri"), form.get("code_verifier"))
        if grant is None:
            return json_answer(
                {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
            )
        return json_answer({"access_token": self.issue_token(grant), "token_type": "bearer", "scope": grant.scope})

    def profile(self, request: Request) -> Answer:
        if self.bearer(request) is None:
            return json_answer({"message": "Bad credentials"}, 401)
        user = self.user
        return json_answer(
            {"id": user.id, "login": user.login, "name": user.name, "email": user.email, "avatar_url": user.avatar_url}
        )

    def emails(self, request: Request) -> Answer:
        grant = self.bearer(request)
        if grant is None:
            return json_answer({"message": "Bad credentials"}, 401)
        if "user:email" not in grant.scope.replace(",", " ").split() and "user" not in grant.scope.split():
            return json_answer({"message": "Not Found"}, 404)
        return json_answer(self.user.emails)


# -- WeChat -------------------------------------------------------------------------------------


@dataclass
class WeChatUser:
    openid: str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    unionid: str | None = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
    nickname: str = "微信用户"
    headimgurl: str = "https://thirdwx.qlogo.cn/mmopen/g3MonUZtNHkdmzicIlibx6iaFqAc56vxLSUfpb6n5WKSYVY0ChQKkiaJSgQ1dZuTOgvLLrhJbERQQ4eMsv84eavHiaiceqxibJxCfHe/0"


class WeChatStandIn(StandIn):
    """open.weixin.qq.com's QR-code login page and api.weixin.qq.com's ``/sns`` calls on one
    server. Errors follow the service: HTTP 200 with ``errcode`` and ``errmsg``."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        super().__init__(client_id, client_secret, redirect_uri)
        self.user = WeChatUser()

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        return {
            ("GET", "/connect/qrconnect"): self.qrconnect,
            ("GET", "/sns/oauth2/access_token"): self.access_token,
            ("GET", "/sns/userinfo"): self.userinfo,
        }

    def qrconnect(self, request: Request) -> Answer:
        query = request.query
        if query.get("appid") != self.client_id:
            return 200, {"Content-Type": "text/html"}, "<p>参数错误 (appid)</p>".encode()
        if query.get("redirect_uri") != self.redirect_uri:
            return 200, {"Content-Type": "text/html"}, "<p>redirect_uri 参数错误</p>".encode()
        if query.get("response_type") != "code" or query.get("scope") != "snsapi_login":
            return 200, {"Content-Type": "text/html"}, "<p>scope 参数错误或没有 scope 权限</p>".encode()
        if self.deny:  # the person refused: back with the state only, no code
            return redirect(f"{self.redirect_uri}?" + urlencode({"state": query.get("state", "")}))
        code = self.issue_code(Grant(self.client_id, self.redirect_uri, "snsapi_login"))
        return redirect(f"{self.redirect_uri}?" + urlencode({"code": code, "state": query.get("state", "")}))

    def access_token(self, request: Request) -> Answer:
        query = request.query
        if query.get("appid") != self.client_id:
            return json_answer({"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != self.client_secret:
            return json_answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        if query.get("grant_type") != "authorization_code":
            return json_answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        grant = self.redeem(query.get("code", ""), self.client_id, None, None)
        if grant is None:
            return json_answer({"errcode": 40029, "errmsg": "invalid code"})
        answer: dict[str, Any] = {
            "access_token": self.issue_token(grant),
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(24),
            "openid": self.user.openid,
            "scope": "snsapi_login",
        }
        if self.user.unionid:
            answer["unionid"] = self.user.unionid
        return json_answer(answer)

    def userinfo(self, request: Request) -> Answer:
        if request.query.get("access_token") not in self.tokens:
            return json_answer(
                {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            )
        if request.query.get("openid") != self.user.openid:
            return json_answer({"errcode": 40003, "errmsg": "invalid openid"})
        user = self.user
        profile: dict[str, Any] = {
            "openid": user.openid,
            "nickname": user.nickname,
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": user.headimgurl,
            "privilege": [],
        }
        if user.unionid:
            profile["unionid"] = user.unionid
        return json_answer(profile)


# -- OpenID providers (Google, Apple) -------------------------------------------------------------


class OidcStandIn(StandIn):
    """An OpenID provider at ``url`` (its issuer). ``apple=True`` plays Sign in with Apple: the
    client authenticates with an ES256 client-secret JWT made with ``apple_key`` (a P-256 key
    whose public half the stand-in knows, as Apple knows the key it issued), PKCE is not used,
    ``email_verified`` is the text ``"true"``, and the name comes only in the ``form_post``'s
    ``user`` field on the first authorization."""

    APPLE_AUDIENCE = "https://appleid.apple.com"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        apple: bool = False,
        team_id: str = "",
        key_id: str = "",
    ) -> None:
        super().__init__(client_id, client_secret, redirect_uri)
        self.apple, self.team_id, self.key_id = apple, team_id, key_id
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "alg": "RS256", "use": "sig"})
        self.apple_key = ECKey.generate_key("P-256", private=True)
        self.subject = "001234.abcdef0123456789.0042" if apple else "110169484474386276334"
        self.claims: dict[str, Any] = {"email": "ada@example.com", "email_verified": "true" if apple else True}
        if not apple:
            self.claims.update(name="Ada Lovelace", picture="https://lh3.googleusercontent.com/a/ada")
        self.first_authorization = True
        self.client_secrets_seen: list[str] = []

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Answer]]:
        return {
            ("GET", "/.well-known/openid-configuration"): self.discovery,
            ("GET", "/keys"): self.jwks,
            ("GET", "/auth/authorize"): self.authorize,
            ("POST", "/auth/token"): self.token,
            ("GET", "/userinfo"): self.userinfo,
        }

    def discovery(self, request: Request) -> Answer:
        document = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/auth/authorize",
            "token_endpoint": f"{self.url}/auth/token",
            "jwks_uri": f"{self.url}/keys",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["public" if not self.apple else "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "name"] if self.apple else ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"]
            if self.apple
            else ["client_secret_post", "client_secret_basic"],
        }
        if not self.apple:  # Apple publishes no userinfo endpoint
            document["userinfo_endpoint"] = f"{self.url}/userinfo"
            document["code_challenge_methods_supported"] = ["plain", "S256"]
        return json_answer(document)

    def jwks(self, request: Request) -> Answer:
        return json_answer({"keys": [self.signing_key.as_dict(private=False)]})

    def authorize(self, request: Request) -> Answer:
        query = request.query
        if query.get("client_id") != self.client_id or query.get("redirect_uri") != self.redirect_uri:
            return json_answer(
                {"error": "invalid_request", "error_description": "Invalid client id or web redirect url."}, 400
            )
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return json_answer({"error": "invalid_request"}, 400)
        scope = query.get("scope", "")
        if self.apple and ({"name", "email"} & set(scope.split())) and query.get("response_mode") != "form_post":
            return json_answer(
                {
                    "error": "invalid_request",
                    "error_description": "response_mode must be form_post when name or email scope is requested.",
                },
                400,
            )
        challenge = None if self.apple else query.get("code_challenge")
        if not self.apple and (not challenge or query.get("code_challenge_method") != "S256"):
            return json_answer({"error": "invalid_request", "error_description": "this client must use PKCE S256"}, 400)
        state = query.get("state", "")
        if self.deny:
            return self._respond(
                query, {"error": "access_denied" if not self.apple else "user_cancelled_authorize", "state": state}
            )
        code = self.issue_code(Grant(self.client_id, self.redirect_uri, scope, challenge, query.get("nonce")))
        answer = {"code": code, "state": state}
        if self.apple and self.first_authorization and "name" in scope.split():
            answer["user"] = json.dumps(
                {"name": {"firstName": "Ada", "lastName": "Lovelace"}, "email": self.claims["email"]}
            )
            self.first_authorization = False
        return self._respond(query, answer)

    def _respond(self, query: Mapping[str, str], answer: Mapping[str, str]) -> Answer:
        if query.get("response_mode") == "form_post":
            inputs = "".join(
                f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                for name, value in answer.items()
            )
            page = f'<form method="post" action="{html.escape(self.redirect_uri)}">{inputs}</form>'
            return 200, {"Content-Type": "text/html"}, page.encode()
        return redirect(f"{self.redirect_uri}?" + urlencode(answer))

    def token(self, request: Request) -> Answer:
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Basic":
            client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
        if form.get("grant_type") != "authorization_code":
            return json_answer({"error": "unsupported_grant_type"}, 400)
        if client_id != self.client_id or not self._client_authenticated(client_secret or ""):
            return json_answer({"error": "invalid_client"}, 400 if self.apple else 401)
        grant = self.redeem(form.get("code", ""), client_id, form.get("redirect_uri"), form.get("code_verifier"))
        if grant is None:
            return json_answer({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": self.client_id,
            "sub": self.subject,
            "iat": now,
            "exp": now + 600,
            **self.claims,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": self.signing_key.kid}, claims, self.signing_key)
        return json_answer(
            {"access_token": self.issue_token(grant), "token_type": "Bearer", "expires_in": 3600, "id_token": id_token}
        )

    def _client_authenticated(self, client_secret: str) -> bool:
        """Google: the shared secret. Apple: a client-secret JWT (ES256, ``kid`` the key id,
        ``iss`` the team, ``sub`` the client, ``aud`` https://appleid.apple.com, expiring within
        six months of ``iat``) signed by the team's private key."""
        if not self.apple:
            return client_secret == self.client_secret
        self.client_secrets_seen.append(client_secret)
        try:
            token = jwt.decode(client_secret, self.apple_key, algorithms=["ES256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.team_id},
                sub={"essential": True, "value": self.client_id},
                aud={"essential": True, "value": self.APPLE_AUDIENCE},
                iat={"essential": True},
                exp={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError):
            return False
        lifetime = int(token.claims["exp"]) - int(token.claims["iat"])
        return token.header.get("kid") == self.key_id and 0 < lifetime <= 15777000

    def userinfo(self, request: Request) -> Answer:
        if self.apple or self.bearer(request) is None:
            return json_answer({"error": "invalid_token"}, 401)
        return json_answer({"sub": self.subject, **self.claims})
