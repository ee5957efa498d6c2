"""Gatehouse on Redis Cluster (``redis+cluster://``): the flows whose Lua scripts and
transactions touch several keys, each of which must find them in one hash slot (a script or a
MULTI over two slots is refused by the cluster with CROSSSLOT, so each test here fails if a
hash tag goes missing), with the data spread over all three masters."""

from __future__ import annotations

import time

import pytest
from redis.cluster import RedisCluster

from idp.context import RequestContext
from idp.flows.mfa import NeedsFactor
from idp.flows.results import Completed
from idp.store import Keys, connect, is_cluster, scope_of, token_scope
from tests.factories import applications, auth_sources, users
from tests.helpers import send_sms, sms_login
from tests.oidc.test_authorize import get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange, refresh

PHONE = "+8613612345678"
CTX = RequestContext(ip="127.0.0.1")


def slot(services, key: str) -> int:
    return int(services.redis.keyslot(key))


def wrong(code: str) -> str:
    return str((int(code) + 1) % 1_000_000).zfill(len(code))


def test_the_app_talks_to_the_cluster_and_spreads_its_keys(services, cluster, client, seeded, outbox):
    assert is_cluster(services.redis)
    for n in range(12):  # twelve numbers: their keys land on every master
        assert send_sms(client, phone=f"1361234{n:04d}").status_code == 200
    masters = services.redis.get_primaries()
    assert len(masters) == 3
    holding = {node.name for node in masters if services.redis.dbsize(target_nodes=node) > 0}
    assert len(holding) == 3
    # SCAN (and so the test fixtures' flush) reaches every master
    assert len(list(services.redis.scan_iter(Keys.otp_token("*")))) == 12
    services.redis.flushdb()
    assert list(services.redis.scan_iter("gh:*")) == []


def test_send_and_verify_a_code_then_rotate_refresh_tokens(services, client, seeded, outbox):
    users.create(services, None, with_password=False, with_verified_phone=PHONE)
    token = send_sms(client).get_json()["otp_token"]
    code = outbox.last_code(PHONE)
    # the otp_token's record, the number's failure count and live-code pointer: one slot
    record, failures, live = (
        Keys.otp_token(token),
        Keys.otp_failures("login", "sms", PHONE),
        Keys.otp_inflight("login", "sms", PHONE),
    )
    assert slot(services, record) == slot(services, failures) == slot(services, live)
    assert sms_login(client, token, wrong(code)).status_code == 400  # counted by the verify script
    assert services.redis.get(failures) == "1"
    # sent for another number: still "mismatched", not "unknown", though its keys are elsewhere
    other = sms_login(client, token, code, phone="13712345678")
    assert other.get_json()["error_description"] == "Mismatched OTP token and OTP sending parameters"
    tokens = sms_login(client, token, code).get_json()
    assert set(tokens) >= {"access_token", "refresh_token", "id_token"}
    assert not services.redis.exists(record, live)  # spent, with its pointer

    first = refresh(client, tokens["refresh_token"], "TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET")
    assert first.status_code == 200, first.get_json()
    rotated = first.get_json()
    # reusing the rotated token revokes the family and denies every access token it issued
    reused = refresh(client, tokens["refresh_token"], "TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET")
    assert reused.status_code == 400
    for access in (tokens["access_token"], rotated["access_token"]):
        assert client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 401
    assert refresh(client, rotated["refresh_token"], "TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET").status_code == 400


@pytest.mark.limits(login_lock_after=3, login_lock_seconds=900, target_interval=0)
def test_wrong_codes_lock_the_account(services, client, seeded, outbox, clock):
    user = users.create(services, None, with_password=False, with_verified_phone=PHONE)
    token = send_sms(client).get_json()["otp_token"]
    code = outbox.last_code(PHONE)
    answers = [sms_login(client, token, wrong(code)).get_json()["error_description"] for _ in range(3)]
    assert answers == ["Unknown or expired OTP"] * 3
    locked = sms_login(client, token, code)
    assert locked.get_json() == {"error": "invalid_grant", "error_description": "Abnormal user status"}
    assert services.bruteforce.locked_for(user.sub, sub=user.sub) > 0
    assert services.bruteforce.unlock_account(user.sub, CTX)  # the unlock transaction: one slot
    assert sms_login(client, token, code).status_code == 200


def test_sso_session_code_replay_and_logout(services, client):
    user = users.create(services, "ada")
    client_id, secret = make_app(services)
    session = sign_in(client, services, user)
    index = Keys.user_sessions(user.sub)
    assert token_scope(session.id) == scope_of(user.sub)
    assert slot(services, Keys.sso_session(session.id)) == slot(services, index)
    assert services.redis.smembers(index) == {session.id}

    code = get_code(client, services, client_id)
    issued = exchange(client, code, client_id, secret)
    assert issued.status_code == 200
    # a replayed code is refused and revokes what the first exchange issued
    assert exchange(client, code, client_id, secret).status_code == 400
    access = issued.get_json()["access_token"]
    assert client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 401

    id_token = exchange(client, get_code(client, services, client_id), client_id, secret).get_json()["id_token"]
    bye = client.get("/oauth2/logout", query_string={"id_token_hint": id_token})
    assert bye.status_code in (200, 302)
    assert services.sessions.get(session.id) is None
    assert services.redis.smembers(index) == set()


def test_sign_out_everywhere(services):
    user = users.create(services, "grace")
    sessions = [services.sessions.create(user.sub, ["pwd"], CTX) for _ in range(3)]
    assert services.sessions.delete_all(user.sub) == 3  # one transaction over the user's slot
    assert all(services.sessions.get(s.id) is None for s in sessions)


def test_a_second_factor_rotates_its_state_token_within_one_slot(services, outbox):
    app = applications.create(services, mfa="required", auth_sources=auth_sources.both(services))
    user = users.create(services, "hopper", with_verified_phone=PHONE)
    services.factors.add_otp(user.sub, "sms", CTX)
    needs = services.mfa.after_first_factor(app, CTX, Completed(user, ["pwd"], int(time.time())))
    assert isinstance(needs, NeedsFactor)
    fresh = services.mfa.rotate(app, CTX, needs.state_token)  # the old key and the new, one script
    assert token_scope(fresh) == token_scope(needs.state_token)
    services.mfa.send_code(app, CTX, fresh, "sms")
    done = services.mfa.verify(app, CTX, fresh, "otp_sms", outbox.last_code(PHONE))
    assert "mfa" in done.amr


def test_a_cluster_url_with_another_database_is_refused(tmp_path, cluster):
    with pytest.raises(ValueError, match="database 0 only"):
        connect(cluster.url + "/2", tmp_path)
    client = connect(cluster.url + "/0", tmp_path)
    assert isinstance(client, RedisCluster) and client.ping()
    client.close()
