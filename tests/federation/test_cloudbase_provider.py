"""CloudBase's "Third-party login" calls (``/auth/v1/provider/uri``, ``/provider/token``,
``/signin/with/provider``) with a second Gatehouse as the upstream: the app, not Gatehouse,
receives the upstream's redirect, so the test plays the app's part with the code it got."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from idp.models import AuditEvent, FederatedLink, User
from tests.conftest import basic
from tests.factories import SECRET, users
from tests.federation.conftest import RP_CLIENT_ID, RP_CLIENT_SECRET, UPSTREAM_EMAIL
from tests.helpers import free_port

SHOP_ID = "SHOP_APP"
SHOP = basic(SHOP_ID, SECRET)
SHOP_CALLBACK = "https://shop.example/federated/callback"
ERROR_KEYS = ["error", "error_code", "error_description"]


@pytest.fixture
def shop(make_app, provider, upstream):
    """An app offering the provider; the upstream knows the app's own callback."""
    upstream.allow_redirect(SHOP_CALLBACK)
    return make_app(
        client_id=SHOP_ID, name="Shop", identity_provider_ids=[provider["id"]], redirect_uris=[SHOP_CALLBACK]
    )


def provider_uri(client, provider_id: str, **query):
    return client.get(
        "/auth/v1/provider/uri",
        query_string={"provider_id": provider_id, "redirect_uri": SHOP_CALLBACK, **query},
        headers=SHOP,
    )


def code_from_upstream(client, upstream, provider_id: str, state: str = "app-state-1") -> str:
    """What the app does: open the provider's URI, let the person sign in there, and read the
    code off its own callback (checking the state it chose came back)."""
    response = provider_uri(client, provider_id, state=state)
    assert response.status_code == 200, response.get_json()
    landed, query = upstream.sign_in(response.get_json()["uri"])
    assert landed.startswith(SHOP_CALLBACK) and query["state"] == state
    return query["code"]


def grant(client, provider_id: str, code: str, redirect_uri: str = SHOP_CALLBACK, headers=SHOP):
    body = {"provider_id": provider_id, "provider_code": code, "provider_redirect_uri": redirect_uri}
    return client.post("/auth/v1/provider/token", json=body, headers=headers)


def sign_in(client, provider_token: str, headers=SHOP, **extra):
    return client.post(
        "/auth/v1/signin/with/provider", json={"provider_token": provider_token, **extra}, headers=headers
    )


def links(services) -> list[FederatedLink]:
    return list(services.db.session.scalars(select(FederatedLink)))


def test_provider_uri_names_the_app_callback_and_state_without_pkce_or_nonce(client, provider, shop):
    response = provider_uri(client, provider["id"], state="xyz")
    assert response.status_code == 200
    assert list(response.get_json()) == ["uri"]
    query = parse_qs(urlsplit(response.get_json()["uri"]).query)
    assert query["client_id"] == [RP_CLIENT_ID] and query["redirect_uri"] == [SHOP_CALLBACK]
    assert query["state"] == ["xyz"] and query["response_type"] == ["code"]
    assert "code_challenge" not in query and "nonce" not in query  # nothing the app could bring back


def test_provider_uri_also_takes_a_json_body(client, provider, shop):
    body = {"provider_id": provider["id"], "redirect_uri": SHOP_CALLBACK, "state": "s1"}
    response = client.post("/auth/v1/provider/uri", json=body, headers=SHOP)
    assert response.status_code == 200
    assert parse_qs(urlsplit(response.get_json()["uri"]).query)["state"] == ["s1"]


def test_the_three_calls_sign_a_new_person_up_linked_and_the_next_time_find_the_link(
    client, services, upstream, provider, shop
):
    code = code_from_upstream(client, upstream, provider["id"])
    granted = grant(client, provider["id"], code)
    assert granted.status_code == 200, granted.get_json()
    body = granted.get_json()
    assert list(body) == ["provider_token", "expires_in", "provider_profile"]
    assert body["expires_in"] == 600
    assert body["provider_profile"] == {
        "provider_id": provider["id"],
        "sub": upstream.user_sub,
        "name": "Uma",
        "email": UPSTREAM_EMAIL,
    }

    signed_in = sign_in(client, body["provider_token"])
    assert signed_in.status_code == 200, signed_in.get_json()
    tokens = signed_in.get_json()
    assert list(tokens) == ["token_type", "access_token", "refresh_token", "expires_in", "sub"]
    user = services.users.by_sub(tokens["sub"])
    assert user.email == UPSTREAM_EMAIL and user.email_verified
    [link] = links(services)
    assert (link.provider_id, link.subject, link.sub) == (provider["id"], upstream.user_sub, user.sub)
    me = client.get("/auth/v1/user/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.get_json()["sub"] == user.sub

    again = grant(client, provider["id"], code_from_upstream(client, upstream, provider["id"], state="app-state-2"))
    assert sign_in(client, again.get_json()["provider_token"]).get_json()["sub"] == user.sub
    assert len(links(services)) == 1
    federated = select(func.count()).select_from(AuditEvent).where(AuditEvent.type == "login.federated")
    assert services.db.session.scalar(federated) == 2


def test_a_provider_token_is_single_use_and_only_for_the_app_it_was_granted_to(
    client, make_app, upstream, provider, shop
):
    other = make_app(client_id="OTHER_APP", identity_provider_ids=[provider["id"]], redirect_uris=[SHOP_CALLBACK])
    first = grant(client, provider["id"], code_from_upstream(client, upstream, provider["id"])).get_json()
    refused = sign_in(client, first["provider_token"], headers=basic(other.client_id, SECRET))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_argument"
    # refused for the other app, and spent: the app it was for cannot use it either now
    assert sign_in(client, first["provider_token"]).status_code == 400

    second = grant(client, provider["id"], code_from_upstream(client, upstream, provider["id"])).get_json()
    assert sign_in(client, second["provider_token"]).status_code == 200
    replay = sign_in(client, second["provider_token"])
    assert replay.status_code == 400
    assert list(replay.get_json()) == ERROR_KEYS and replay.get_json()["error_code"] == 3


def test_a_redirect_uri_the_app_did_not_register_is_refused_at_both_steps(client, upstream, provider, shop):
    stray = provider_uri(client, provider["id"], redirect_uri="https://evil.example/cb")
    assert stray.status_code == 400 and stray.get_json()["error"] == "invalid_argument"
    assert "redirect_uri" in stray.get_json()["error_description"]
    code = code_from_upstream(client, upstream, provider["id"])
    refused = grant(client, provider["id"], code, redirect_uri="https://evil.example/cb")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_argument"
    # without provider_redirect_uri the upstream refuses a code it sent to a redirect URI (RFC
    # 6749 4.1.3): it is for codes a provider's SDK hands the app directly
    missing = client.post(
        "/auth/v1/provider/token", json={"provider_id": provider["id"], "provider_code": code}, headers=SHOP
    )
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_argument"


def test_a_provider_the_app_does_not_offer_is_refused(client, make_app, provider, shop):
    make_app(client_id="PLAIN_APP", redirect_uris=[SHOP_CALLBACK])
    response = client.get(
        "/auth/v1/provider/uri",
        query_string={"provider_id": provider["id"], "redirect_uri": SHOP_CALLBACK},
        headers=basic("PLAIN_APP", SECRET),
    )
    assert response.status_code == 403 and response.get_json()["error"] == "permission_denied"


def test_a_code_the_upstream_does_not_know_is_refused_and_nothing_is_kept(client, services, provider, shop):
    response = grant(client, provider["id"], "not-a-code")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_argument"
    assert links(services) == [] and services.db.session.scalar(select(func.count()).select_from(User)) == 0


def test_an_account_with_the_same_verified_email_is_never_linked_here(client, services, upstream, provider, shop):
    owner = users.create(services, "owner", with_password=True, with_verified_email=UPSTREAM_EMAIL)
    token = grant(client, provider["id"], code_from_upstream(client, upstream, provider["id"])).get_json()
    response = sign_in(client, token["provider_token"])
    assert response.status_code == 409
    assert response.get_json()["error"] == "already_exists" and response.get_json()["error_code"] == 6
    assert links(services) == []
    assert [u.sub for u in services.db.session.scalars(select(User))] == [owner.sub]


def test_force_disable_sign_up_refuses_a_person_without_an_account(client, services, upstream, provider, shop):
    token = grant(client, provider["id"], code_from_upstream(client, upstream, provider["id"])).get_json()
    response = sign_in(client, token["provider_token"], force_disable_sign_up=True)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert services.db.session.scalar(select(func.count()).select_from(User)) == 0


def test_an_unreachable_provider_is_a_503_in_the_cloudbase_shape(client, admin_headers, make_app):
    created = client.post(
        "/admin/api/v1/identity-providers",
        json={
            "name": "Down SSO",
            "kind": "oidc",
            "issuer": f"http://127.0.0.1:{free_port()}",
            "client_id": RP_CLIENT_ID,
            "client_secret": RP_CLIENT_SECRET,
        },
        headers=admin_headers,
    )
    assert created.status_code == 201, created.get_json()
    provider_id = created.get_json()["id"]
    make_app(client_id=SHOP_ID, identity_provider_ids=[provider_id], redirect_uris=[SHOP_CALLBACK])
    response = provider_uri(client, provider_id)
    assert response.status_code == 503
    assert response.get_json()["error"] == "unavailable" and response.get_json()["error_code"] == 14
    assert grant(client, provider_id, "some-code").status_code == 503


def test_the_calls_need_the_application_credentials(client, provider, shop):
    response = client.get("/auth/v1/provider/uri", query_string={"provider_id": provider["id"]})
    assert response.status_code == 401 and response.get_json()["error"] == "unauthenticated"
    assert sign_in(client, "anything", headers=basic(SHOP_ID, "wrong")).status_code == 401
