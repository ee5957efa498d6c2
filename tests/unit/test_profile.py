"""One profile rule (``idp.accounts.profile``) for every place a profile is set: sign-up, the
person's own update (hosted account page, CIAM ``PATCH /userinfo``) and the administrator's
``UserService.create/update``. OpenID Connect Core 1.0 5.1's standard claims included."""

from __future__ import annotations

import pytest

from idp.accounts import profile
from idp.context import RequestContext
from idp.errors import IdpError
from tests.factories import users

CTX = RequestContext(ip="127.0.0.1")
CLAIMS = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "middle_name": "King",
    "nickname": "ada",
    "profile": "https://example.com/ada",
    "picture": "http://img.example.com/ada.png",
    "website": "https://ada.example",
    "gender": "female",
    "birthdate": "1815-12-10",
    "zoneinfo": "Europe/London",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birthdate", "1815-12-10"),
        ("birthdate", "0000-02-29"),
        ("birthdate", "1815"),
        ("birthdate", "2024-02-29"),
        ("zoneinfo", "Asia/Shanghai"),
        ("zoneinfo", "UTC"),
        ("website", "https://example.com"),
        ("picture", "http://example.com/a.png?x=1"),
        ("profile", "https://x.io/p"),
        ("gender", "g" * 32),
        ("nickname", "n" * 200),
        ("given_name", "名"),
        ("locale", "zh-CN"),
        ("locale", "zh_Hans"),
        ("username", "ab"),
        ("username", "Zhang.San-1_:+@x"),
    ],
)
def test_accepted(field, value):
    assert profile.checked({field: value}) == {field: value}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birthdate", "1815-13-10"),
        ("birthdate", "2023-02-29"),
        ("birthdate", "0000"),
        ("birthdate", "18151210"),
        ("birthdate", "1815-1-1"),
        ("birthdate", "yesterday"),
        ("birthdate", 1815),
        ("zoneinfo", "Mars/Olympus"),
        ("zoneinfo", "europe/london"),
        ("zoneinfo", ""),
        ("website", "javascript:alert(1)"),
        ("website", "ftp://example.com"),
        ("website", "https://"),
        ("website", "example.com"),
        ("picture", "https://exa mple.com"),
        ("profile", "https://x.io/" + "p" * 2048),
        ("gender", "g" * 33),
        ("nickname", "n" * 201),
        ("given_name", 5),
        ("name", ["x"]),
        ("locale", "not a locale"),
        ("locale", ""),
        ("username", "a"),
        ("username", "-dash"),
        ("username", "张三"),
    ],
)
def test_refused(field, value):
    with pytest.raises(IdpError) as caught:
        profile.checked({field: value})
    assert caught.value.code == f"account.invalid_{field}"


def test_text_is_trimmed_and_blank_or_none_clears():
    assert profile.checked({"name": "  Ada  ", "nickname": "   ", "website": "", "zoneinfo": None}) == {
        "name": "Ada",
        "nickname": None,
        "website": None,
        "zoneinfo": None,
    }


def test_fields_outside_the_allowed_ones_are_refused():
    with pytest.raises(IdpError) as caught:
        profile.checked({"status": "active", "email_verified": True})
    assert caught.value.code == "account.invalid_field"
    with pytest.raises(IdpError) as caught:
        profile.checked({"username": "ada"}, ("name",))
    assert caught.value.code == "account.invalid_field"


def test_only_an_administrator_may_remove_a_username():
    with pytest.raises(IdpError) as caught:
        profile.checked({"username": None})
    assert caught.value.code == "account.invalid_username"
    assert profile.checked({"username": None}, may_clear_username=True) == {"username": None}


# -- every place that sets a profile uses it ------------------------------------------------
def test_the_person_sets_the_standard_claims(services):
    user = users.create(services, "ada", with_password=False)
    services.self_service.update_profile(user.sub, CTX, dict(CLAIMS))
    services.db.session.expire_all()
    stored = services.users.by_sub(user.sub)
    assert {key: getattr(stored, key) for key in CLAIMS} == CLAIMS
    with pytest.raises(IdpError) as caught:
        services.self_service.update_profile(user.sub, CTX, {"website": "javascript:alert(1)"})
    assert caught.value.code == "account.invalid_website"


def test_the_administrator_sets_them_by_the_same_rule(services):
    user = services.users.create({"username": "ada", **CLAIMS}, CTX)
    assert {key: getattr(user, key) for key in CLAIMS} == CLAIMS
    updated = services.users.update(user.sub, {"zoneinfo": "Asia/Shanghai", "nickname": None}, CTX)
    assert (updated.zoneinfo, updated.nickname) == ("Asia/Shanghai", None)
    for bad in (
        {"birthdate": "2023-02-29"},
        {"zoneinfo": "Nowhere/Else"},
        {"locale": "not a locale"},
        {"name": "x" * 201},
        {"username": "a"},
    ):
        with pytest.raises(IdpError) as caught:
            services.users.update(user.sub, bad, CTX)
        assert caught.value.code == f"account.invalid_{next(iter(bad))}"
        with pytest.raises(IdpError):
            services.users.create({"username": "grace", **bad}, CTX)
    assert services.users.search(username="grace") == []
    assert services.users.update(user.sub, {"username": None}, CTX).username is None  # an admin may


def test_sign_up_takes_the_standard_claims(services, seeded, outbox):
    client = seeded.clients.by_client_id("TENANT_CLIENT_ID")
    done = services.signup.sign_up(
        client, CTX, username="ada", password="a long password", profile={"name": "Ada", **CLAIMS}
    )
    assert {key: getattr(done.user, key) for key in CLAIMS} == CLAIMS
    with pytest.raises(IdpError) as caught:
        services.signup.sign_up(
            client, CTX, username="grace", password="a long password", profile={"birthdate": "1906-12-32"}
        )
    assert caught.value.code == "account.invalid_birthdate"
    with pytest.raises(IdpError) as caught:  # the username is its own argument, checked by the same rule
        services.signup.sign_up(client, CTX, username="g", password="a long password")
    assert caught.value.code == "account.invalid_username"
