"""The ``oidc`` and ``oauth2`` kinds against a real OpenID provider (a second Gatehouse)."""

from __future__ import annotations

import pytest

from idp.errors import IdpError
from idp.federation.registry import KINDS, upstream_for
from idp.federation.upstream import UpstreamConfig, UpstreamRequest
from tests.federation.conftest import RP_CLIENT_ID, RP_CLIENT_SECRET, UPSTREAM_EMAIL

CALLBACK = "http://127.0.0.1:1/login/federated/idp-test/callback"


def config(upstream, **changes) -> UpstreamConfig:
    fields = {
        "id": "idp-test",
        "name": "Upstream",
        "kind": "oidc",
        "client_id": RP_CLIENT_ID,
        "client_secret": RP_CLIENT_SECRET,
        "issuer": upstream.issuer,
    }
    fields.update(changes)
    kind = fields["kind"]
    return upstream_for(kind).complete(UpstreamConfig(**fields))


def new_request(state: str = "state-1") -> UpstreamRequest:
    return UpstreamRequest(state=state, nonce="nonce-1", code_verifier="v" * 64, redirect_uri=CALLBACK)


def test_registry_knows_every_kind_and_refuses_others():
    assert KINDS == ("oidc", "oauth2", "github", "google", "apple", "wechat")
    assert upstream_for("oidc") is not None
    with pytest.raises(IdpError) as caught:
        upstream_for("saml")
    assert caught.value.code == "federation.invalid_config"


def test_oidc_signs_in_through_the_upstream(upstream):
    upstream.allow_redirect(CALLBACK)
    cfg, request = config(upstream), new_request()
    oidc = upstream_for("oidc")
    url = oidc.authorization_url(cfg, request)
    assert "code_challenge_method=S256" in url and "nonce=nonce-1" in url and "state=state-1" in url
    landed, callback = upstream.sign_in(url)
    assert landed.startswith(CALLBACK) and callback["state"] == "state-1"
    person = oidc.identity(cfg, request, callback)
    assert person.subject == upstream.user_sub
    assert person.email == UPSTREAM_EMAIL and person.email_verified is True
    assert person.name == "Uma"


def test_oauth2_reads_the_profile_through_the_claim_mapping(upstream):
    upstream.allow_redirect(CALLBACK)
    cfg = config(
        upstream,
        kind="oauth2",
        issuer=None,
        scopes=("openid", "email", "profile"),
        authorization_endpoint=f"{upstream.issuer}/oauth2/authorize",
        token_endpoint=f"{upstream.issuer}/oauth2/token",
        userinfo_endpoint=f"{upstream.issuer}/oauth2/userinfo",
        claim_mapping={"sub": "sub", "email": "email", "name": "preferred_username"},
    )
    request = new_request()
    oauth2 = upstream_for("oauth2")
    _, callback = upstream.sign_in(oauth2.authorization_url(cfg, request))
    person = oauth2.identity(cfg, request, callback)
    assert person.subject == upstream.user_sub
    assert person.email == UPSTREAM_EMAIL and person.email_verified is True
    assert person.name == "uma"


def test_a_wrong_state_or_a_denial_is_refused(upstream):
    upstream.allow_redirect(CALLBACK)
    cfg, request = config(upstream), new_request()
    oidc = upstream_for("oidc")
    _, callback = upstream.sign_in(oidc.authorization_url(cfg, request))
    with pytest.raises(IdpError) as caught:
        oidc.identity(cfg, new_request("another"), callback)
    assert caught.value.code == "federation.invalid_response"
    with pytest.raises(IdpError) as caught:
        oidc.identity(cfg, request, {"error": "access_denied", "state": "state-1"})
    assert caught.value.code == "federation.denied"


def test_a_spent_code_is_refused(upstream):
    upstream.allow_redirect(CALLBACK)
    cfg, request = config(upstream), new_request()
    oidc = upstream_for("oidc")
    _, callback = upstream.sign_in(oidc.authorization_url(cfg, request))
    oidc.identity(cfg, request, callback)
    with pytest.raises(IdpError) as caught:
        oidc.identity(cfg, request, callback)
    assert caught.value.code == "federation.invalid_response"


def test_a_down_upstream_is_unavailable():
    from tests.helpers import free_port

    cfg = upstream_for("oidc").complete(
        UpstreamConfig(
            id="x", name="x", kind="oidc", client_id="c", client_secret="s", issuer=f"http://127.0.0.1:{free_port()}"
        )
    )
    with pytest.raises(IdpError) as caught:
        upstream_for("oidc").authorization_url(cfg, new_request())
    assert caught.value.code == "federation.unavailable"


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": ""},
        {"issuer": "not a url"},
        {"kind": "oauth2", "issuer": None},
        {
            "kind": "oauth2",
            "issuer": None,
            "authorization_endpoint": "https://a",
            "token_endpoint": "https://t",
            "userinfo_endpoint": "https://u",
        },
        {"claim_mapping": {"phone": "x"}},
    ],
)
def test_bad_settings_are_refused(changes):
    fields = {
        "id": "x",
        "name": "x",
        "kind": "oidc",
        "client_id": "c",
        "client_secret": "s",
        "issuer": "https://op.example",
    }
    fields.update(changes)
    with pytest.raises(IdpError) as caught:
        upstream_for(fields["kind"]).complete(UpstreamConfig(**fields))
    assert caught.value.code == "federation.invalid_config"
