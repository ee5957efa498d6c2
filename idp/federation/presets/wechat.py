"""WeChat as an upstream, following "Website Application WeChat Login" (网站应用微信登录,
WeChat Open Platform).

WeChat's OAuth 2.0 names the client ``appid``/``secret`` and departs from RFC 6749 where it
matters here: the QR-code page (``/connect/qrconnect``) takes its parameters in a fixed order
and ends with ``#wechat_redirect``; it has no PKCE and no ``nonce``; the code is exchanged by a
GET carrying the secret (``/sns/oauth2/access_token``), and every call reports errors as HTTP
200 with ``{"errcode", "errmsg"}``. A person who refuses comes back with the ``state`` and no
``code``. The person is ``/sns/userinfo`` (``nickname``, ``headimgurl``, ``openid``,
``unionid``); the subject is the ``unionid`` (one per person across every app of the same
WeChat Open Platform account) when the app has one, else the app's own ``openid``. WeChat
never gives an email address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import requests

from idp.errors import IdpError, invalid
from idp.federation.http import invalid_response, read_json, timeout, unavailable
from idp.federation.oidc import OAuth2Upstream
from idp.federation.upstream import UpstreamConfig, UpstreamIdentity, UpstreamRequest

AUTHORIZATION_ENDPOINT = "https://open.weixin.qq.com/connect/qrconnect"
TOKEN_ENDPOINT = "https://api.weixin.qq.com/sns/oauth2/access_token"
USERINFO_ENDPOINT = "https://api.weixin.qq.com/sns/userinfo"
SCOPES = ("snsapi_login",)
# "全局返回码说明" (global return codes): -1 system busy and 45xxx frequency limits are WeChat
# being unable to answer now; every other errcode is a refusal of what was sent
BUSY_ERRCODES = (-1,)


class WeChatUpstream(OAuth2Upstream):
    """The generic OAuth 2.0 kind's configuration and callback rules, with WeChat's own
    authorization link, code exchange and profile."""

    kind = "wechat"
    default_scopes = SCOPES

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        if not config.client_id or not config.client_secret:
            raise invalid("federation.invalid_config", "WeChat needs the website application's AppID and AppSecret")
        return super().complete(
            replace(
                config,
                authorization_endpoint=config.authorization_endpoint or AUTHORIZATION_ENDPOINT,
                token_endpoint=config.token_endpoint or TOKEN_ENDPOINT,
                userinfo_endpoint=config.userinfo_endpoint or USERINFO_ENDPOINT,
                claim_mapping={"sub": "openid"},
            )
        )

    def authorization_url(self, config: UpstreamConfig, request: UpstreamRequest) -> str:
        config = self.complete(config)
        # WeChat matches the link strictly: these parameters, in this order, then the fragment
        query = urlencode(
            [
                ("appid", config.client_id),
                ("redirect_uri", request.redirect_uri),
                ("response_type", "code"),
                ("scope", ",".join(config.scopes)),
                ("state", request.state),
            ]
        )
        return f"{config.authorization_endpoint}?{query}#wechat_redirect"

    def identity(
        self, config: UpstreamConfig, request: UpstreamRequest, callback: Mapping[str, str]
    ) -> UpstreamIdentity:
        config = self.complete(config)
        if not callback.get("code") and not callback.get("error"):
            # the person refused: WeChat sends the state back alone
            callback = {**callback, "error": "access_denied"}
        code = self.check_callback(request, callback)
        token = _call(
            config.token_endpoint or TOKEN_ENDPOINT,
            {
                "appid": config.client_id,
                "secret": config.client_secret,
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        access_token, openid = token.get("access_token"), token.get("openid")
        if not access_token or not openid:
            raise invalid_response("WeChat's token answer carries no access_token or openid")
        profile = _call(
            config.userinfo_endpoint or USERINFO_ENDPOINT,
            {"access_token": str(access_token), "openid": str(openid), "lang": "zh_CN"},
        )
        if profile.get("openid") != openid:
            raise invalid_response("WeChat's profile names another openid")
        subject = profile.get("unionid") or token.get("unionid") or openid
        return UpstreamIdentity(
            subject=str(subject),
            name=_text(profile.get("nickname")),
            picture=_text(profile.get("headimgurl")),
        )


def _call(endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
    """GET one WeChat API; its errcode answers become federation errors. The URL in any error
    is the bare endpoint: the query carries the AppSecret or an access token."""
    try:
        response = requests.get(endpoint, params=dict(params), timeout=timeout())
    except requests.RequestException as exc:
        raise unavailable(endpoint, type(exc).__name__) from None
    body = read_json(endpoint, response)
    errcode = body.get("errcode")
    if errcode not in (None, 0):
        raise _refusal(endpoint, errcode, body.get("errmsg"))
    return body


def _refusal(endpoint: str, errcode: Any, errmsg: Any) -> IdpError:
    if errcode in BUSY_ERRCODES or (isinstance(errcode, int) and 45000 <= errcode < 46000):
        return unavailable(endpoint, f"errcode {errcode}")
    return invalid_response(f"WeChat refused the request (errcode {errcode}: {str(errmsg)[:80]})")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
