"""The password policy (NIST SP 800-63B 5.1.1.2): length, no truncation, no composition rules,
the common-password list, and rehash when the argon2 parameters change."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from idp.accounts import passwords
from idp.context import RequestContext
from idp.errors import IdpError, Kind
from tests.factories import applications, users

CTX = RequestContext(ip="127.0.0.1")
CHEAP = passwords.Passwords(time_cost=1, memory_kib=8)


def code_of(password: str) -> str | None:
    try:
        passwords.check_acceptable(password)
    except IdpError as exc:
        return f"{exc.code}" if exc.kind is Kind.INVALID_INPUT else f"{exc.code} (wrong kind {exc.kind})"
    return None


# -- length ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("", "password.too_short"),
        ("x7#kQ2p", "password.too_short"),  # 7
        ("x7#kQ2pz", None),  # 8
        ("ж" * 7, "password.too_short"),  # characters, not bytes
        ("ж" * 8, None),
        ("v" * 255 + "w", None),  # 256
        ("v" * 256 + "w", "password.too_long"),
    ],
)
def test_length_bounds(password, code):
    assert code_of(password) == code


def test_hash_password_enforces_the_policy():
    for bad in ("short", "password", "x" * 300):
        with pytest.raises(IdpError):
            CHEAP.hash(bad)


@pytest.mark.parametrize(
    "password",
    [
        "v" * 199 + "a",  # 200 ASCII characters, past bcrypt's 72 bytes
        "密码" * 99 + "长a",  # 200 characters, 599 bytes of UTF-8
    ],
)
def test_long_passwords_are_not_truncated(password):
    stored = CHEAP.hash(password)
    assert passwords.verify_password(stored, password)
    assert not passwords.verify_password(stored, password[:-1] + "b")  # only the last character differs
    assert not passwords.verify_password(stored, password[:72])
    assert not passwords.verify_password(stored, password + "a")


# -- no composition rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",  # lowercase letters and spaces only
        "mytwocatsarecalledmiloandnala",
        "4417 2938 5561 0073",  # digits only
        "ПарольБезЦифр",
        "        tab\tand spaces",
    ],
)
def test_no_composition_rules(password):
    assert code_of(password) is None
    assert passwords.verify_password(CHEAP.hash(password), password)


# -- common passwords --------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "PASSWORD",
        "PassWord",
        "12345678",
        "iloveyou",
        "ILoveYou",
        "baseball",
        "qwertyuiop",
        "QwErTyUiOp",
        "trustno1",
        "football1",
        "1q2w3e4r",
        "sunshine",
        "Princess",
    ],
)
def test_common_passwords_are_rejected_in_any_case(password):
    assert code_of(password) == "password.too_common"


def test_the_bundled_list():
    common = passwords.common_passwords()
    assert isinstance(common, frozenset)
    assert len(common) == 10_000
    assert passwords.common_passwords() is common  # read once
    assert all(len(p) >= passwords.MIN_LENGTH and p == p.lower() for p in common)
    assert not any(p.startswith("#") for p in common)  # the header is not a password


def test_uncommon_near_misses_pass():
    assert code_of("password is not my password") is None
    assert code_of(" password") is None  # a different string; nothing is stripped


def test_every_way_to_set_a_password_rejects_common_ones(services):
    with pytest.raises(IdpError, match=r"password\.too_common"):
        users.create(services, "c1", with_password="Sunshine")
    assert services.users.search(username="c1") == []
    user = users.create(services, "c2", with_password="an uncommon phrase")
    with pytest.raises(IdpError, match=r"password\.too_common"):
        services.users.update(user.sub, {"password": "Sunshine"}, CTX)
    with pytest.raises(IdpError, match=r"password\.too_common"):
        services.self_service.change_password(user.sub, CTX, old_password="an uncommon phrase", new_password="Sunshine")
    stored = services.users.by_sub(user.sub)
    services.db.session.refresh(stored)
    assert passwords.verify_password(stored.password_hash, "an uncommon phrase")


# -- rehash and helpers --------------------------------------------------------------------


def test_needs_rehash_follows_the_current_parameters():
    current = CHEAP.hash("an uncommon phrase")
    assert CHEAP.needs_rehash(current) is False
    older = passwords.Passwords(time_cost=2, memory_kib=16)
    assert CHEAP.needs_rehash(older.hash("an uncommon phrase")) is True
    assert CHEAP.needs_rehash("$2b$12$" + "a" * 53) is True  # another algorithm
    assert older.needs_rehash(current) is True


def test_production_parameters_are_owasp():
    from idp.settings import load_settings

    settings = load_settings()
    owasp = passwords.Passwords(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    assert owasp.hash("an uncommon phrase").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_rehash_password_keeps_a_password_chosen_before_the_list():
    """Rehash on login re-hashes what was just verified: it must not apply today's policy."""
    stored = CHEAP.rehash("password")
    assert passwords.verify_password(stored, "password")


def test_not_set_error():
    error = passwords.not_set()
    assert (error.code, error.kind) == ("password.not_set", Kind.FAILED_PRECONDITION)


def test_login_rehash_of_a_password_now_on_the_list(services):
    app = applications.create(services, client_id="APP", name="App", redirect_uris=[])
    user = users.create(services, "legacy", with_password=False)
    services.db.session.rollback()
    with services.db.transaction() as session:
        # set before the list existed, with other argon2 parameters than today's
        session.merge(user).password_hash = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash("sunshine")
    done = services.login.password(app, CTX, "legacy", "sunshine")
    assert done.user.sub == user.sub
