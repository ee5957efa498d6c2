"""The Alembic migrations, run on a database of their own (a SQLite file, or with
TEST_DATABASE_URL a PostgreSQL schema made for the test): up to the head, down, up again, with
rows in place where a migration moves data."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, make_url, text
from sqlalchemy.exc import IntegrityError

from idp.db import Base, normalise_url
from idp.migrate import alembic_config, upgrade


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database: a SQLite file, or a fresh schema of TEST_DATABASE_URL's database
    (its search_path set through libpq ``options``), dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    schema = f"migrations_{secrets.token_hex(4)}"
    admin = create_engine(normalise_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(normalise_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def tables(engine) -> MetaData:
    metadata = MetaData()
    metadata.reflect(engine)
    return metadata.tables


def columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def add_key(conn, keys, kid: str, alg: str, active: bool, created_at: datetime) -> None:
    conn.execute(
        keys.insert().values(
            kid=kid, alg=alg, private_pem="-", public_jwk={"kid": kid}, active=active, created_at=created_at
        )
    )


def test_every_migration_goes_down_and_up_again(scratch_url):
    upgrade(scratch_url)
    downgrade(scratch_url, "base")
    upgrade(scratch_url)
    engine = create_engine(normalise_url(scratch_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0010"
            # the models and the migrated schema agree (columns, indexes, the partial unique one)
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


def test_0006_signing_algorithms_up_and_down(scratch_url):
    upgrade(scratch_url, "0005")
    engine = create_engine(normalise_url(scratch_url))
    now = datetime.now(UTC)
    try:
        old = tables(engine)
        with engine.begin() as conn:
            # two first keys made at once by two workers of an older release
            add_key(conn, old["signing_keys"], "older", "RS256", True, now - timedelta(minutes=1))
            add_key(conn, old["signing_keys"], "newer", "RS256", True, now)
            conn.execute(
                old["applications"]
                .insert()
                .values(
                    client_id="kept",
                    name="Kept",
                    type="web",
                    redirect_uris=[],
                    post_logout_redirect_uris=[],
                    grant_types=[],
                    scopes=[],
                    login_methods=[],
                    mfa="off",
                    auto_signup=False,
                    first_party=True,
                    created_at=now,
                )
            )

        upgrade(scratch_url, "0006")
        new = tables(engine)
        keys, apps = new["signing_keys"], new["applications"]
        with engine.connect() as conn:
            app = conn.execute(apps.select().where(apps.c.client_id == "kept")).one()
            assert app.access_token_alg is None and app.id_token_signed_response_alg == "RS256"
            rows = {r.kid: r for r in conn.execute(keys.select())}
            assert rows["newer"].active and not rows["older"].active and rows["older"].retired_at is not None
        with engine.begin() as conn:  # one active key per algorithm, any number of retired ones
            add_key(conn, keys, "es", "ES256", True, now)
            add_key(conn, keys, "ed", "EdDSA", True, now)
            add_key(conn, keys, "es-old", "ES256", False, now - timedelta(days=1))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            add_key(conn, keys, "es-twin", "ES256", True, now)

        downgrade(scratch_url, "0005")
        assert {"access_token_alg", "id_token_signed_response_alg"}.isdisjoint(columns(engine, "applications"))
        assert "uq_signing_keys_active_alg" not in {i["name"] for i in inspect(engine).get_indexes("signing_keys")}
        with engine.connect() as conn:
            # the release before reads every key as RSA: only RS256 keys stay
            assert {r.kid for r in conn.execute(tables(engine)["signing_keys"].select())} == {"older", "newer"}
            assert conn.execute(text("SELECT client_id FROM applications")).scalar() == "kept"

        upgrade(scratch_url)
        assert {"access_token_alg", "id_token_signed_response_alg"} <= columns(engine, "applications")
    finally:
        engine.dispose()


def test_0007_gives_existing_users_no_roles(scratch_url):
    upgrade(scratch_url, "0006")
    engine = create_engine(normalise_url(scratch_url))
    insert = (
        "INSERT INTO users (sub, email_verified, phone_verified, status, sequence, created_at, updated_at)"
        " VALUES ('old', false, false, 'active', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(insert))
        upgrade(scratch_url)
        with engine.connect() as conn:
            roles = conn.execute(text("SELECT roles FROM users WHERE sub = 'old'")).scalar()
            assert (json.loads(roles) if isinstance(roles, str) else roles) == []
        downgrade(scratch_url, "0006")
        upgrade(scratch_url)
    finally:
        engine.dispose()


def test_0008_passkeys_up_and_down(scratch_url):
    upgrade(scratch_url, "0007")
    engine = create_engine(normalise_url(scratch_url))
    try:
        assert "passkeys" not in tables(engine)
        upgrade(scratch_url, "0008")
        passkeys = tables(engine)["passkeys"]
        row = {
            "id": "pk1",
            "sub": "someone",
            "credential_id": "Y3JlZA",
            "public_key": b"\xa5\x01\x02",
            "sign_count": 0,
            "transports": ["internal"],
            "backup_eligible": True,
            "backup_state": False,
            "aaguid": "00000000-0000-0000-0000-000000000000",
            "name": "Passkey",
            "created_at": datetime.now(UTC),
        }
        with engine.begin() as conn:
            conn.execute(passkeys.insert().values(**row))
        with engine.connect() as conn:
            stored = conn.execute(passkeys.select()).one()
            assert bytes(stored.public_key) == b"\xa5\x01\x02" and stored.last_used_at is None
        # one credential belongs to one person: the authenticator's id is unique
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(passkeys.insert().values(**{**row, "id": "pk2"}))
        assert "ix_passkeys_sub" in {i["name"] for i in inspect(engine).get_indexes("passkeys")}

        downgrade(scratch_url, "0007")
        assert "passkeys" not in tables(engine)
        upgrade(scratch_url)
        assert "passkeys" in tables(engine)
    finally:
        engine.dispose()


def test_0009_backchannel_logout_up_and_down(scratch_url):
    upgrade(scratch_url, "0008")
    engine = create_engine(normalise_url(scratch_url))
    try:
        assert "logout_deliveries" not in tables(engine)
        upgrade(scratch_url, "0009")
        assert "backchannel_logout_uri" in {c["name"] for c in inspect(engine).get_columns("applications")}
        assert "sid" in {c["name"] for c in inspect(engine).get_columns("refresh_tokens")}
        deliveries = tables(engine)["logout_deliveries"]
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                deliveries.insert().values(
                    client_id="app",
                    sub="someone",
                    sid="s1",
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        assert "ix_logout_deliveries_due" in {i["name"] for i in inspect(engine).get_indexes("logout_deliveries")}
        downgrade(scratch_url, "0008")
        assert "logout_deliveries" not in tables(engine)
        assert "backchannel_logout_uri" not in {c["name"] for c in inspect(engine).get_columns("applications")}
        upgrade(scratch_url)
    finally:
        engine.dispose()
