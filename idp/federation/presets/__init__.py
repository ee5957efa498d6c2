"""Presets: well-known upstream identity providers whose endpoints, scopes and quirks Gatehouse
already knows, so an administrator gives only the client credentials. Each module follows its
provider's public documentation; explicit endpoints in an ``UpstreamConfig`` still win (which
is how the tests point a preset at a local stand-in of the real service)."""

from __future__ import annotations

from idp.federation.presets.apple import AppleUpstream
from idp.federation.presets.github import GitHubUpstream
from idp.federation.presets.google import GoogleUpstream
from idp.federation.presets.wechat import WeChatUpstream
from idp.federation.upstream import Upstream

PRESETS: dict[str, Upstream] = {
    "github": GitHubUpstream(),
    "google": GoogleUpstream(),
    "apple": AppleUpstream(),
    "wechat": WeChatUpstream(),
}
