"""A real upstream OpenID provider on loopback: a second Gatehouse, on its own SQLite file and
its own embedded Redis, served by Werkzeug in a thread. It knows one confidential application
(``RP_CLIENT_ID``) and one person (``UPSTREAM_USERNAME``, verified ``UPSTREAM_EMAIL``); a test
signs in there with ``requests`` like a browser would (hosted login form, CSRF token, POST).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from idp.context import RequestContext
from idp.migrate import upgrade
from tests.conftest import empty_stores, make_overrides
from tests.helpers import free_port

RP_CLIENT_ID = "gatehouse-rp"
RP_CLIENT_SECRET = "rp-secret-at-the-upstream"
UPSTREAM_USERNAME = "uma"
UPSTREAM_PASSWORD = "upstream horse battery"
UPSTREAM_EMAIL = "uma@upstream.example"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CTX = RequestContext(ip="127.0.0.1")


@dataclass
class UpstreamGatehouse:
    """The running upstream: its issuer URL and services, and a browser-like sign-in."""

    issuer: str
    services: object
    user_sub: str
    redirect_uris: list[str] = field(default_factory=list)

    def allow_redirect(self, uri: str) -> None:
        """Register ``uri`` (the relying party's callback) with the upstream application."""
        self.redirect_uris.append(uri)
        self.services.clients.update_application(RP_CLIENT_ID, {"redirect_uris": self.redirect_uris}, CTX)

    def sign_in(
        self, authorization_url: str, username: str = UPSTREAM_USERNAME, password: str = UPSTREAM_PASSWORD
    ) -> tuple[str, dict[str, str]]:
        """Follow ``authorization_url`` to the upstream's login page, sign in there, and follow
        the redirects until they leave the upstream; returns that URL and its query."""
        browser = requests.Session()
        page = browser.get(authorization_url, timeout=10)
        assert page.status_code == 200 and "csrf_token" in page.text, page.text[:300]
        token = CSRF.search(page.text)
        assert token is not None
        response = browser.post(
            page.url,
            data={"csrf_token": token.group(1), "username": username, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        return self.follow(browser, response)

    def follow(self, browser: requests.Session, response: requests.Response) -> tuple[str, dict[str, str]]:
        while response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.issuer):
                return location, dict(parse_qsl(urlsplit(location).query))
            response = browser.get(location, allow_redirects=False, timeout=10)
        raise AssertionError(
            f"the upstream did not send the browser back: {response.status_code} {response.text[:300]}"
        )


def serve(app, port: int):
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def upstream_gatehouse(tmp_path_factory):
    """The second Gatehouse for the whole run (its data reset by ``upstream``)."""
    from app import create_app
    from idp.services import Services
    from idp.settings import load_settings

    folder: Path = tmp_path_factory.mktemp("upstream")
    port = free_port()
    url = f"sqlite:///{folder / 'upstream.db'}"
    upgrade(url)
    overrides = make_overrides(folder, url, issuer=f"http://127.0.0.1:{port}", redis_url="")
    settings = load_settings().with_overrides(overrides).check()
    services = Services.build(settings)
    services.keys.ensure_key()
    server, thread = serve(create_app(services=services), port)
    yield services, settings.issuer
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    services.db.dispose()
    services.redis.close()


@pytest.fixture
def upstream(upstream_gatehouse) -> UpstreamGatehouse:
    """The upstream with fresh data: the relying party's application and one person."""
    from tests.factories import applications, users

    services, issuer = upstream_gatehouse
    empty_stores(services)
    services.clients._forget_all()
    applications.create(
        services,
        client_id=RP_CLIENT_ID,
        client_secret=RP_CLIENT_SECRET,
        name="Relying party",
        redirect_uris=[],
        scopes=["openid", "email", "profile"],
        login_methods=["password"],
    )
    person = users.create(
        services, UPSTREAM_USERNAME, with_password=UPSTREAM_PASSWORD, with_verified_email=UPSTREAM_EMAIL, name="Uma"
    )
    return UpstreamGatehouse(issuer=issuer, services=services, user_sub=person.sub)
