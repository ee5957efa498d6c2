"""Which code speaks to each kind of upstream identity provider.

``KINDS`` is every kind an administrator can register; ``upstream_for`` answers the one
``Upstream`` (``idp.federation.upstream``) for a kind. ``oidc`` and ``oauth2`` are generic;
the presets (GitHub, Google, Sign in with Apple, WeChat) fill in a known service's endpoints.
"""

from __future__ import annotations

from idp.errors import invalid
from idp.federation.oidc import OAuth2Upstream, OidcUpstream
from idp.federation.upstream import Upstream

KINDS = ("oidc", "oauth2", "github", "google", "apple", "wechat")

_UPSTREAMS: dict[str, Upstream] = {
    "oidc": OidcUpstream(),
    "oauth2": OAuth2Upstream(),
}

# -- presets: github, google, apple, wechat ------------------------------------------------
from idp.federation.presets import PRESETS  # noqa: E402  (kept inside the presets block)

_UPSTREAMS.update(PRESETS)
# -- end of presets -------------------------------------------------------------------------


def upstream_for(kind: str) -> Upstream:
    """Raises federation.invalid_config for a kind Gatehouse cannot speak to."""
    upstream = _UPSTREAMS.get(kind)
    if upstream is None:
        raise invalid("federation.invalid_config", f"kind must be one of {', '.join(available_kinds())}")
    return upstream


def available_kinds() -> tuple[str, ...]:
    """The kinds this build can register (``KINDS`` once every preset is present)."""
    return tuple(kind for kind in KINDS if kind in _UPSTREAMS)
