"""The ``flask`` commands (db upgrade, apps create, users create, keys rotate, demo), run through
Flask's CLI runner against the test app."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from idp.accounts.passwords import verify_password
from idp.models import AuditEvent, SigningKey
from tests.conftest import basic
from tests.factories import auth_sources


def invoke_json(runner, *args: str) -> dict:
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_apps_create_json_returns_client_id_and_secret(runner, services, client):
    body = invoke_json(runner, "apps", "create", "--name", "X", "--type", "web")
    assert body["client_id"]
    assert body["name"] == "X"
    assert body["type"] == "web"
    assert isinstance(body["client_secret"], str) and len(body["client_secret"]) >= 32
    stored = services.clients.by_client_id(body["client_id"])
    assert stored is not None
    assert stored.check_client_secret(body["client_secret"])
    assert body["client_secret"] not in stored.client_secret_hash


def test_apps_create_secret_authenticates(runner, client, services):
    auth_sources.create(services, "sms", id="CLI_SMS")
    body = invoke_json(
        runner, "apps", "create", "--name", "X", "--auth-source", "CLI_SMS", "--redirect-uri", "https://x.example/cb"
    )
    assert body["auth_source_ids"] == ["CLI_SMS"]
    assert body["redirect_uris"] == ["https://x.example/cb"]
    response = client.post(
        "/otp/send",
        json={"usage": "login", "phone_number": "13612345678", "auth_source_id": "CLI_SMS"},
        headers=basic(body["client_id"], body["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()


def test_apps_create_public_client_has_no_secret(runner):
    body = invoke_json(runner, "apps", "create", "--name", "Phone app", "--type", "native")
    assert body["client_secret"] is None


def test_apps_create_text_output_shows_secret_once(runner, services):
    result = runner.invoke(args=["apps", "create", "--name", "Plain", "--client-id", "PLAIN_APP"])
    assert result.exit_code == 0, result.output
    assert "client_id: PLAIN_APP" in result.output
    assert "client_secret: " in result.output
    assert services.clients.by_client_id("PLAIN_APP") is not None


def test_apps_create_errors_exit_nonzero(runner, services):
    invoke_json(runner, "apps", "create", "--name", "first", "--client-id", "DUP_APP")
    result = runner.invoke(args=["apps", "create", "--name", "second", "--client-id", "DUP_APP"])
    assert result.exit_code == 1
    assert "client.exists" in result.output
    missing = runner.invoke(args=["apps", "create", "--name", "x", "--auth-source", "NOPE"])
    assert missing.exit_code == 1
    assert "client.unknown_auth_source" in missing.output
    assert [a.name for a in services.clients.list_applications()] == ["first"]


def test_users_create_json(runner, services):
    body = invoke_json(
        runner,
        "users",
        "create",
        "--username",
        "u1",
        "--password",
        "longpassword",
        "--email",
        "a@b.example",
        "--phone-number",
        "13612345678",
    )
    assert body["sub"]
    assert body["username"] == "u1"
    assert body["email"] == "a@b.example"
    assert body["email_verified"] is True  # contacts given by an operator count as verified
    assert body["phone_number"] == "+8613612345678"
    assert body["has_password"] is True
    assert "longpassword" not in json.dumps(body)
    user = services.users.by_sub(body["sub"])
    assert user is not None
    assert verify_password(user.password_hash, "longpassword")


def test_users_create_role_admin_makes_an_administrator(runner, services):
    body = invoke_json(runner, "users", "create", "--username", "op", "--password", "longpassword", "--role", "admin")
    assert body["roles"] == ["admin"]
    assert services.users.by_sub(body["sub"]).is_admin
    plain = invoke_json(runner, "users", "create", "--username", "plain")
    assert plain["roles"] == []
    assert not services.users.by_sub(plain["sub"]).is_admin
    refused = runner.invoke(args=["users", "create", "--username", "x", "--role", "root"])
    assert refused.exit_code == 2  # not a role Gatehouse knows


def test_demo_creates_an_administrator_and_prints_its_password(runner, services):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "username admin, password admin-password-1" in result.output
    admin = services.users.search(username="admin")[0]
    assert admin.is_admin
    assert verify_password(admin.password_hash, "admin-password-1")


def test_users_create_rejects_short_password(runner, services):
    result = runner.invoke(args=["users", "create", "--username", "u1", "--password", "short"])
    assert result.exit_code == 1
    assert "password.too_short" in result.output
    assert services.users.search(username="u1") == []


def test_cli_actions_are_audited_at_the_time_they_happen(runner, services):
    started = datetime.now(UTC)  # cli.py was imported (with the app) before this
    invoke_json(runner, "apps", "create", "--name", "Audited")
    body = invoke_json(runner, "users", "create", "--username", "audited", "--password", "longpassword")
    services.db.session.rollback()
    rows = list(services.db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [r.type for r in rows] == ["admin.application.create", "admin.user.create"]
    assert rows[1].sub == body["sub"]
    for row in rows:
        assert row.user_agent == "flask-cli"
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        assert at >= started
        assert "longpassword" not in json.dumps(row.details)


def test_keys_rotate_publishes_old_and_new_kid(runner, services, client):
    old_kid = services.keys.ensure_key()
    before = {k["kid"] for k in client.get("/oauth2/jwks").get_json()["keys"]}
    assert old_kid in before

    body = invoke_json(runner, "keys", "rotate")
    new_kid = body["kid"]
    assert new_kid and new_kid != old_kid

    kids = {k["kid"] for k in client.get("/oauth2/jwks").get_json()["keys"]}
    assert {old_kid, new_kid} <= kids
    assert services.keys.ensure_key() == new_kid  # the new key is the one that signs
    services.db.session.rollback()
    active = list(
        services.db.session.scalars(
            select(SigningKey.kid).where(SigningKey.active.is_(True), SigningKey.alg == "RS256")
        )
    )
    assert active == [new_kid]


def test_keys_rotate_one_algorithm(runner, services, client):
    rs256, old = services.keys.ensure_key("RS256"), services.keys.ensure_key("EdDSA")
    body = invoke_json(runner, "keys", "rotate", "--alg", "EdDSA")
    assert body["alg"] == "EdDSA" and body["kid"] != old
    assert services.keys.signer("EdDSA").kid == body["kid"]
    assert services.keys.signer("RS256").kid == rs256
    published = {k["kid"]: k for k in client.get("/oauth2/jwks").get_json()["keys"]}
    assert published[body["kid"]]["crv"] == "Ed25519" and old in published
    services.db.session.rollback()
    event = services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == "admin.key.rotate")).one()
    assert event.user_agent == "flask-cli" and event.details == {"kid": body["kid"], "alg": "EdDSA"}
    wrong = runner.invoke(args=["keys", "rotate", "--alg", "HS256"])
    assert wrong.exit_code == 2 and "HS256" in wrong.output


def test_apps_create_with_signing_algorithms(runner, services):
    body = invoke_json(
        runner,
        "apps",
        "create",
        "--name",
        "Edge",
        "--access-token-alg",
        "ES256",
        "--id-token-signed-response-alg",
        "EdDSA",
    )
    assert (body["access_token_alg"], body["id_token_signed_response_alg"]) == ("ES256", "EdDSA")
    stored = services.clients.by_client_id(body["client_id"])
    assert (stored.access_token_alg, stored.id_token_signed_response_alg) == ("ES256", "EdDSA")
    plain = invoke_json(runner, "apps", "create", "--name", "Plain")
    assert (plain["access_token_alg"], plain["id_token_signed_response_alg"]) == (None, "RS256")
    wrong = runner.invoke(args=["apps", "create", "--name", "Bad", "--access-token-alg", "HS256"])
    assert wrong.exit_code == 2
    assert [a.name for a in services.clients.list_applications()] == ["Edge", "Plain"]


def test_demo_is_idempotent(runner, services, client):
    first = invoke_json(runner, "demo")
    second = invoke_json(runner, "demo")
    assert first["client_id"] == second["client_id"] == "TENANT_CLIENT_ID"
    assert first["user"]["sub"] == second["user"]["sub"]
    assert [a.client_id for a in services.clients.list_applications()] == ["TENANT_CLIENT_ID"]
    assert first["admin"]["sub"] == second["admin"]["sub"]
    assert len(services.users.search()) == 2  # the demo person and the administrator
    assert {s.id for s in services.clients.list_auth_sources()} == {
        "MOCK_SMS_OTP_AUTH_SOURCE_ID",
        "MOCK_EMAIL_OTP_AUTH_SOURCE_ID",
    }
    # the README's curl for seed 001 works against what demo seeded
    response = client.post(
        "/otp/send",
        json={"usage": "login", "phone_number": "13612345678", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"},
        headers=basic(first["client_id"], first["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()


def test_demo_text_output_prints_the_urls(runner, services):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    issuer = services.settings.issuer
    assert f"{issuer}/.well-known/openid-configuration" in result.output
    assert f"{issuer}/dev/outbox" in result.output
    assert "TENANT_CLIENT_SECRET" in result.output


def test_demo_reports_a_conflict_instead_of_crashing(runner, services):
    invoke_json(runner, "users", "create", "--username", "someone", "--phone-number", "+8613612345678")
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 1
    assert "account.phone_taken" in result.output


def test_db_upgrade_registers_the_admin_console(runner, services):
    invoke_json(runner, "db", "upgrade")
    console = services.clients.by_client_id("gatehouse-console")
    assert console is not None and console.first_party
    assert console.redirect_uris == [f"{services.settings.issuer}/admin/callback"]


def test_db_upgrade_on_a_migrated_database(runner, services):
    kid = services.keys.ensure_key()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"active signing key {kid}" in result.output
    body = invoke_json(runner, "db", "upgrade")
    assert body == {"schema": "up to date", "kid": kid}
    # the schema is still usable afterwards
    assert invoke_json(runner, "users", "create", "--username", "after-upgrade")["sub"]
