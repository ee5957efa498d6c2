"""The hosted sign-in and the CloudBase face through each kind of upstream end to end: panva's
oidc-provider (an OpenID Certified provider, as a foreign ``oidc`` upstream), and the local
stand-ins of WeChat and Sign in with Apple (``tests/upstreams/standins.py``) behind the
presets, registered through the admin API as an operator would."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from idp.federation.oidc import forget_cached
from idp.models import FederatedLink
from tests.conftest import basic
from tests.factories import SECRET
from tests.federation.test_federated_pages import continue_with
from tests.upstreams.oidc_provider import OidcProviderProcess, sign_in
from tests.upstreams.standins import Grant, OidcStandIn, WeChatStandIn, follow
from tests.web.test_mfa_pages import authorize, code_at_client, id_token_claims

ADA = {"email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace"}
APP_CALLBACK = "https://shop.example/federated/callback"


def register(client, admin_headers, **fields) -> dict:
    response = client.post("/admin/api/v1/identity-providers", json=fields, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def callback(client, landed_query: dict[str, str], provider: dict):
    """The browser arriving at our callback with what the upstream sent."""
    path = urlsplit(provider["redirect_uri"]).path
    return client.get(path, query_string=landed_query)


def the_link(services) -> FederatedLink:
    [link] = services.db.session.scalars(select(FederatedLink))
    return link


# -- panva/oidc-provider: a foreign OpenID provider ---------------------------------------------------


@pytest.fixture
def foreign(client, admin_headers) -> Iterator[tuple[OidcProviderProcess, dict]]:
    """oidc-provider started for the callback our registration names."""
    process = OidcProviderProcess([], {"ada": ADA})
    provider = register(
        client,
        admin_headers,
        name="Foreign SSO",
        kind="oidc",
        issuer=process.issuer,
        client_id=process.client_id,
        client_secret=process.client_secret,
        scopes=["openid", "email", "profile"],
    )
    process.config["redirect_uris"] = [provider["redirect_uri"]]
    process.start()
    try:
        yield process, provider
    finally:
        process.stop()
        forget_cached(f"{process.issuer}/.well-known/openid-configuration")


def test_hosted_sign_in_through_oidc_provider(client, services, make_app, foreign):
    process, provider = foreign
    app = make_app(client_id="RP_APP", identity_provider_ids=[provider["id"]], scopes=["openid", "profile"])
    upstream_url = continue_with(client, authorize(client, app.client_id), "Continue with Foreign SSO")
    assert upstream_url.startswith(process.issuer)
    landed = sign_in(upstream_url, provider["redirect_uri"], login="ada")

    response = callback(client, landed, provider)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    claims = id_token_claims(client, code_at_client(client, response.headers["Location"]), app.client_id)
    assert claims["amr"] == ["fed"]
    user = services.users.by_sub(claims["sub"])
    # oidc-provider keeps the email out of its ID token: it came from its userinfo endpoint
    assert (user.email, user.email_verified, user.name) == ("ada@example.com", True, "Ada Lovelace")
    assert (the_link(services).subject, the_link(services).sub) == ("ada", user.sub)


def test_cancelling_at_oidc_provider_goes_back_to_the_login_page(client, services, make_app, foreign):
    _process, provider = foreign
    app = make_app(client_id="RP_APP", identity_provider_ids=[provider["id"]])
    upstream_url = continue_with(client, authorize(client, app.client_id), "Continue with Foreign SSO")
    landed = sign_in(upstream_url, provider["redirect_uri"], login="ada", allow=False)
    assert landed["error"] == "access_denied"

    response = callback(client, landed, provider)
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    assert list(services.db.session.scalars(select(FederatedLink))) == []


# -- WeChat website login, on the hosted pages and from an app's own screens ---------------------------


@pytest.fixture
def wechat(client, admin_headers) -> Iterator[tuple[WeChatStandIn, dict]]:
    stand_in = WeChatStandIn("wx520c15f417810387", "wechat-secret-0123", "")
    stand_in.start()
    provider = register(
        client,
        admin_headers,
        name="WeChat",
        kind="wechat",
        client_id=stand_in.client_id,
        client_secret=stand_in.client_secret,
        authorization_endpoint=f"{stand_in.url}/connect/qrconnect",
        token_endpoint=f"{stand_in.url}/sns/oauth2/access_token",
        userinfo_endpoint=f"{stand_in.url}/sns/userinfo",
    )
    yield stand_in, provider
    stand_in.stop()


def test_hosted_sign_in_with_wechat_creates_an_account_without_email(client, services, make_app, wechat):
    stand_in, provider = wechat
    stand_in.redirect_uri = provider["redirect_uri"]
    app = make_app(client_id="RP_APP", identity_provider_ids=[provider["id"]], scopes=["openid", "profile"])
    landed = follow(continue_with(client, authorize(client, app.client_id), "Continue with WeChat"))

    response = callback(client, landed, provider)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    claims = id_token_claims(client, code_at_client(client, response.headers["Location"]), app.client_id)
    user = services.users.by_sub(claims["sub"])
    assert claims["amr"] == ["fed"] and user.email is None and user.name == stand_in.user.nickname
    assert the_link(services).subject == stand_in.user.unionid  # unionid: one person across an operator's apps


def test_cloudbase_sign_in_with_wechat_from_an_app(client, services, make_app, wechat):
    """A mobile app's WeChat login through the three CloudBase calls: the code comes back to the
    app's own callback, registered with the application."""
    stand_in, provider = wechat
    stand_in.redirect_uri = APP_CALLBACK
    make_app(client_id="SHOP_APP", identity_provider_ids=[provider["id"]], redirect_uris=[APP_CALLBACK])
    headers = basic("SHOP_APP", SECRET)
    uri = client.get(
        "/auth/v1/provider/uri",
        query_string={"provider_id": provider["id"], "redirect_uri": APP_CALLBACK, "state": "wx-1"},
        headers=headers,
    ).get_json()["uri"]
    assert uri.endswith("#wechat_redirect")
    landed = follow(uri)
    assert landed["state"] == "wx-1"

    granted = client.post(
        "/auth/v1/provider/token",
        json={"provider_id": provider["id"], "provider_code": landed["code"], "provider_redirect_uri": APP_CALLBACK},
        headers=headers,
    )
    assert granted.status_code == 200, granted.get_json()
    body = granted.get_json()
    assert body["provider_profile"]["sub"] == stand_in.user.unionid
    assert body["provider_profile"]["name"] == stand_in.user.nickname and "email" not in body["provider_profile"]
    tokens = client.post(
        "/auth/v1/signin/with/provider", json={"provider_token": body["provider_token"]}, headers=headers
    ).get_json()
    assert tokens["sub"] == the_link(services).sub


# -- Sign in with Apple: form_post, the name of the first authorization -------------------------------


@pytest.fixture
def apple(client, admin_headers) -> Iterator[tuple[OidcStandIn, dict]]:
    stand_in = OidcStandIn("com.example.web", "", "", apple=True, team_id="TEAM123456", key_id="KEY1234567")
    stand_in.start()
    provider = register(
        client,
        admin_headers,
        name="Apple",
        kind="apple",
        issuer=stand_in.url,
        client_id=stand_in.client_id,
        client_secret=stand_in.apple_key.as_pem(private=True).decode(),
        options={"team_id": "TEAM123456", "key_id": "KEY1234567"},
    )
    stand_in.redirect_uri = provider["redirect_uri"]
    yield stand_in, provider
    stand_in.stop()
    forget_cached(f"{stand_in.url}/.well-known/openid-configuration")


def test_hosted_sign_in_with_apple_by_form_post(client, services, make_app, apple):
    stand_in, provider = apple
    app = make_app(client_id="RP_APP", identity_provider_ids=[provider["id"]], scopes=["openid", "profile"])
    fields = follow(continue_with(client, authorize(client, app.client_id), "Continue with Apple"))
    assert "user" in fields  # the first authorization's name, in the posted form

    path = urlsplit(provider["redirect_uri"]).path
    posted = client.post(path, data=fields)  # Apple's cross-site POST: no CSRF token, no cookie needed
    assert posted.status_code == 303
    response = client.get(posted.headers["Location"])
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    claims = id_token_claims(client, code_at_client(client, response.headers["Location"]), app.client_id)
    user = services.users.by_sub(claims["sub"])
    assert claims["amr"] == ["fed"] and the_link(services).subject == stand_in.subject
    assert user.email == "ada@example.com" and user.email_verified  # Apple's "true", as text
    assert user.name  # from the form's user field: Apple's ID token has no name
    assert stand_in.client_secrets_seen  # exchanged with the ES256 client-secret JWT


def test_cloudbase_takes_a_code_from_the_wechat_mobile_sdk_without_a_redirect_uri(client, services, make_app, wechat):
    """WeChat's mobile SDK hands the app a code directly (no redirect): step 2 without
    provider_redirect_uri exchanges it all the same."""
    stand_in, provider = wechat
    make_app(client_id="SHOP_APP", identity_provider_ids=[provider["id"]], redirect_uris=[APP_CALLBACK])
    code = stand_in.issue_code(Grant(stand_in.client_id, "", "snsapi_userinfo"))
    headers = basic("SHOP_APP", SECRET)
    granted = client.post(
        "/auth/v1/provider/token", json={"provider_id": provider["id"], "provider_code": code}, headers=headers
    )
    assert granted.status_code == 200, granted.get_json()
    assert granted.get_json()["provider_profile"]["sub"] == stand_in.user.unionid
    # the same code twice: the provider refuses it, in the CloudBase shape
    again = client.post(
        "/auth/v1/provider/token", json={"provider_id": provider["id"], "provider_code": code}, headers=headers
    )
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_argument"
