"""Refresh rotation and reuse detection, revocation, userinfo, discovery, JWKS and key rotation."""

from __future__ import annotations

import threading

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import users
from tests.helpers import send_sms, sms_login

CLIENT = {"client_id": "TENANT_CLIENT_ID", "client_secret": "TENANT_CLIENT_SECRET"}


@pytest.fixture
def tokens(client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678", name="Ada")
    otp_token = send_sms(client).get_json()["otp_token"]
    response = sms_login(client, otp_token, outbox.last_code())
    assert response.status_code == 200
    return response.get_json()


def refresh(client, refresh_token, **extra):
    return client.post(
        "/oauth2/token", json={"grant_type": "refresh_token", "refresh_token": refresh_token, **CLIENT, **extra}
    )


def claims(client, token):
    return jwt.decode(token, KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).claims


def test_refresh_rotates_and_keeps_auth_time(client, tokens):
    response = refresh(client, tokens["refresh_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["refresh_token"] != tokens["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert claims(client, body["id_token"])["auth_time"] == claims(client, tokens["id_token"])["auth_time"]
    assert claims(client, body["id_token"])["amr"] == ["otp", "sms"]


def test_reuse_of_a_rotated_token_revokes_the_family(client, tokens, services):
    rotated = refresh(client, tokens["refresh_token"]).get_json()
    reuse = refresh(client, tokens["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.get_json()["error"] == "invalid_grant"
    # the attacker's replay also killed the legitimate newest token
    assert refresh(client, rotated["refresh_token"]).get_json()["error"] == "invalid_grant"
    from idp.models import AuditEvent

    events = services.db.session.query(AuditEvent).filter_by(type="token.revoke_family").all()
    assert [e.details["reason"] for e in events] == ["reuse"]


def test_exactly_one_of_many_concurrent_refreshes_wins(app, tokens, services):
    """Racing copies of one refresh token: one gets new tokens, the race counts as reuse."""
    barrier = threading.Barrier(8)
    results: list[dict] = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        results.append(refresh(client, tokens["refresh_token"]).get_json())

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if "refresh_token" in r]
    assert len(winners) == 1
    assert {r["error"] for r in results if r not in winners} == {"invalid_grant"}
    # the losers were replays: the winner's new token died with the family
    assert refresh(app.test_client(), winners[0]["refresh_token"]).get_json()["error"] == "invalid_grant"


def writes_during(engine, action):
    """The INSERT, UPDATE and WITH statements ``action`` sends to the database."""
    from sqlalchemy import event

    sent: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "WITH"):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return sent, result


def test_a_refresh_writes_its_rotation_successor_and_event_in_one_statement_on_postgresql(client, tokens, services):
    """On PostgreSQL the rotation, the new token and the ``login.token`` event go in one round
    trip (a data-modifying WITH); SQLite, which has none, sends the same three in turn."""
    from sqlalchemy import select

    from idp.crypto import hash_secret
    from idp.models import AuditEvent, RefreshToken

    sent, response = writes_during(services.db.engine, lambda: refresh(client, tokens["refresh_token"]))
    assert response.status_code == 200
    if services.db.engine.dialect.name == "postgresql":
        assert len(sent) == 1
        assert sent[0].lstrip().startswith("WITH")
    else:
        assert len(sent) == 3
    session = services.db.session
    rows = {row.token_hash: row for row in session.scalars(select(RefreshToken))}
    old, new = rows[hash_secret(tokens["refresh_token"])], rows[hash_secret(response.get_json()["refresh_token"])]
    assert old.rotated_at is not None
    assert (new.family_id, new.scope, new.sub, new.rotated_at) == (old.family_id, old.scope, old.sub, None)
    issued = session.scalars(select(AuditEvent).where(AuditEvent.type == "login.token")).all()
    assert issued[-1].details["grant_type"] == "refresh_token"
    assert issued[-1].sub == old.sub


def test_a_rotation_that_lost_the_race_writes_nothing(client, tokens, services):
    """``replace`` of a token another request rotated first: False, no successor, no event."""
    from sqlalchemy import func, select

    from idp import audit
    from idp.context import RequestContext
    from idp.models import AuditEvent, RefreshToken
    from idp.oauth.tokens import Principal

    store = services.refresh_tokens
    token = store.find(tokens["refresh_token"])
    principal = Principal(user=token.holder, auth_time=token.auth_time, amr=token.amr, family_id=token.family_id)
    application = services.clients.by_client_id(CLIENT["client_id"])

    def counts():
        session = services.db.session
        return (
            session.scalar(select(func.count()).select_from(RefreshToken)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
        )

    def replace(raw):
        event = audit.row("login.token", RequestContext(), sub=token.sub)
        with services.db.transaction() as session:
            return store.replace(session, token, raw, application, principal, event)

    before = counts()
    assert replace("first-successor-" + "x" * 40) is True
    assert counts() == (before[0] + 1, before[1] + 1)
    assert replace("second-successor-" + "y" * 40) is False
    assert counts() == (before[0] + 1, before[1] + 1)


def test_refresh_tokens_are_stored_hashed(tokens, services):
    from idp.models import RefreshToken

    stored = [row.token_hash for row in services.db.session.query(RefreshToken)]
    assert stored and tokens["refresh_token"] not in stored


def test_refresh_by_another_client_fails(client, tokens):
    response = client.post(
        "/oauth2/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "CLIENT_4_ID",
            "client_secret": "CLIENT_4_SECRET",
        },
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_locked_user_cannot_refresh(client, tokens, services):
    from idp.context import RequestContext

    sub = claims(client, tokens["id_token"])["sub"]
    services.users.update(sub, {"status": "locked"}, RequestContext())
    assert refresh(client, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_refresh_token_whose_person_is_gone_is_refused(client, tokens, services):
    from sqlalchemy import delete

    from idp.models import User

    sub = claims(client, tokens["id_token"])["sub"]
    with services.db.transaction() as session:
        session.execute(delete(User).where(User.sub == sub))
    assert refresh(client, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_refresh_reads_its_token_and_person_without_orm_objects(client, tokens):
    """The busiest path reads one Core row: no token or user instance is loaded by the ORM, and
    the refreshed ID token is still the person's."""
    from sqlalchemy import event

    from idp.models import RefreshToken, User

    loaded = []

    def note(instance, context):
        loaded.append(type(instance).__name__)

    for model in (User, RefreshToken):
        event.listen(model, "load", note)
    try:
        response = refresh(client, tokens["refresh_token"])
    finally:
        for model in (User, RefreshToken):
            event.remove(model, "load", note)
    assert response.status_code == 200, response.get_json()
    assert loaded == []
    assert claims(client, response.get_json()["id_token"])["sub"] == claims(client, tokens["id_token"])["sub"]


def test_revoke_a_refresh_token(client, tokens):
    response = client.post("/oauth2/revoke", data={"token": tokens["refresh_token"], **CLIENT})
    assert response.status_code == 200
    assert refresh(client, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_userinfo_with_the_access_token(client, tokens):
    for path in ("/oauth2/userinfo", "/userinfo"):
        response = client.get(path, headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert response.status_code == 200
        assert response.get_json()["sub"] == claims(client, tokens["id_token"])["sub"]


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer not.a.jwt", "Basic abc"])
def test_userinfo_rejects_bad_tokens(client, seeded, authorization):
    response = client.get("/oauth2/userinfo", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"] == "invalid_token"


def test_userinfo_rejects_an_id_token(client, tokens):
    # an ID token is signed by us too, but it is not an access token (RFC 9068 typ check)
    response = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert response.status_code == 401


def test_discovery(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == "http://127.0.0.1:5000"
    assert doc["jwks_uri"] == "http://127.0.0.1:5000/oauth2/jwks"
    assert "http://tencentciam.com/oauth2/grant-type/otp/sms" in doc["grant_types_supported"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]


def test_discovery_ignores_the_host_header(client):
    doc = client.get("/.well-known/openid-configuration", headers={"Host": "evil.example"}).get_json()
    assert doc["token_endpoint"].startswith("http://127.0.0.1:5000/")


def test_key_rotation_keeps_old_tokens_verifiable(client, tokens, services):
    old_kid = jwt.decode(tokens["id_token"], KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).header["kid"]
    new_kid = services.keys.rotate()
    kids = [key["kid"] for key in client.get("/oauth2/jwks").get_json()["keys"]]
    assert old_kid in kids and new_kid in kids
    assert all("d" not in key for key in client.get("/oauth2/jwks").get_json()["keys"])  # public only
    refreshed = refresh(client, tokens["refresh_token"]).get_json()
    assert (
        jwt.decode(refreshed["id_token"], KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).header["kid"]
        == new_kid
    )
    assert claims(client, tokens["id_token"])["sub"]  # the old token still verifies


def test_unsupported_grant_type(client, seeded):
    response = client.post("/oauth2/token", json={"grant_type": "password", **CLIENT})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
