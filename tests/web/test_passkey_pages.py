"""The hosted pages' passkey forms through Flask's test client, with the software
authenticator of ``tests.passkeys``: add one on the account page (only after a recent sign-in),
sign in with it from the login page, use it as the second step, remove it."""

from __future__ import annotations

import json
import re

from idp.factors.passkeys import RECENT_SIGN_IN
from idp.models import Passkey
from tests.passkeys import SoftAuthenticator
from tests.web.conftest import csrf_token, text

OPTIONS = re.compile(r'<script type="application/json" id="passkey-options">(.*?)</script>', re.S)
HANDLE = re.compile(r'name="handle" type="hidden" value="([^"]+)"')


def options_and_handle(html: str) -> tuple[dict, str]:
    options, handle = OPTIONS.search(html), HANDLE.search(html)
    assert options and handle, "no passkey challenge in the page"
    return json.loads(options.group(1)), handle.group(1)


def add_passkey(client, authenticator: SoftAuthenticator, name: str = "Laptop"):
    page = text(client.get("/account/passkeys/new"))
    options, handle = options_and_handle(page)
    credential = authenticator.create(options)
    data = {"csrf_token": csrf_token(page), "handle": handle, "credential": json.dumps(credential), "name": name}
    return client.post("/account/passkeys/new", data=data)


def test_add_then_sign_in_with_the_passkey(client, services, user, signed_in):
    authenticator = SoftAuthenticator()
    response = add_passkey(client, authenticator, "Laptop")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account#passkeys")
    account = text(client.get("/account"))
    assert "Laptop" in account and "Remove" in account
    [stored] = services.passkeys.list(user.sub)
    assert stored.name == "Laptop"

    client.delete_cookie("gh_sso")
    login = text(client.get("/login"))
    assert 'autocomplete="username webauthn"' in login and "Sign in with a passkey" in login
    options, handle = options_and_handle(login)
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    data = {"csrf_token": csrf_token(login), "handle": handle, "credential": json.dumps(authenticator.get(options))}
    response = client.post("/login/passkey", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    assert "Alice" in text(client.get("/account"))


def test_a_refused_passkey_goes_back_to_the_login_page_with_the_reason(client, services, user, signed_in):
    authenticator = SoftAuthenticator()
    assert add_passkey(client, authenticator).status_code == 302
    client.delete_cookie("gh_sso")
    login = text(client.get("/login"))
    options, handle = options_and_handle(login)
    forged = SoftAuthenticator()  # another key under the same credential id
    forged.credential_id, forged.user_handle = authenticator.credential_id, authenticator.user_handle
    data = {"csrf_token": csrf_token(login), "handle": handle, "credential": json.dumps(forged.get(options))}
    response = client.post("/login/passkey", data=data, follow_redirects=True)
    assert response.request.path == "/login"
    assert "This passkey was not accepted. Try another way to sign in." in text(response)
    assert client.get("/account").status_code == 302  # not signed in


def test_adding_a_passkey_needs_a_recent_sign_in(client, services, clock, user, signed_in):
    clock.advance(RECENT_SIGN_IN + 1)
    page = text(client.get("/account/passkeys/new"))
    assert "Sign in again" in page and "passkey-options" not in page
    # the POST of a page opened earlier is refused the same way: nothing is added
    credential = SoftAuthenticator().create({"challenge": "x", "rp": {"id": "127.0.0.1"}, "user": {"id": "eA"}})
    client.post(
        "/account/passkeys/new",
        data={"csrf_token": csrf_token(page), "handle": "h", "credential": json.dumps(credential), "name": "x"},
    )
    assert services.passkeys.list(user.sub) == []
    response = client.post("/account/passkeys/reauthenticate", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.get("/account").status_code == 302  # signed out: sign in again


def test_remove_a_passkey(client, services, user, signed_in):
    assert add_passkey(client, SoftAuthenticator()).status_code == 302
    [passkey] = services.passkeys.list(user.sub)
    account = text(client.get("/account"))
    response = client.post(f"/account/passkeys/{passkey.id}/remove", data={"csrf_token": csrf_token(account)})
    assert response.status_code == 302
    assert services.db.session.query(Passkey).filter_by(sub=user.sub).count() == 0


def test_someone_elses_passkey_cannot_be_removed(client, services, user, signed_in):
    from tests.factories import users

    bob = users.create(services, "bob", with_password=False)
    assert add_passkey(client, SoftAuthenticator()).status_code == 302
    [alices] = services.passkeys.list(user.sub)
    services.db.session.query(Passkey).filter_by(id=alices.id).update({"sub": bob.sub})
    services.db.session.commit()
    account = text(client.get("/account"))
    client.post(f"/account/passkeys/{alices.id}/remove", data={"csrf_token": csrf_token(account)})
    assert services.db.session.query(Passkey).filter_by(id=alices.id).count() == 1


def test_a_passkey_sign_in_meets_a_required_mfa_policy(client, services, make_app, user, signed_in):
    """An application that requires a second factor and offers passkeys: the passkey alone
    gets the code (no MFA page), and the ID token says what was checked."""
    from tests.web.test_mfa_pages import authorize, code_at_client, id_token_claims

    authenticator = SoftAuthenticator()
    assert add_passkey(client, authenticator).status_code == 302
    client.delete_cookie("gh_sso")
    bank = make_app(client_id="PASSKEY_BANK", mfa="required", login_methods=["password", "passkey"])

    login_url = authorize(client, bank.client_id)
    page = text(client.get(login_url))
    options, handle = options_and_handle(page)
    data = {"csrf_token": csrf_token(page), "handle": handle, "credential": json.dumps(authenticator.get(options))}
    action = re.search(r'action="([^"]*/login/passkey[^"]*)"', page).group(1).replace("&amp;", "&")
    done = client.post(action, data=data)
    assert done.status_code == 302 and "/mfa" not in done.headers["Location"]
    claims = id_token_claims(client, code_at_client(client, done.headers["Location"]), bank.client_id)
    assert claims["sub"] == user.sub
    assert claims["amr"] == ["hwk", "user", "mfa"] and claims["acr"].endswith(":2fa")
