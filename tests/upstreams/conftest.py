"""Fixtures for the upstream identity providers: panva/oidc-provider as a real foreign OpenID
provider (``oidc_provider``), and the local stand-ins of each preset's service
(``tests/upstreams/standins.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstreams.oidc_provider import OidcProviderProcess

REDIRECT_URI = "http://127.0.0.1:5000/login/federated/acme/callback"
ADA = {"email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace"}


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OidcProviderProcess]:
    """oidc-provider with one confidential client (PKCE required) whose redirect URI is
    ``REDIRECT_URI``, and the account ``ada``."""
    provider = OidcProviderProcess([REDIRECT_URI], {"ada": ADA}).start()
    try:
        yield provider
    finally:
        provider.stop()
