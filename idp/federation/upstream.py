"""What Gatehouse, as a relying party, asks of an upstream identity provider.

Every kind of upstream (``oidc`` through its discovery document, ``oauth2`` with explicit
endpoints and a claim mapping, and the presets ``github``, ``google``, ``apple`` and ``wechat``)
answers the same two questions, so the sign-in flow above never looks at a provider's protocol:

1. where to send the browser (``authorization_url``), given one sign-in's ``state``, ``nonce``
   and PKCE verifier (RFC 7636), which Gatehouse keeps server-side until the callback;
2. who came back (``identity``), given the callback's parameters: the code is exchanged at the
   token endpoint, and the person read from the verified ID token (OpenID Connect Core 1.0,
   3.1.3.7) or the provider's own profile endpoint.

Both raise ``IdpError`` with the ``federation.*`` codes: ``federation.denied`` when the upstream
answered with an error (the person cancelled, the upstream refused), ``federation.invalid_response``
when what came back cannot be trusted (bad signature, wrong ``iss``/``aud``/``nonce``, no subject),
``federation.unavailable`` when the upstream cannot be reached in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class UpstreamConfig:
    """One configured identity provider, as the protocol code needs it (secret already unsealed).

    ``issuer`` is set for providers speaking OpenID Connect (``oidc``, ``google``, ``apple``),
    whose endpoints and keys come from discovery unless given explicitly; the explicit endpoints
    win, which is also how a test points a preset at a local stand-in of the real service.
    ``claim_mapping`` names, for ``oauth2``, the profile members holding ``sub``, ``email``,
    ``email_verified`` and ``name``. ``options`` holds what only one kind needs (Apple's
    ``team_id`` and ``key_id``: its client secret is a JWT signed with the private key kept in
    ``client_secret``).
    """

    id: str
    name: str
    kind: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    claim_mapping: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UpstreamRequest:
    """One sign-in's secrets between the redirect and the callback, kept in Redis, never in the
    browser: ``state`` (CSRF, RFC 6749 10.12), ``nonce`` (replay, OIDC Core 3.1.2.1) and the PKCE
    ``code_verifier``; ``redirect_uri`` is ``<issuer>/login/federated/<id>/callback``, or the
    one an app passed on a JSON face. On the JSON faces ``nonce`` and ``code_verifier`` are
    empty: the app, not Gatehouse, receives the redirect, and those faces carry no state back to
    find them by; an upstream kind then sends neither and checks neither."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


@dataclass(frozen=True)
class UpstreamIdentity:
    """Who the upstream says signed in. ``subject`` is the upstream's stable id for the person
    (``sub``; GitHub's numeric ``id``; WeChat's ``unionid`` when present, else ``openid``).
    ``email_verified`` is only ever true when the upstream says so explicitly."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    picture: str | None = None


class Upstream(Protocol):
    """The protocol of one kind of provider. Implementations hold no per-provider state."""

    def complete(self, config: UpstreamConfig) -> UpstreamConfig:
        """``config`` with this kind's defaults filled in (a preset's endpoints and scopes).
        Raises ``federation.invalid_config`` (bad input) for what this kind cannot work
        without."""
        ...

    def authorization_url(self, config: UpstreamConfig, request: UpstreamRequest) -> str:
        """Where to send the browser; may fetch discovery (``federation.unavailable``)."""
        ...

    def identity(
        self, config: UpstreamConfig, request: UpstreamRequest, callback: Mapping[str, str]
    ) -> UpstreamIdentity:
        """Exchange the callback's code and read the person."""
        ...
