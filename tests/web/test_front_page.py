"""The front page (GET /): what this server is and where to go, as HTML (English and
Simplified Chinese, the hosted pages' headers) or JSON, with absolute links from the issuer."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import text

ISSUER = "https://id.example.test/tenant"


@pytest.fixture
def settings_overrides(settings_overrides):
    # another issuer than the test client's host: the links must come from GATEHOUSE_ISSUER
    settings_overrides["issuer"] = ISSUER
    return settings_overrides


def hrefs(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', html)


def test_front_page_links_the_demo_the_account_and_discovery(client):
    response = client.get("/", headers={"Accept": "text/html", "Accept-Language": "en"})

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = text(response)
    assert '<html lang="en">' in html
    assert "Gatehouse identity service" in html
    links = hrefs(html)
    for url in (
        f"{ISSUER}/demo",
        f"{ISSUER}/account",
        f"{ISSUER}/.well-known/openid-configuration",
        f"{ISSUER}/dev/outbox",
    ):
        assert url in links
    assert "Accept" in response.vary and "Accept-Language" in response.vary


def test_front_page_has_the_hosted_pages_security_headers(client, signed_in):
    front = client.get("/")
    account = client.get("/account")

    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert front.headers[header] == account.headers[header], header
    assert "frame-ancestors 'none'" in front.headers["Content-Security-Policy"]
    assert "<script>" not in text(front) and "style=" not in text(front)  # nothing inline for the CSP to block


@pytest.mark.parametrize(
    "ask", [{"headers": {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}}, {"query_string": {"ui_locales": "zh-CN"}}]
)
def test_front_page_in_simplified_chinese(client, ask):
    html = text(client.get("/", **ask))

    assert '<html lang="zh-Hans">' in html
    assert "Gatehouse 身份服务" in html
    assert "试用演示应用" in html and "OpenID Connect 发现文档" in html
    assert "Try the demo app" not in html


def test_front_page_as_json(client):
    response = client.get("/", headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.get_json() == {
        "service": "Gatehouse",
        "issuer": ISSUER,
        "links": {
            "demo": f"{ISSUER}/demo",
            "account": f"{ISSUER}/account",
            "openid_configuration": f"{ISSUER}/.well-known/openid-configuration",
            "dev_outbox": f"{ISSUER}/dev/outbox",
        },
    }


def test_every_front_page_link_answers(client):
    issuer_links = client.get("/", headers={"Accept": "application/json"}).get_json()["links"]

    for url in issuer_links.values():
        response = client.get(url.removeprefix(ISSUER))
        assert response.status_code in (200, 302), url  # /account sends a stranger to sign in


def test_production_hides_the_development_links(settings_overrides):
    from app import create_app
    from idp.services import Services
    from idp.settings import load_settings

    settings = load_settings().with_overrides({**settings_overrides, "env": "production"})
    app = create_app(services=Services.build(settings))
    try:
        client = app.test_client()
        html = text(client.get("/", headers={"Accept-Language": "en"}))
        body = client.get("/", headers={"Accept": "application/json"}).get_json()
        demo = client.get("/demo")
    finally:
        app.extensions["gatehouse"].db.engine.dispose()

    assert demo.status_code == 404  # the route itself is gone, not only the link
    assert body["links"] == {
        "account": f"{ISSUER}/account",
        "openid_configuration": f"{ISSUER}/.well-known/openid-configuration",
    }
    assert hrefs(html)[:2] == [f"{ISSUER}/account", f"{ISSUER}/.well-known/openid-configuration"]
    assert "/demo" not in html and "/dev/outbox" not in html and "Development only" not in html
