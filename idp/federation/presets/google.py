"""Google as an upstream, following "OpenID Connect" (Google Identity documentation).

Google is a certified OpenID provider: its issuer is https://accounts.google.com, whose
discovery document names the authorization, token, userinfo and JWKS endpoints, so everything
but the issuer and the default scopes comes from the generic ``oidc`` kind (authorization code
flow with PKCE S256, ``state`` and ``nonce``; the ID token verified against Google's keys).
Google's ``email_verified`` is a boolean; ``sub`` is the stable account id, never the email.
"""

from __future__ import annotations

from dataclasses import replace

from idp.federation.oidc import OidcUpstream
from idp.federation.upstream import UpstreamConfig

ISSUER = "https://accounts.google.com"
SCOPES = ("openid", "email", "profile")


class GoogleUpstream(OidcUpstream):
    kind = "google"
    default_scopes = SCOPES

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        return super().complete(replace(config, issuer=config.issuer or ISSUER))
