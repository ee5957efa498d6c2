"""panva/oidc-provider (OpenID Certified, Node) as a real upstream OpenID provider.

``OidcProviderProcess`` starts ``oidc_provider/server.mjs`` on a free 127.0.0.1 port with one
confidential client and the accounts a test gives, and ``sign_in`` drives its login and consent
steps over HTTP with ``requests`` (no browser): it follows the authorization request until the
provider redirects to the client's ``redirect_uri`` and returns that redirect's query (``code``
and ``state``, or ``error``), which is what Gatehouse's callback receives.

Its node_modules come from ``oidc_provider/package-lock.json`` (``make node-upstream``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from tests.helpers import free_port

HERE = Path(__file__).resolve().parent / "oidc_provider"
CLIENT_ID = "gatehouse"
CLIENT_SECRET = "gatehouse-upstream-secret-0123456789"  # oidc-provider wants HS256-long secrets


class OidcProviderProcess:
    """One oidc-provider server; ``issuer`` is its ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        redirect_uris: list[str],
        accounts: Mapping[str, Mapping[str, Any]],
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        claims_in_id_token: bool = False,
    ) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id, self.client_secret = client_id, client_secret
        self.config = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": redirect_uris,
            "accounts": {sub: dict(claims) for sub, claims in accounts.items()},
            "claims_in_id_token": claims_in_id_token,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OidcProviderProcess:
        if not (HERE / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"oidc-provider is not installed: run `make node-upstream` ({HERE})")
        env = {**os.environ, "PORT": str(self.port), "CONFIG": json.dumps(self.config), "NODE_ENV": "test"}
        self.process = subprocess.Popen(
            ["node", "server.mjs"], cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("oidc-provider did not start")

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def sign_in(authorization_url: str, redirect_uri: str, *, login: str | None, allow: bool = True) -> dict[str, str]:
    """Follow ``authorization_url`` through the provider's interactions as a person would: sign
    in as ``login``, then allow (or, ``allow=False`` or ``login=None``, cancel). Returns the query
    of the redirect to ``redirect_uri``."""
    browser = requests.Session()
    url = authorization_url
    for _ in range(20):
        if url.startswith(redirect_uri):
            return dict(parse_qsl(urlsplit(url).query))
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.is_redirect:
            url = urljoin(url, answer.headers["Location"])
            continue
        if answer.status_code != 200 or "/interaction/" not in url:
            raise AssertionError(f"unexpected answer at {url}: {answer.status_code} {answer.text[:500]}")
        url = _interact(browser, url, answer.text, login=login, allow=allow)
    raise AssertionError("too many redirects")


def _interact(browser: requests.Session, url: str, page: str, *, login: str | None, allow: bool) -> str:
    """Answer one interaction page; returns where the provider sends the browser next."""
    base = url.split("?")[0]
    if login is None or not allow:
        answer = browser.post(f"{base}/abort", allow_redirects=False, timeout=10)
    elif "<title>login</title>" in page:
        answer = browser.post(f"{base}/login", data={"login": login}, allow_redirects=False, timeout=10)
    else:
        answer = browser.post(f"{base}/confirm", allow_redirects=False, timeout=10)
    if not answer.is_redirect:
        raise AssertionError(f"interaction at {base} answered {answer.status_code}: {answer.text[:500]}")
    return urljoin(url, answer.headers["Location"])
