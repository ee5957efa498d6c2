"""Passkeys on real parts (the SQL database, Redis): registration and sign-in ceremonies
answered by the software authenticator of tests/passkeys.py, verified by the service."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.errors import IdpError
from idp.flows.mfa import NeedsFactor
from idp.models import AuditEvent, Passkey
from idp.store import Keys
from tests.factories import CTX, PASSWORD, applications, users
from tests.passkeys import SoftAuthenticator, b64url


def register(services, user, key: SoftAuthenticator, name: str = "Laptop") -> Passkey:
    challenge = services.passkeys.registration_options(user.sub, CTX)
    return services.passkeys.register(user.sub, challenge.handle, key.create(challenge.options), name, CTX)


def sign_in(services, key: SoftAuthenticator, sub: str | None = None, **kwargs):
    options = services.passkeys.authentication_options(sub)
    return services.passkeys.authenticate(options.handle, key.get(options.options, **kwargs), CTX, expected_sub=sub)


def events(services, type_: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.id)
    return list(services.db.session.scalars(query))


def refused(code: str, call, *args, **kwargs) -> IdpError:
    with pytest.raises(IdpError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


# -- registration ------------------------------------------------------------------------------
def test_registration_options_follow_the_relying_party_rules(services):
    user = users.create(services)
    first = SoftAuthenticator()
    register(services, user, first)

    challenge = services.passkeys.registration_options(user.sub, CTX)
    options = challenge.options
    assert options["rp"] == {"id": "127.0.0.1", "name": "Gatehouse"}
    assert options["user"]["id"] == b64url(user.sub.encode()) and options["user"]["name"] == user.username
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    # the person's passkeys are excluded, so an authenticator does not make a second one
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(first.credential_id)]
    assert json.loads(challenge.options_json) == options
    # only the hash of the handle names the key
    assert services.redis.exists(Keys.passkey_challenge(challenge.handle)) == 0


def test_registration_keeps_the_credential_and_is_audited(services):
    user = users.create(services)
    key = SoftAuthenticator(backup_eligible=True, backed_up=True, sign_count=7)
    before = services.factors.sequence(user.sub)

    passkey = register(services, user, key, "  My   phone ")

    stored = services.passkeys.list(user.sub)
    assert [p.id for p in stored] == [passkey.id]
    row = stored[0]
    assert row.credential_id == b64url(key.credential_id) and row.public_key == key.cose_key()
    assert (row.name, row.sign_count, row.backup_eligible, row.backup_state) == ("My phone", 7, True, True)
    assert row.transports == ["internal", "hybrid"] and row.aaguid == "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
    assert row.last_used_at is None and len(row.id) >= 16
    assert services.factors.sequence(user.sub) == before + 1
    [added] = events(services, "passkey.add")
    assert added.result == "success" and added.sub == user.sub


def test_a_blank_name_is_passkey_and_a_long_one_is_refused(services):
    user = users.create(services)
    assert register(services, user, SoftAuthenticator(), "").name == "Passkey"
    challenge = services.passkeys.registration_options(user.sub, CTX)
    refused(
        "passkey.invalid_name",
        services.passkeys.register,
        user.sub,
        challenge.handle,
        SoftAuthenticator().create(challenge.options),
        "x" * 65,
        CTX,
    )


@pytest.mark.parametrize(
    ("authenticator", "what"),
    [
        (SoftAuthenticator(origin="https://evil.example"), "another origin"),
        (SoftAuthenticator(rp_id="evil.example"), "another relying party"),
        (SoftAuthenticator(uv=False), "no user verification"),
    ],
    ids=["origin", "rp_id", "uv"],
)
def test_registration_refuses_a_credential_that_fails_a_check(services, authenticator, what):
    user = users.create(services)
    challenge = services.passkeys.registration_options(user.sub, CTX)
    refused(
        "passkey.registration_failed",
        services.passkeys.register,
        user.sub,
        challenge.handle,
        authenticator.create(challenge.options),
        None,
        CTX,
    )
    assert services.passkeys.list(user.sub) == [], what
    [failure] = events(services, "passkey.add")
    assert failure.result == "failure" and failure.details["reason"] == "passkey.registration_failed"


def test_a_challenge_serves_one_registration(services):
    user = users.create(services)
    challenge = services.passkeys.registration_options(user.sub, CTX)
    services.passkeys.register(user.sub, challenge.handle, SoftAuthenticator().create(challenge.options), None, CTX)
    again = SoftAuthenticator().create(challenge.options)
    refused("passkey.invalid_challenge", services.passkeys.register, user.sub, challenge.handle, again, None, CTX)
    assert len(services.passkeys.list(user.sub)) == 1


def test_a_response_to_another_challenge_is_refused(services):
    user = users.create(services)
    issued = services.passkeys.registration_options(user.sub, CTX)
    other = services.passkeys.registration_options(user.sub, CTX)
    answer = SoftAuthenticator().create(issued.options, challenge=other.options["challenge"])
    refused("passkey.registration_failed", services.passkeys.register, user.sub, issued.handle, answer, None, CTX)


def test_a_challenge_expires_after_five_minutes(services, clock):
    user = users.create(services)
    challenge = services.passkeys.registration_options(user.sub, CTX)
    assert 0 < services.redis.ttl(Keys.passkey_challenge(_hash(challenge.handle))) <= 300
    clock.advance(301)
    answer = SoftAuthenticator().create(challenge.options)
    refused("passkey.invalid_challenge", services.passkeys.register, user.sub, challenge.handle, answer, None, CTX)


def test_a_challenge_of_another_person_is_refused(services):
    ada, bob = users.create(services), users.create(services)
    challenge = services.passkeys.registration_options(ada.sub, CTX)
    answer = SoftAuthenticator().create(challenge.options)
    refused("passkey.invalid_challenge", services.passkeys.register, bob.sub, challenge.handle, answer, None, CTX)
    assert services.passkeys.list(bob.sub) == [] and services.passkeys.list(ada.sub) == []


def test_the_same_credential_is_registered_once(services):
    ada, bob = users.create(services), users.create(services)
    key = SoftAuthenticator()
    register(services, ada, key)
    challenge = services.passkeys.registration_options(bob.sub, CTX)
    refused(
        "passkey.exists",
        services.passkeys.register,
        bob.sub,
        challenge.handle,
        key.create(challenge.options),
        None,
        CTX,
    )


def test_a_sign_in_challenge_does_not_register(services):
    user = users.create(services)
    options = services.passkeys.registration_options(user.sub, CTX).options
    sign_in_handle = services.passkeys.authentication_options(user.sub).handle
    answer = SoftAuthenticator().create(options)
    refused("passkey.invalid_challenge", services.passkeys.register, user.sub, sign_in_handle, answer, None, CTX)


# -- authentication ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("backup_eligible", "first"), [(False, "hwk"), (True, "swk")], ids=["device-bound", "synced"])
def test_a_discoverable_sign_in_names_the_person(services, backup_eligible, first):
    ada, bob = users.create(services), users.create(services)
    key = SoftAuthenticator(backup_eligible=backup_eligible)
    register(services, ada, key)
    register(services, bob, SoftAuthenticator())

    options = services.passkeys.authentication_options(None)
    assert options.options["allowCredentials"] == [] and options.options["userVerification"] == "required"
    assert options.options["rpId"] == "127.0.0.1"
    user, passkey, amr = services.passkeys.authenticate(options.handle, json.dumps(key.get(options.options)), CTX)

    assert user.sub == ada.sub and passkey.credential_id == b64url(key.credential_id)
    assert amr == [first, "user", "mfa"]
    assert services.passkeys.get(ada.sub, passkey.id).last_used_at is not None


def test_the_second_step_names_the_persons_passkeys_only(services):
    ada, bob = users.create(services), users.create(services)
    key = SoftAuthenticator()
    register(services, ada, key)
    register(services, bob, SoftAuthenticator())
    options = services.passkeys.authentication_options(ada.sub)
    assert [c["id"] for c in options.options["allowCredentials"]] == [b64url(key.credential_id)]
    user, _, _ = services.passkeys.authenticate(options.handle, key.get(options.options), CTX, expected_sub=ada.sub)
    assert user.sub == ada.sub
    # another person's passkey does not pass a step meant for ada
    refused("passkey.authentication_failed", sign_in, services, key, bob.sub)


def test_a_challenge_issued_for_one_person_is_not_anothers(services):
    ada, bob = users.create(services), users.create(services)
    key = SoftAuthenticator()
    register(services, ada, key)
    options = services.passkeys.authentication_options(ada.sub)
    answer = key.get(options.options)
    refused(
        "passkey.invalid_challenge", services.passkeys.authenticate, options.handle, answer, CTX, expected_sub=bob.sub
    )


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"origin": "https://evil.example"}, "another origin"),
        ({"rp_id": "evil.example"}, "a credential of another relying party"),
        ({"uv": False}, "no user verification"),
    ],
    ids=["origin", "rp_id", "uv"],
)
def test_sign_in_refuses_an_assertion_that_fails_a_check(services, change, what):
    user = users.create(services)
    key = SoftAuthenticator()
    register(services, user, key)
    for name, value in change.items():
        setattr(key, name, value)
    refused("passkey.authentication_failed", sign_in, services, key)
    assert services.passkeys.list(user.sub)[0].last_used_at is None, what


def test_sign_in_refuses_a_forged_signature_an_unknown_credential_and_a_wrong_user_handle(services):
    user = users.create(services)
    key = SoftAuthenticator()
    register(services, user, key)
    impostor = SoftAuthenticator()
    impostor.credential_id, impostor.user_handle = key.credential_id, key.user_handle  # another private key
    refused("passkey.authentication_failed", sign_in, services, impostor)
    stranger = SoftAuthenticator()
    stranger.user_handle = user.sub.encode()
    refused("passkey.authentication_failed", sign_in, services, stranger)
    refused("passkey.authentication_failed", sign_in, services, key, user_handle=b"someone-else")
    # a discoverable sign-in must say whose credential it is
    refused("passkey.authentication_failed", sign_in, services, key, user_handle=None)
    assert sign_in(services, key)[0].sub == user.sub


def test_a_sign_in_challenge_is_used_once(services):
    user = users.create(services)
    key = SoftAuthenticator()
    register(services, user, key)
    options = services.passkeys.authentication_options(None)
    answer = key.get(options.options)
    services.passkeys.authenticate(options.handle, answer, CTX)
    refused("passkey.invalid_challenge", services.passkeys.authenticate, options.handle, answer, CTX)
    refused("passkey.invalid_challenge", services.passkeys.authenticate, "made-up", answer, CTX)


def test_a_sign_in_challenge_expires(services, clock):
    user = users.create(services)
    key = SoftAuthenticator()
    register(services, user, key)
    options = services.passkeys.authentication_options(None)
    clock.advance(300)
    refused("passkey.invalid_challenge", services.passkeys.authenticate, options.handle, key.get(options.options), CTX)


def test_the_signature_counter_must_grow(services):
    user = users.create(services)
    key = SoftAuthenticator(sign_count=5, counter_step=1)
    passkey = register(services, user, key)
    sign_in(services, key)
    assert services.passkeys.get(user.sub, passkey.id).sign_count == 6

    key.sign_count, key.counter_step = 6, 0  # a clone that answers with a counter already seen
    refused("passkey.sign_count_regressed", sign_in, services, key)
    assert services.passkeys.get(user.sub, passkey.id).sign_count == 6
    [event] = events(services, "passkey.sign_count_regressed")
    assert event.result == "failure" and event.sub == user.sub
    assert (event.details["stored_sign_count"], event.details["sign_count"]) == (6, 6)

    key.sign_count = 0  # a counter that went back to nothing is no better
    refused("passkey.sign_count_regressed", sign_in, services, key)


def test_a_passkey_that_never_counts_signs_in_every_time(services):
    user = users.create(services)
    key = SoftAuthenticator(sign_count=0, counter_step=0)
    register(services, user, key)
    for _ in range(3):
        assert sign_in(services, key)[0].sub == user.sub
    assert events(services, "passkey.sign_count_regressed") == []


def test_the_backup_state_follows_the_authenticator_and_eligibility_stays(services):
    user = users.create(services)
    key = SoftAuthenticator(backup_eligible=True, backed_up=False)
    passkey = register(services, user, key)
    key.backed_up = True
    _, used, amr = sign_in(services, key)
    assert used.backup_state
    row = services.passkeys.get(user.sub, passkey.id)
    assert (row.backup_eligible, row.backup_state) == (True, True) and amr[0] == "swk"


def _hash(handle: str) -> str:
    from idp.crypto import hash_secret

    return hash_secret(handle)


# -- removal ----------------------------------------------------------------------------------------
def test_remove_is_audited_and_another_persons_passkey_is_not_found(services):
    ada, bob = users.create(services), users.create(services)
    key = SoftAuthenticator()
    passkey = register(services, ada, key)
    refused("passkey.not_found", services.passkeys.remove, bob.sub, passkey.id, CTX)
    assert len(services.passkeys.list(ada.sub)) == 1

    services.passkeys.remove(ada.sub, passkey.id, CTX)
    assert services.passkeys.list(ada.sub) == []
    [event] = events(services, "passkey.remove")
    assert event.sub == ada.sub and event.details["passkey_id"] == passkey.id
    refused("passkey.not_found", services.passkeys.remove, ada.sub, passkey.id, CTX)
    refused("passkey.authentication_failed", sign_in, services, key)


# -- outage ------------------------------------------------------------------------------------------
def test_a_redis_outage_is_store_unavailable(own_redis, services):
    user = users.create(services)
    own_redis.stop()
    refused("store.unavailable", services.passkeys.registration_options, user.sub, CTX)
    refused("store.unavailable", services.passkeys.authentication_options, None)
    refused("store.unavailable", services.passkeys.authenticate, "some-handle", {}, CTX)
    refused("store.unavailable", services.passkeys.register, user.sub, "some-handle", {}, None, CTX)
    own_redis.start()
    assert events(services, "passkey.add") == []  # an outage is answered, not recorded as a refusal


# -- signing in (LoginFlow) ---------------------------------------------------------------------------
def passkey_login(services, client, key: SoftAuthenticator, **kwargs):
    options = services.login.passkey_options(client, CTX)
    return services.login.passkey(client, CTX, options.handle, key.get(options.options, **kwargs))


def test_a_passkey_sign_in_completes_with_two_factors_and_no_second_step(services):
    from idp.sessions.store import ACR_MULTI_FACTOR, acr_for

    client = applications.create(services, mfa="required", login_methods=["password", "passkey"])
    user = users.create(services, with_totp=True)
    key = SoftAuthenticator()
    register(services, user, key)

    done = passkey_login(services, client, key)

    assert done.user.sub == user.sub and done.amr == ["hwk", "user", "mfa"]
    assert acr_for(done.amr) == ACR_MULTI_FACTOR
    # the application requires a second factor, and the passkey already was one
    assert services.mfa.after_first_factor(client, CTX, done) is done
    [success] = events(services, "login.success")
    assert success.sub == user.sub and success.details["method"] == "passkey"
    assert success.details["amr"] == ["hwk", "user", "mfa"]


def test_an_application_offers_passkeys_only_when_its_login_methods_say_so(services):
    client = applications.create(services, login_methods=["password"])
    user = users.create(services)
    register(services, user, SoftAuthenticator())
    refused("login.method_disabled", services.login.passkey_options, client, CTX)
    handle = services.passkeys.authentication_options(None).handle
    refused("login.method_disabled", services.login.passkey, client, CTX, handle, {})
    assert {e.details["method"] for e in events(services, "login.failure")} == {"passkey"}


def test_a_locked_or_disabled_account_does_not_sign_in_with_a_passkey(services):
    client = applications.create(services, login_methods=["passkey"])
    user = users.create(services)
    key = SoftAuthenticator()
    register(services, user, key)

    services.users.update(user.sub, {"status": "locked"}, CTX)
    refused("account.abnormal_status", passkey_login, services, client, key)
    services.users.update(user.sub, {"status": "active"}, CTX)

    # the brute-force policy's temporary lock, as after too many wrong passwords
    for _ in range(services.settings.limits.login_lock_after):
        services.bruteforce.failed(user.sub, CTX, sub=user.sub)
    refused("account.locked", passkey_login, services, client, key)
    failures = events(services, "login.failure")
    assert [e.details["reason"] for e in failures] == ["account.abnormal_status", "account.locked"]
    assert {e.sub for e in failures} == {user.sub} and events(services, "login.success") == []


def test_a_refused_passkey_counts_as_a_failed_sign_in(services):
    client = applications.create(services, login_methods=["passkey"])
    user = users.create(services)
    key = SoftAuthenticator()
    register(services, user, key)
    key.uv = False
    for _ in range(services.settings.limits.login_lock_after):
        refused("passkey.authentication_failed", passkey_login, services, client, key)
    key.uv = True
    refused("account.locked", passkey_login, services, client, key)
    assert events(services, "login.failure")[0].details["reason"] == "passkey.authentication_failed"


def test_the_admin_api_accepts_passkey_as_a_login_method(services):
    client = applications.create(services, login_methods=["passkey", "password"])
    assert client.login_methods == ["passkey", "password"]


# -- the second step (MfaFlow) --------------------------------------------------------------------------
def test_a_passkey_is_a_second_factor_after_a_password(services):
    client = applications.create(services, mfa="required", login_methods=["password"])
    user = users.create(services, with_totp=True)
    key = SoftAuthenticator(backup_eligible=True)
    register(services, user, key)
    other = users.create(services)
    other_key = SoftAuthenticator()
    register(services, other, other_key)

    done = services.login.password(client, CTX, user.username, PASSWORD)
    needs = services.mfa.after_first_factor(client, CTX, done)
    assert isinstance(needs, NeedsFactor) and needs.passkey
    options = services.mfa.passkey_options(client, CTX, needs.state_token)
    assert [c["id"] for c in options.options["allowCredentials"]] == [b64url(key.credential_id)]

    # another person's passkey does not finish ada's step
    refused(
        "passkey.authentication_failed",
        services.mfa.verify_passkey,
        client,
        CTX,
        needs.state_token,
        options.handle,
        other_key.get(options.options),
    )
    options = services.mfa.passkey_options(client, CTX, needs.state_token)
    completed = services.mfa.verify_passkey(client, CTX, needs.state_token, options.handle, key.get(options.options))
    assert completed.user.sub == user.sub and completed.amr == ["pwd", "swk", "user", "mfa"]
    refused("mfa.invalid_state_token", services.mfa.peek, client, CTX, needs.state_token)


def test_no_passkey_no_passkey_step(services):
    client = applications.create(services, mfa="required", login_methods=["password"])
    user = users.create(services, with_totp=True)
    needs = services.mfa.after_first_factor(client, CTX, services.login.password(client, CTX, user.username, PASSWORD))
    assert isinstance(needs, NeedsFactor) and not needs.passkey
    refused("mfa.factor_not_allowed", services.mfa.passkey_options, client, CTX, needs.state_token)
