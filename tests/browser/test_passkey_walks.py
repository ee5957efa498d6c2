"""Passkeys walked in a real browser: Chromium with a virtual authenticator (the Chrome DevTools
Protocol's WebAuthn domain: a CTAP2 platform authenticator with resident keys and user
verification) adds a passkey on the account page, signs in with it and no password, uses it
as the second step after a password, and removes it; a passkey made for another site (another
RP ID) signs nobody in.

WebAuthn needs a secure context and an RP ID that is a host name, so these tests serve
Gatehouse as ``http://localhost:<port>`` (the issuer, and so the RP ID ``localhost``)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.models import AuditEvent, Passkey
from tests.factories import PASSWORD, users


@pytest.fixture
def settings_overrides(settings_overrides, live_port):
    settings_overrides["issuer"] = f"http://localhost:{live_port}"
    return settings_overrides


@pytest.fixture
def base(live_server, live_port) -> str:
    return f"http://localhost:{live_port}"


@pytest.fixture
def ada(services):
    return users.create(services, "ada", with_password=PASSWORD, with_verified_email="ada@example.com", name="Ada")


def virtual_authenticator(page) -> tuple:
    """A virtual platform authenticator (CTAP 2.1, resident keys, user verification, presence
    given at once) in ``page``'s tab: the CDP session and the authenticator's id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    options = {
        "protocol": "ctap2",
        "ctap2Version": "ctap2_1",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    return cdp, cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


@pytest.fixture
def authenticator(page):
    return virtual_authenticator(page)


# The virtual authenticator answers a conditional (autofill) request at once, as if the person
# had picked the passkey in the username field's suggestions; a test of any other path turns
# autofill off, as a browser without it would be.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"


def credentials(authenticator) -> list[dict]:
    cdp, authenticator_id = authenticator
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def password_sign_in(page, base: str, username: str = "ada") -> None:
    page.goto(base + "/login")
    page.get_by_label("Username, email or phone number").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()


def add_passkey(page, base: str, name: str) -> None:
    page.goto(base + "/account")
    with page.expect_navigation():
        page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name").fill(name)
    with page.expect_navigation():
        page.get_by_role("button", name="Add a passkey").click()


def sign_out(page, base: str) -> None:
    page.goto(base + "/logout")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


def events(services, type_: str) -> list[AuditEvent]:
    services.db.session.expire_all()
    return services.db.session.query(AuditEvent).filter_by(type=type_).order_by(AuditEvent.id).all()


def test_add_a_passkey_then_sign_in_with_it_and_no_password(base, services, ada, page, authenticator, shot):
    page.add_init_script(NO_AUTOFILL)
    password_sign_in(page, base)
    add_passkey(page, base, "My laptop")
    assert "Your passkey was added." in page.locator(".flashes").inner_text()
    assert page.locator("#passkeys").get_by_text("My laptop").is_visible()
    shot("added")
    [held] = credentials(authenticator)
    assert held["isResidentCredential"] is True  # discoverable: found without a username
    [stored] = services.db.session.query(Passkey).filter_by(sub=ada.sub).all()
    assert base64.urlsafe_b64decode(held["credentialId"] + "==") == base64.urlsafe_b64decode(
        stored.credential_id + "=" * (-len(stored.credential_id) % 4)
    )

    sign_out(page, base)
    page.goto(base + "/login")
    username = page.locator("input[name=username]")
    assert username.get_attribute("autocomplete") == "username webauthn"  # passkey autofill
    button = page.get_by_role("button", name="Sign in with a passkey")
    assert button.is_visible()
    shot("login")
    with page.expect_navigation():
        button.click()
    assert page.url == f"{base}/account"
    [success] = [e for e in events(services, "login.success") if (e.details or {}).get("method") == "passkey"]
    assert success.sub == ada.sub
    assert set(success.details["amr"]) >= {"user", "mfa"} and {"hwk", "swk"} & set(success.details["amr"])
    services.db.session.expire_all()
    assert services.db.session.query(Passkey).filter_by(id=stored.id).one().last_used_at is not None


def test_passkey_autofill_signs_in_from_the_username_field(base, services, ada, page, authenticator):
    """Conditional mediation: the login page asks for a passkey as it loads; picking one in the
    username field's suggestions (the virtual authenticator does so at once) signs in."""
    page.add_init_script(NO_AUTOFILL)
    password_sign_in(page, base)
    add_passkey(page, base, "Laptop")
    sign_out(page, base)

    autofill = page.context.new_page()
    cdp, added = virtual_authenticator(autofill)
    for credential in credentials(authenticator):
        cdp.send("WebAuthn.addCredential", {"authenticatorId": added, "credential": credential})
    with autofill.expect_navigation(url=f"{base}/account"):
        autofill.goto(base + "/login")
    assert [e.sub for e in events(services, "login.success") if (e.details or {}).get("method") == "passkey"] == [
        ada.sub
    ]


def test_a_passkey_is_the_second_step_after_a_password(base, services, ada, page, authenticator, shot):
    page.add_init_script(NO_AUTOFILL)
    password_sign_in(page, base)
    add_passkey(page, base, "Phone")
    sign_out(page, base)
    # from now on the account page's application asks a second step of everyone
    services.factors.add_otp(ada.sub, "email", _ctx())

    password_sign_in(page, base)
    assert "/mfa" in page.url
    if "/mfa/passkey" not in page.url:
        with page.expect_navigation():
            page.get_by_role("link", name="Use a passkey").click()
    assert page.get_by_text("Confirm it is you with one of your passkeys.").is_visible()
    shot("mfa")
    with page.expect_navigation():
        page.get_by_role("button", name="Use a passkey").click()
    assert page.url == f"{base}/account"
    [done] = events(services, "mfa.success")
    assert done.details["factor"] == "passkey" and "pwd" in done.details["amr"] and "mfa" in done.details["amr"]


def test_remove_a_passkey(base, services, ada, page, authenticator, shot):
    page.add_init_script(NO_AUTOFILL)
    password_sign_in(page, base)
    add_passkey(page, base, "Old key")
    passkeys = page.locator("#passkeys")
    with page.expect_navigation():
        passkeys.get_by_role("button", name="Remove").click()
    assert "The passkey was removed." in page.locator(".flashes").inner_text()
    assert page.locator("#passkeys").get_by_text("Old key").count() == 0
    assert services.db.session.query(Passkey).filter_by(sub=ada.sub).count() == 0
    shot("removed")

    # the authenticator still holds it, but Gatehouse no longer knows it: no sign-in
    sign_out(page, base)
    page.goto(base + "/login")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in with a passkey").click()
    assert "/login" in page.url
    assert page.locator(".flashes").inner_text().strip() != ""
    assert [e for e in events(services, "login.success") if (e.details or {}).get("method") == "passkey"] == []


def test_a_passkey_of_another_site_signs_nobody_in(base, services, ada, page, authenticator, shot):
    """A credential whose RP ID is another site's: the browser offers it to that site only, so
    "Sign in with a passkey" here finds none, and nobody is signed in."""
    cdp, authenticator_id = authenticator
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator_id,
            "credential": {
                "credentialId": base64.b64encode(b"other-site-credential").decode(),
                "isResidentCredential": True,
                "rpId": "other.example",
                "privateKey": base64.b64encode(pkcs8).decode(),
                "userHandle": base64.b64encode(ada.sub.encode()).decode(),
                "signCount": 0,
            },
        },
    )
    page.add_init_script(NO_AUTOFILL)
    page.goto(base + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    message = page.locator("form.passkey [data-passkey-message]")
    message.wait_for(state="visible")
    assert "No passkey was used" in message.inner_text()
    assert "/login" in page.url
    shot("other-site")
    assert [e for e in events(services, "login.success")] == []


def _ctx():
    from idp.context import RequestContext

    return RequestContext(ip="127.0.0.1", user_agent="a test")
