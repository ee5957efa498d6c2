"""The GitHub and WeChat presets against local stand-ins of github.com / api.github.com and
open.weixin.qq.com / api.weixin.qq.com (``tests/upstreams/standins.py``), which check the client
credentials, the redirect URI, single-use codes and (GitHub) the PKCE verifier as the real
services do."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from idp.errors import IdpError
from idp.federation import http
from idp.federation.presets import PRESETS
from idp.federation.upstream import UpstreamConfig, UpstreamRequest
from tests.upstreams.standins import GitHubStandIn, WeChatStandIn, follow

REDIRECT_URI = "http://127.0.0.1:5000/login/federated/gh/callback"
SIGN_IN = UpstreamRequest(
    state="state-3f9a", nonce="nonce-unused", code_verifier="v" * 43 + "-verifier", redirect_uri=REDIRECT_URI
)


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    stand_in = GitHubStandIn("Iv1.8a61f9b3a7aba766", "gh-secret-0123", REDIRECT_URI)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def wechat() -> Iterator[WeChatStandIn]:
    stand_in = WeChatStandIn("wx520c15f417810387", "wechat-secret-0123", REDIRECT_URI)
    stand_in.start()
    yield stand_in
    stand_in.stop()


def github_config(stand_in: GitHubStandIn, **changes) -> UpstreamConfig:
    config = UpstreamConfig(
        id="gh",
        name="GitHub",
        kind="github",
        client_id=stand_in.client_id,
        client_secret=stand_in.client_secret,
        authorization_endpoint=f"{stand_in.url}/login/oauth/authorize",
        token_endpoint=f"{stand_in.url}/login/oauth/access_token",
        userinfo_endpoint=f"{stand_in.url}/user",
    )
    return PRESETS["github"].complete(UpstreamConfig(**{**config.__dict__, **changes}))


def wechat_config(stand_in: WeChatStandIn, **changes) -> UpstreamConfig:
    config = UpstreamConfig(
        id="wx",
        name="WeChat",
        kind="wechat",
        client_id=stand_in.client_id,
        client_secret=stand_in.client_secret,
        authorization_endpoint=f"{stand_in.url}/connect/qrconnect",
        token_endpoint=f"{stand_in.url}/sns/oauth2/access_token",
        userinfo_endpoint=f"{stand_in.url}/sns/userinfo",
    )
    return PRESETS["wechat"].complete(UpstreamConfig(**{**config.__dict__, **changes}))


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def sign_in(kind: str, config: UpstreamConfig, request: UpstreamRequest = SIGN_IN):
    upstream = PRESETS[kind]
    callback = follow(upstream.authorization_url(config, request))
    return upstream.identity(config, request, callback)


def expect(code: str, call, *args) -> IdpError:
    with pytest.raises(IdpError) as raised:
        call(*args)
    assert raised.value.code == code, raised.value
    return raised.value


# -- GitHub ---------------------------------------------------------------------------------------


def test_github_defaults_are_the_documented_endpoints():
    config = PRESETS["github"].complete(
        UpstreamConfig(id="gh", name="GitHub", kind="github", client_id="a", client_secret="b")
    )
    assert config.authorization_endpoint == "https://github.com/login/oauth/authorize"
    assert config.token_endpoint == "https://github.com/login/oauth/access_token"
    assert config.userinfo_endpoint == "https://api.github.com/user"
    assert config.scopes == ("read:user", "user:email")
    url = PRESETS["github"].authorization_url(config, SIGN_IN)
    assert url.startswith("https://github.com/login/oauth/authorize?")
    params = query(url)
    assert params["client_id"] == "a" and params["redirect_uri"] == REDIRECT_URI
    assert params["state"] == SIGN_IN.state and params["scope"] == "read:user user:email"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert "nonce" not in params  # GitHub is not an OpenID provider


def test_github_needs_its_client_credentials():
    expect(
        "federation.invalid_config",
        PRESETS["github"].complete,
        UpstreamConfig(id="gh", name="GitHub", kind="github", client_id="a", client_secret=""),
    )


def test_github_person_is_the_numeric_id_and_the_primary_verified_email(github):
    person = sign_in("github", github_config(github))
    assert person.subject == "583231"
    assert person.email == "octocat@github.example" and person.email_verified is True
    assert person.name == "The Octocat"
    assert person.picture == github.user.avatar_url
    exchange = next(r for r in github.requests if r.path == "/login/oauth/access_token")
    assert (
        exchange.form["client_secret"] == github.client_secret
        and exchange.form["code_verifier"] == SIGN_IN.code_verifier
    )


def test_github_public_email_without_a_verified_primary_is_not_verified(github):
    github.user.email = "public@octo.example"
    github.user.name = None
    github.user.emails = [{"email": "public@octo.example", "primary": True, "verified": False, "visibility": "public"}]
    person = sign_in("github", github_config(github))
    assert (person.email, person.email_verified, person.name) == ("public@octo.example", False, "octocat")


def test_github_without_the_email_scope_keeps_the_public_email_unverified(github):
    github.user.email = "public@octo.example"
    person = sign_in("github", github_config(github, scopes=("read:user",)))
    assert (person.email, person.email_verified) == ("public@octo.example", False)


def test_github_code_is_single_use_bad_verification_code(github):
    config = github_config(github)
    callback = follow(PRESETS["github"].authorization_url(config, SIGN_IN))
    PRESETS["github"].identity(config, SIGN_IN, callback)
    error = expect("federation.invalid_response", PRESETS["github"].identity, config, SIGN_IN, callback)
    assert "bad_verification_code" in error.message


def test_github_wrong_pkce_verifier_is_refused(github):
    config = github_config(github)
    callback = follow(PRESETS["github"].authorization_url(config, SIGN_IN))
    other = UpstreamRequest(SIGN_IN.state, SIGN_IN.nonce, "w" * 50, REDIRECT_URI)
    expect("federation.invalid_response", PRESETS["github"].identity, config, other, callback)


def test_github_wrong_client_secret_is_refused(github):
    config = github_config(github)
    callback = follow(PRESETS["github"].authorization_url(config, SIGN_IN))
    error = expect(
        "federation.invalid_response",
        PRESETS["github"].identity,
        github_config(github, client_secret="nope"),
        SIGN_IN,
        callback,
    )
    assert "incorrect_client_credentials" in error.message


def test_github_cancelled_is_denied_and_a_foreign_state_is_refused(github):
    config = github_config(github)
    github.deny = True
    callback = follow(PRESETS["github"].authorization_url(config, SIGN_IN))
    assert callback["error"] == "access_denied"
    expect("federation.denied", PRESETS["github"].identity, config, SIGN_IN, callback)
    expect("federation.invalid_response", PRESETS["github"].identity, config, SIGN_IN, {"code": "x", "state": "forged"})


def test_github_down_is_unavailable_quickly(github):
    config = github_config(github)
    callback = follow(PRESETS["github"].authorization_url(config, SIGN_IN))
    github.stop()
    started = time.monotonic()
    expect("federation.unavailable", PRESETS["github"].identity, config, SIGN_IN, callback)
    assert time.monotonic() - started < 2


# -- WeChat ---------------------------------------------------------------------------------------


def test_wechat_authorization_url_is_the_documented_qrconnect_link():
    config = PRESETS["wechat"].complete(
        UpstreamConfig(id="wx", name="WeChat", kind="wechat", client_id="wxappid", client_secret="s")
    )
    url = PRESETS["wechat"].authorization_url(config, SIGN_IN)
    assert url.startswith("https://open.weixin.qq.com/connect/qrconnect?appid=wxappid&redirect_uri=")
    assert url.endswith("&response_type=code&scope=snsapi_login&state=state-3f9a#wechat_redirect")
    assert query(url)["redirect_uri"] == REDIRECT_URI
    assert config.token_endpoint == "https://api.weixin.qq.com/sns/oauth2/access_token"
    assert config.userinfo_endpoint == "https://api.weixin.qq.com/sns/userinfo"


def test_wechat_person_is_the_unionid_with_nickname_and_avatar(wechat):
    person = sign_in("wechat", wechat_config(wechat))
    assert person.subject == wechat.user.unionid
    assert (person.name, person.picture) == ("微信用户", wechat.user.headimgurl)
    assert person.email is None and person.email_verified is False
    exchange = next(r for r in wechat.requests if r.path == "/sns/oauth2/access_token")
    assert exchange.method == "GET" and exchange.query["secret"] == wechat.client_secret


def test_wechat_without_unionid_the_subject_is_the_openid(wechat):
    wechat.user.unionid = None
    assert sign_in("wechat", wechat_config(wechat)).subject == wechat.user.openid


def test_wechat_errcode_40029_on_http_200_is_an_invalid_response(wechat):
    config = wechat_config(wechat)
    callback = follow(PRESETS["wechat"].authorization_url(config, SIGN_IN))
    PRESETS["wechat"].identity(config, SIGN_IN, callback)
    error = expect("federation.invalid_response", PRESETS["wechat"].identity, config, SIGN_IN, callback)
    assert "40029" in error.message
    assert wechat.client_secret not in str(error.details) + error.message


def test_wechat_wrong_secret_is_refused(wechat):
    config = wechat_config(wechat)
    callback = follow(PRESETS["wechat"].authorization_url(config, SIGN_IN))
    error = expect(
        "federation.invalid_response",
        PRESETS["wechat"].identity,
        wechat_config(wechat, client_secret="wrong"),
        SIGN_IN,
        callback,
    )
    assert "40125" in error.message


def test_wechat_refusal_brings_the_state_back_alone_and_is_denied(wechat):
    config = wechat_config(wechat)
    wechat.deny = True
    callback = follow(PRESETS["wechat"].authorization_url(config, SIGN_IN))
    assert callback == {"state": SIGN_IN.state}
    expect("federation.denied", PRESETS["wechat"].identity, config, SIGN_IN, callback)
    expect("federation.invalid_response", PRESETS["wechat"].identity, config, SIGN_IN, {"code": "c", "state": "forged"})


def test_wechat_that_accepts_but_never_answers_is_unavailable_within_the_timeout(wechat):
    config = wechat_config(wechat)
    callback = follow(PRESETS["wechat"].authorization_url(config, SIGN_IN))
    with socket.socket() as stalled:  # connections queue in the backlog and are never answered
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)
        port = stalled.getsockname()[1]
        stalled_config = wechat_config(wechat, token_endpoint=f"http://127.0.0.1:{port}/sns/oauth2/access_token")
        previous = http.timeout()
        http.set_timeout(0.3)
        started = time.monotonic()
        try:
            error = expect("federation.unavailable", PRESETS["wechat"].identity, stalled_config, SIGN_IN, callback)
        finally:
            http.set_timeout(previous)
    assert time.monotonic() - started < 2
    assert "secret" not in str(error.details)


def test_every_kind_is_registered():
    from idp.federation.registry import KINDS, available_kinds, upstream_for

    assert available_kinds() == KINDS
    assert {kind: type(upstream_for(kind)).__name__ for kind in ("github", "google", "apple", "wechat")} == {
        "github": "GitHubUpstream",
        "google": "GoogleUpstream",
        "apple": "AppleUpstream",
        "wechat": "WeChatUpstream",
    }
