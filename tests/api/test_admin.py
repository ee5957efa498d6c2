"""Admin API (/admin/api/v1) with its pinned shapes: authentication by the bootstrap token,
auth sources, applications, users and their audit events."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.models import AuditEvent
from tests.conftest import basic
from tests.helpers import send_sms

API = "/admin/api/v1"
PASSWORD = "correct-horse-battery"


def audit_rows(services, like: str = "admin.%") -> list[AuditEvent]:
    services.db.session.rollback()  # see what the requests committed
    return list(
        services.db.session.scalars(select(AuditEvent).where(AuditEvent.type.like(like)).order_by(AuditEvent.id))
    )


def dump_audit(services) -> str:
    return json.dumps(
        [
            {"type": r.type, "sub": r.sub, "client_id": r.client_id, "details": r.details, "user_agent": r.user_agent}
            for r in audit_rows(services, "%")
        ]
    )


def new_sms_source(client, admin_headers, **body) -> dict:
    response = client.post(f"{API}/auth-sources", json={"kind": "sms", **body}, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_app(client, admin_headers, **body) -> dict:
    payload = {"name": "App", "type": "web", **body}
    response = client.post(f"{API}/applications", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_user(client, admin_headers, **body) -> dict:
    response = client.post(f"{API}/users", json=body, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# -- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token",
        "Bearer ",
        "Basic dGVzdC1hZG1pbi10b2tlbg==",  # the right token under the wrong scheme
        "test-admin-token",
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/users"),
        ("post", "/users"),
        ("get", "/applications"),
        ("post", "/auth-sources"),
        ("patch", "/users/some-sub"),
    ],
)
def test_missing_or_wrong_bearer_is_401_json(client, authorization, method, path):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(f"{API}{path}", json={"kind": "sms", "name": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "admin.unauthenticated"
    assert response.get_json()["error_description"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_rejected_request_changes_nothing(client, services, admin_headers):
    response = client.post(f"{API}/users", json={"username": "mallory"}, headers={"Authorization": "Bearer no"})
    assert response.status_code == 401
    assert services.users.search(username="mallory") == []


@pytest.fixture
def no_admin_token(settings_overrides):
    settings_overrides["admin_token"] = ""


def test_unset_admin_token_disables_the_api(no_admin_token, client, admin_headers):
    for headers in (admin_headers, {"Authorization": "Bearer "}, {}):
        response = client.get(f"{API}/users", headers=headers)
        assert response.status_code == 401


# -- auth sources -----------------------------------------------------------------------


def test_create_auth_source_defaults(client, admin_headers):
    body = new_sms_source(client, admin_headers, name="Main SMS")
    assert body["id"]
    assert body["kind"] == "sms"
    assert body["name"] == "Main SMS"
    assert body["code_length"] == 6
    assert body["code_ttl"] == 60
    listed = client.get(f"{API}/auth-sources", headers=admin_headers).get_json()
    assert [s["id"] for s in listed] == [body["id"]]


def test_create_auth_source_with_explicit_values(client, admin_headers):
    response = client.post(
        f"{API}/auth-sources", json={"kind": "email", "code_length": 8, "code_ttl": 300}, headers=admin_headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["kind"], body["code_length"], body["code_ttl"]) == ("email", 8, 300)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "fax"},
        {},
        {"kind": "sms", "code_length": 3},
        {"kind": "sms", "code_length": 11},
        {"kind": "sms", "code_length": 0},
        {"kind": "sms", "code_ttl": 0},
        {"kind": "sms", "code_ttl": 5},
        {"kind": "sms", "colour": "blue"},
        ["kind", "sms"],
    ],
)
def test_invalid_auth_source_is_400(client, services, admin_headers, body):
    response = client.post(f"{API}/auth-sources", json=body, headers=admin_headers)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]
    assert services.clients.list_auth_sources() == []


def test_auth_source_without_json_body_is_400(client, admin_headers):
    response = client.post(f"{API}/auth-sources", data="kind=sms", headers=admin_headers)
    assert response.status_code == 400


def test_duplicate_auth_source_id_is_409(client, admin_headers):
    new_sms_source(client, admin_headers, id="SMS_1")
    response = client.post(f"{API}/auth-sources", json={"kind": "sms", "id": "SMS_1"}, headers=admin_headers)
    assert response.status_code == 409


# -- applications -----------------------------------------------------------------------


def test_create_web_application_returns_secret_once(client, services, admin_headers):
    source = new_sms_source(client, admin_headers)
    body = new_app(
        client,
        admin_headers,
        name="Shop",
        redirect_uris=["https://shop.example/cb"],
        auth_source_ids=[source["id"]],
        mfa="optional",
    )
    assert body["client_id"]
    assert isinstance(body["client_secret"], str) and len(body["client_secret"]) >= 32
    assert body["name"] == "Shop"
    assert body["type"] == "web"
    assert body["redirect_uris"] == ["https://shop.example/cb"]
    assert body["auth_source_ids"] == [source["id"]]
    assert body["mfa"] == "optional"
    assert body["login_methods"] == ["password", "sms_otp", "email_otp"]

    listed = client.get(f"{API}/applications", headers=admin_headers)
    assert listed.status_code == 200
    [app] = listed.get_json()
    assert app["client_id"] == body["client_id"]
    assert "client_secret" not in app
    assert body["client_secret"] not in listed.get_data(as_text=True)
    # stored hashed, never in clear
    stored = services.clients.by_client_id(body["client_id"])
    assert stored.client_secret_hash and body["client_secret"] not in stored.client_secret_hash


@pytest.mark.parametrize("app_type", ["spa", "native"])
def test_public_application_has_null_secret(client, services, admin_headers, app_type):
    response = client.post(
        f"{API}/applications",
        json={"name": "Mobile", "type": app_type, "client_secret": "ignored-for-public-clients"},
        headers=admin_headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert "client_secret" in body
    assert body["client_secret"] is None
    assert services.clients.by_client_id(body["client_id"]).client_secret_hash is None


def test_returned_secret_authenticates_otp_send(client, admin_headers, outbox):
    source = new_sms_source(client, admin_headers)
    body = new_app(client, admin_headers, auth_source_ids=[source["id"]])
    payload = {"usage": "login", "phone_number": "13612345678", "auth_source_id": source["id"]}

    ok = client.post("/otp/send", json=payload, headers=basic(body["client_id"], body["client_secret"]))
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["otp_token"]
    assert outbox.records()[0]["to"] == "+8613612345678"

    wrong = client.post("/otp/send", json=payload, headers=basic(body["client_id"], body["client_secret"] + "x"))
    assert wrong.status_code == 401


def test_public_application_authenticates_with_empty_secret(client, admin_headers):
    source = new_sms_source(client, admin_headers)
    body = new_app(client, admin_headers, type="native", auth_source_ids=[source["id"]])
    response = send_sms(client, headers=basic(body["client_id"]), auth_source_id=source["id"])
    assert response.status_code == 200, response.get_json()


def test_unknown_auth_source_is_400_and_creates_nothing(client, services, admin_headers):
    source = new_sms_source(client, admin_headers)
    response = client.post(
        f"{API}/applications", json={"name": "x", "auth_source_ids": [source["id"], "NOPE"]}, headers=admin_headers
    )
    assert response.status_code == 400
    assert "NOPE" in response.get_json()["error_description"]
    assert services.clients.list_applications() == []


def test_duplicate_client_id_is_409(client, services, admin_headers):
    first = new_app(client, admin_headers, client_id="MIGRATED_APP", name="first")
    assert first["client_id"] == "MIGRATED_APP"
    response = client.post(
        f"{API}/applications", json={"name": "second", "client_id": "MIGRATED_APP"}, headers=admin_headers
    )
    assert response.status_code == 409
    assert [a.name for a in services.clients.list_applications()] == ["first"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "type": "desktop"},
        {"name": "x", "mfa": "sometimes"},
        {"name": "x", "login_methods": ["magic_link"]},
        {"name": "x", "grant_types": ["password"]},
        {"name": "x", "secret_colour": "red"},
        {"type": "web"},
    ],
)
def test_invalid_application_is_400(client, services, admin_headers, body):
    response = client.post(f"{API}/applications", json=body, headers=admin_headers)
    assert response.status_code == 400
    assert services.clients.list_applications() == []


def test_application_signing_algorithms_default_and_are_set(client, services, admin_headers):
    plain = new_app(client, admin_headers)
    assert plain["access_token_alg"] is None  # GATEHOUSE_JWT_ALG
    assert plain["id_token_signed_response_alg"] == "RS256"
    chosen = new_app(client, admin_headers, access_token_alg="EdDSA", id_token_signed_response_alg="ES256")
    assert (chosen["access_token_alg"], chosen["id_token_signed_response_alg"]) == ("EdDSA", "ES256")
    listed = {a["client_id"]: a for a in client.get(f"{API}/applications", headers=admin_headers).get_json()}
    assert listed[chosen["client_id"]]["access_token_alg"] == "EdDSA"
    assert listed[chosen["client_id"]]["id_token_signed_response_alg"] == "ES256"
    stored = services.clients.by_client_id(chosen["client_id"])
    assert (stored.access_token_alg, stored.id_token_signed_response_alg) == ("EdDSA", "ES256")


@pytest.mark.parametrize(
    "body",
    [
        {"access_token_alg": "HS256"},
        {"access_token_alg": "none"},
        {"access_token_alg": "es256"},
        {"id_token_signed_response_alg": "PS256"},
        {"id_token_signed_response_alg": None},
        {"id_token_signed_response_alg": "none"},
    ],
)
def test_a_bad_signing_algorithm_is_400(client, services, admin_headers, body):
    response = client.post(f"{API}/applications", json={"name": "x", **body}, headers=admin_headers)
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "request.invalid"
    assert error["error_description"].startswith(next(iter(body)))
    assert services.clients.list_applications() == []


# -- signing keys -----------------------------------------------------------------------


def test_list_and_rotate_signing_keys_per_algorithm(client, services, admin_headers):
    rs256 = services.keys.ensure_key("RS256")
    old = services.keys.ensure_key("ES256")
    listed = client.get(f"{API}/keys", headers=admin_headers)
    assert listed.status_code == 200
    keys = {k["kid"]: k for k in listed.get_json()}
    assert keys[old]["alg"] == "ES256" and keys[old]["state"] == "active"
    assert set(keys[old]) == {"kid", "alg", "state", "created_at"}  # never the key itself

    response = client.post(f"{API}/keys/rotate", json={"alg": "ES256"}, headers=admin_headers)
    assert response.status_code == 200
    new = response.get_json()
    assert new["alg"] == "ES256" and new["state"] == "active" and new["kid"] != old
    keys = {k["kid"]: k for k in client.get(f"{API}/keys", headers=admin_headers).get_json()}
    assert keys[old]["state"] == "retired"
    assert keys[rs256]["state"] == "active"  # another algorithm: untouched
    published = {k["kid"] for k in client.get("/oauth2/jwks").get_json()["keys"]}
    assert {old, new["kid"], rs256} <= published
    [event] = audit_rows(services, "admin.key.rotate")
    assert event.actor == "admin_token" and event.details == {"kid": new["kid"], "alg": "ES256"}


@pytest.mark.parametrize("request_body", [{}, {"json": {}}])
def test_rotate_without_an_algorithm_rotates_rs256(client, services, admin_headers, request_body):
    old_rs256, es256 = services.keys.ensure_key("RS256"), services.keys.ensure_key("ES256")
    response = client.post(f"{API}/keys/rotate", headers=admin_headers, **request_body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["alg"] == "RS256"
    assert services.keys.signer("RS256").kid == response.get_json()["kid"] != old_rs256
    assert services.keys.signer("ES256").kid == es256


@pytest.mark.parametrize("body", [{"alg": "HS256"}, {"alg": "none"}, {"alg": "RS512"}, {"alg": "ES256", "x": 1}])
def test_rotate_with_a_bad_algorithm_is_400_and_rotates_nothing(client, services, admin_headers, body):
    before = [(k.kid, k.state) for k in services.keys.all_keys()]
    response = client.post(f"{API}/keys/rotate", json=body, headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "request.invalid"
    assert [(k.kid, k.state) for k in services.keys.all_keys()] == before


# -- users ------------------------------------------------------------------------------


def test_create_user_stores_e164_and_hides_password(client, services, admin_headers):
    response = client.post(
        f"{API}/users",
        json={
            "username": "alice",
            "password": PASSWORD,
            "email": "Alice@Example.COM",
            "email_verified": True,
            "phone_number": "13612345678",
            "name": "Alice",
        },
        headers=admin_headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["sub"]
    assert body["phone_number"] == "+8613612345678"
    assert body["email"] == "alice@example.com"
    assert body["email_verified"] is True
    assert body["phone_verified"] is False
    assert body["status"] == "active"
    assert body["has_password"] is True
    assert "password" not in body and "password_hash" not in body
    assert PASSWORD not in response.get_data(as_text=True)
    stored = services.users.by_sub(body["sub"])
    assert stored.phone_number == "+8613612345678"
    assert stored.password_hash.startswith("$argon2id$")


def test_user_without_password_has_password_false(client, admin_headers):
    assert new_user(client, admin_headers, username="nopass")["has_password"] is False


def test_get_user_by_sub(client, admin_headers):
    created = new_user(client, admin_headers, username="bob", password=PASSWORD)
    response = client.get(f"{API}/users/{created['sub']}", headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["sub"] == created["sub"]
    assert body["username"] == "bob"
    assert body["has_password"] is True
    assert body["locked_until"] is None
    assert body["factors"] == []
    assert PASSWORD not in response.get_data(as_text=True)


def test_unknown_sub_is_404(client, admin_headers):
    response = client.get(f"{API}/users/no-such-sub", headers=admin_headers)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    patched = client.patch(f"{API}/users/no-such-sub", json={"status": "locked"}, headers=admin_headers)
    assert patched.status_code == 404


def test_search_users(client, admin_headers):
    alice = new_user(client, admin_headers, username="alice", email="alice@example.com", phone_number="13612345678")
    bob = new_user(client, admin_headers, username="bob", email="bob@example.com", phone_number="+8613712345678")

    def search(**params) -> list[str]:
        response = client.get(f"{API}/users", query_string=params, headers=admin_headers)
        assert response.status_code == 200
        return [u["sub"] for u in response.get_json()]

    assert search(username="alice") == [alice["sub"]]
    assert search(email="bob@example.com") == [bob["sub"]]
    assert search(phone_number="+8613612345678") == [alice["sub"]]
    # the search term is normalised like the stored value
    assert search(phone_number="13712345678") == [bob["sub"]]
    assert search(email="ALICE@example.com") == [alice["sub"]]
    assert search(username="alice", email="bob@example.com") == []
    assert search(username="carol") == []
    assert search() == [alice["sub"], bob["sub"]]


def test_patch_status_to_locked(client, services, admin_headers):
    created = new_user(client, admin_headers, username="carol")
    response = client.patch(f"{API}/users/{created['sub']}", json={"status": "locked"}, headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "locked"
    assert response.get_json()["sequence"] == created["sequence"] + 1
    fetched = client.get(f"{API}/users/{created['sub']}", headers=admin_headers).get_json()
    assert fetched["status"] == "locked"
    assert fetched["username"] == "carol"  # an unnamed field is left alone


def test_patch_profile_and_password(client, services, admin_headers):
    created = new_user(client, admin_headers, username="dave")
    response = client.patch(
        f"{API}/users/{created['sub']}",
        json={"name": "Dave", "phone_number": "13612345678", "password": PASSWORD},
        headers=admin_headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["phone_number"], body["has_password"]) == ("Dave", "+8613612345678", True)
    assert PASSWORD not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "patch",
    [
        {"status": "banned"},
        {"status": None},
        {"email_verified": None},
        {"password": "short"},
        {"phone_number": "1361234"},
        {"favourite_colour": "green"},
    ],
)
def test_invalid_patch_is_400_and_changes_nothing(client, services, admin_headers, patch):
    created = new_user(client, admin_headers, username="erin", email="erin@example.com")
    before = client.get(f"{API}/users/{created['sub']}", headers=admin_headers).get_json()
    response = client.patch(f"{API}/users/{created['sub']}", json=patch, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    fetched = client.get(f"{API}/users/{created['sub']}", headers=admin_headers).get_json()
    assert fetched == before
    assert {k: v for k, v in fetched.items() if k in created} == created


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("email", "dup@example.com", "DUP@example.com"),
        ("username", "dup", "dup"),
        ("phone_number", "+8613612345678", "13612345678"),
    ],
)
def test_duplicate_contact_is_409(client, services, admin_headers, field, first, second):
    new_user(client, admin_headers, **{field: first})
    response = client.post(f"{API}/users", json={field: second}, headers=admin_headers)
    assert response.status_code == 409
    assert response.get_json()["error"] == f"account.{field.split('_')[0]}_taken"
    assert len(services.users.search()) == 1


def test_patch_to_taken_email_is_409(client, admin_headers):
    new_user(client, admin_headers, email="taken@example.com")
    other = new_user(client, admin_headers, email="free@example.com")
    response = client.patch(f"{API}/users/{other['sub']}", json={"email": "taken@example.com"}, headers=admin_headers)
    assert response.status_code == 409
    assert client.get(f"{API}/users/{other['sub']}", headers=admin_headers).get_json()["email"] == "free@example.com"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "u", "password": "short"},
        {"username": "u", "password": "1234567"},
        {"username": "u", "password": ""},
        {"username": "u", "password": "x" * 257},
        {"username": "u", "is_admin": True},
        {"username": "u", "status": "banned"},
        {"phone_number": "1361234"},
        {"email": "not-an-email"},
    ],
)
def test_invalid_user_is_400_and_creates_nothing(client, services, admin_headers, body):
    response = client.post(f"{API}/users", json=body, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]
    assert services.users.search() == []


def test_unknown_field_is_named_in_the_error(client, admin_headers):
    response = client.post(f"{API}/users", json={"username": "u", "is_admin": True}, headers=admin_headers)
    assert response.status_code == 400
    assert "is_admin" in response.get_json()["error_description"]


# -- audit ------------------------------------------------------------------------------


def test_admin_actions_are_audited_without_secrets(client, services, admin_headers):
    source = new_sms_source(client, admin_headers, id="AUDIT_SMS")
    app = new_app(client, admin_headers, client_id="AUDIT_APP", auth_source_ids=[source["id"]])
    user = new_user(client, admin_headers, username="audited", password=PASSWORD)
    client.patch(
        f"{API}/users/{user['sub']}",
        json={"status": "locked", "password": PASSWORD + "2"},
        headers={**admin_headers, "User-Agent": "admin-test"},
    )

    rows = audit_rows(services)
    by_type = {r.type: r for r in rows}
    assert [r.type for r in rows] == [
        "admin.auth_source.create",
        "admin.application.create",
        "admin.user.create",
        "admin.user.update",
    ]
    assert by_type["admin.auth_source.create"].details["auth_source_id"] == "AUDIT_SMS"
    assert by_type["admin.application.create"].client_id == "AUDIT_APP"
    assert by_type["admin.user.create"].sub == user["sub"]
    update = by_type["admin.user.update"]
    assert update.sub == user["sub"]
    assert "status" in update.details["fields"]
    assert update.user_agent == "admin-test"
    assert all(r.result == "success" and r.ip == "127.0.0.1" for r in rows)

    everything = dump_audit(services)
    assert PASSWORD not in everything
    assert app["client_secret"] not in everything


def test_failed_admin_action_writes_no_success_event(client, services, admin_headers):
    response = client.post(f"{API}/users", json={"username": "u", "password": "short"}, headers=admin_headers)
    assert response.status_code == 400
    assert audit_rows(services) == []
    assert "short" not in dump_audit(services)
