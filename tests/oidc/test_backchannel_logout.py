"""OpenID Connect Back-Channel Logout 1.0: the session's ``sid`` in ID tokens, logout tokens
queued by every sign-out and delivered by the worker to a real receiver on 127.0.0.1, retried
with backoff on the test's clock, claimed once when two workers race."""

from __future__ import annotations

import threading

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.models import AuditEvent, LogoutDelivery
from idp.oauth.backchannel import BACKCHANNEL_LOGOUT_EVENT, BACKOFF, BackchannelLogout, Outcome
from idp.oauth.clients import ClientService
from tests.factories import users
from tests.helpers import free_port
from tests.oidc.test_authorize import CTX, get_code, make_app, sign_in
from tests.oidc.test_code_grant import exchange, refresh
from tests.receivers import LogoutReceiver


@pytest.fixture
def receiver():
    with LogoutReceiver() as running:
        yield running


@pytest.fixture
def user(services):
    return users.create(services, "ada")


@pytest.fixture
def listening(services, receiver):
    """A first-party application registered with the receiver as its backchannel_logout_uri."""
    return make_app(services, backchannel_logout_uri=receiver.url)


def deliveries(services) -> list[LogoutDelivery]:
    services.db.session.expire_all()
    return list(services.db.session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))


def events(services, type_: str) -> list[AuditEvent]:
    services.db.session.expire_all()
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.id)))


def verified_logout_token(client, token: str) -> tuple[dict, dict]:
    """Header and claims, the signature checked against the published JWKS as an RP would."""
    keys = KeySet.import_key_set(client.get("/oauth2/jwks").get_json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def session_with(services, user, *client_ids):
    """An SSO session of ``user`` that gave codes to ``client_ids`` (as the authorize endpoint records)."""
    session = services.sessions.create(user.sub, ["pwd"], CTX)
    for client_id in client_ids:
        services.sessions.add_client(session, client_id)
    return services.sessions.get(session.id)


# -- sid and discovery ----------------------------------------------------------------------------
def test_discovery_announces_back_channel_logout_with_sid(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_logout_token_is_signed_and_names_the_id_tokens_sid(client, services, listening, user, receiver, clock):
    client_id, secret = listening
    session = sign_in(client, services, user)
    tokens = exchange(client, get_code(client, services, client_id), client_id, secret).get_json()
    id_claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).claims
    assert id_claims["sid"] and id_claims["sid"] != session.id and session.id not in tokens["id_token"]
    # the refreshed ID token keeps the session's sid
    refreshed = refresh(client, tokens["refresh_token"], client_id, secret).get_json()
    assert (
        jwt.decode(refreshed["id_token"], KeySet.import_key_set(client.get("/oauth2/jwks").get_json())).claims["sid"]
        == id_claims["sid"]
    )

    response = client.get("/oauth2/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200 and services.sessions.get(session.id) is None
    assert receiver.tokens == []  # the sign-out never waits for the application
    assert services.backchannel.run_due().delivered == 1

    [token] = receiver.tokens
    assert receiver.content_types == ["application/x-www-form-urlencoded"]
    header, claims = verified_logout_token(client, token)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == services.settings.issuer and claims["aud"] == client_id
    assert claims["sub"] == user.sub and claims["sid"] == id_claims["sid"]
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["jti"] and claims["iat"] == int(clock.time()) and 0 < claims["exp"] - claims["iat"] <= 120
    assert "nonce" not in claims
    assert session.id not in token
    [row] = deliveries(services)
    assert row.state == "delivered" and row.attempts == 1
    assert len(events(services, "logout.delivered")) == 1


def test_the_logout_token_signature_fails_with_another_key(client, services, listening, user, receiver):
    session_with(services, user, listening[0])
    services.self_service.sign_out_everywhere(user.sub, CTX)
    services.backchannel.run_due()
    [token] = receiver.tokens
    forged = token.rsplit(".", 1)[0] + "." + token.rsplit(".", 1)[1][::-1]
    with pytest.raises(jws.BadSignatureError):
        verified_logout_token(client, forged)


# -- every way a session ends -----------------------------------------------------------------------
def rp_logout(client, services, user, session):
    client.set_cookie("gh_sso", session.id)
    page = client.get("/oauth2/logout").get_data(as_text=True)  # no hint: the person confirms
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/oauth2/logout", data={"csrf_token": token, "submit": "Sign out"})


def account_everywhere(client, services, user, session):
    client.set_cookie("gh_sso", session.id)
    page = client.get("/account").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/account/sign-out-everywhere", data={"csrf_token": token, "submit": "1"})


def account_one_session(client, services, user, session):
    browser = services.sessions.create(user.sub, ["pwd"], CTX)  # the browser that acts
    client.set_cookie("gh_sso", browser.id)
    page = client.get("/account").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post(f"/account/sessions/{session.sid}/sign-out", data={"csrf_token": token, "submit": "1"})
    assert services.sessions.get(browser.id) is not None  # only the chosen one ended


def admin_api_sessions(client, services, user, session, headers):
    assert client.delete(f"/admin/api/v1/users/{user.sub}/sessions", headers=headers).status_code in (200, 204)


def admin_api_disable(client, services, user, session, headers):
    assert (
        client.patch(f"/admin/api/v1/users/{user.sub}", json={"status": "disabled"}, headers=headers).status_code == 200
    )


def admin_api_delete(client, services, user, session, headers):
    assert client.delete(f"/admin/api/v1/users/{user.sub}", headers=headers).status_code == 204


def console_action(client, services, user, session, action):
    from tests.web.test_console import csrf_token
    from tests.web.test_console import sign_in as console_sign_in

    users.create(services, "root", roles=["admin"])
    console_sign_in(client, "root")
    confirm = client.get(f"/admin/users/{user.sub}/{action}").get_data(as_text=True)
    client.post(f"/admin/users/{user.sub}/{action}", data={"csrf_token": csrf_token(confirm)})


TRIGGERS = {
    "rp_initiated": rp_logout,
    "account_sign_out_everywhere": account_everywhere,
    "account_one_session": account_one_session,
    "admin_api_sign_out_everywhere": lambda c, s, u, ses: admin_api_sessions(c, s, u, ses, ADMIN),
    "admin_api_disable": lambda c, s, u, ses: admin_api_disable(c, s, u, ses, ADMIN),
    "admin_api_delete": lambda c, s, u, ses: admin_api_delete(c, s, u, ses, ADMIN),
    "console_sign_out_everywhere": lambda c, s, u, ses: console_action(c, s, u, ses, "sign_out_everywhere"),
    "console_disable": lambda c, s, u, ses: console_action(c, s, u, ses, "disable"),
    "console_delete": lambda c, s, u, ses: console_action(c, s, u, ses, "delete"),
}
ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_sign_out_queues_and_delivers(client, services, listening, user, receiver, trigger):
    silent, _ = make_app(services, name="No receiver")  # registered without a backchannel_logout_uri
    session = session_with(services, user, listening[0], silent)
    TRIGGERS[trigger](client, services, user, session)
    assert services.sessions.get(session.id) is None
    [row] = deliveries(services)  # one per application that registered a receiver
    assert (row.client_id, row.sub, row.sid, row.state) == (listening[0], user.sub, session.sid, "pending")
    assert services.backchannel.run_due().delivered == 1
    [token] = receiver.tokens
    _, claims = verified_logout_token(client, token)
    assert (claims["aud"], claims["sub"], claims["sid"]) == (listening[0], user.sub, session.sid)


def test_each_ended_session_is_told_separately(services, listening, user, receiver):
    first, second = session_with(services, user, listening[0]), session_with(services, user, listening[0])
    session_with(services, user)  # a session without applications: nothing to tell
    assert services.self_service.sign_out_everywhere(user.sub, CTX) == 3
    assert sorted(r.sid for r in deliveries(services)) == sorted([first.sid, second.sid])
    assert services.backchannel.run_due().delivered == 2 and len(receiver.tokens) == 2


def test_an_application_without_the_uri_gets_nothing(client, services, user):
    silent, _ = make_app(services)
    session = session_with(services, user, silent)
    services.login.end_session(session, CTX)
    assert deliveries(services) == []
    assert services.backchannel.run_due().delivered == 0


# -- retries --------------------------------------------------------------------------------------
@pytest.mark.parametrize("broken", ["answers_500", "refuses_connections"])
def test_failures_are_retried_at_the_backoff_times_then_given_up(client, services, user, receiver, clock, broken):
    if broken == "answers_500":
        receiver.status = 500
        uri = receiver.url
    else:
        uri = f"http://127.0.0.1:{free_port()}/backchannel-logout"  # nothing listens there
    client_id, _ = make_app(services, backchannel_logout_uri=uri)
    services.login.end_session(session_with(services, user, client_id), CTX)
    assert services.backchannel.run_due().failed == 1
    for attempt, wait in enumerate(BACKOFF, start=1):
        [row] = deliveries(services)
        assert row.state == "pending" and row.attempts == attempt
        clock.advance(wait - 1)
        assert services.backchannel.run_due() == Outcome()  # not due yet
        clock.advance(1)
        assert services.backchannel.run_due().failed == 1
    [row] = deliveries(services)
    assert row.state == "failed" and row.attempts == len(BACKOFF) + 1
    clock.advance(24 * 3600)
    assert services.backchannel.run_due().failed == 0  # given up: never sent again
    failures = events(services, "logout.delivery_failed")
    assert len(failures) == len(BACKOFF) + 1
    assert all(e.client_id == client_id and e.result == "failure" and e.sub == user.sub for e in failures)
    assert [e.details["gave_up"] for e in failures] == [False] * len(BACKOFF) + [True]
    reason = failures[0].details["reason"]
    assert ("HTTP 500" in reason) if broken == "answers_500" else ("unreachable" in reason)
    assert all("logout_token" not in str(e.details) and "eyJ" not in str(e.details) for e in failures)
    if broken == "answers_500":
        assert len(receiver.tokens) == len(BACKOFF) + 1


def test_a_dead_receiver_never_fails_the_sign_out(client, services, user):
    client_id, _ = make_app(services, backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/bcl")
    session = session_with(services, user, client_id)
    client.set_cookie("gh_sso", session.id)
    response = client.get("/oauth2/logout")
    page = response.get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/oauth2/logout", data={"csrf_token": token, "submit": "Sign out"})
    assert response.status_code == 200 and "signed out" in response.get_data(as_text=True)
    assert services.sessions.get(session.id) is None
    assert [r.state for r in deliveries(services)] == ["pending"]


def test_a_receiver_answering_204_has_it(client, services, listening, user, receiver):
    receiver.status = 204
    services.login.end_session(session_with(services, user, listening[0]), CTX)
    assert services.backchannel.run_due().delivered == 1
    assert deliveries(services)[0].state == "delivered"


def test_a_success_after_failures_ends_the_retries(client, services, listening, user, receiver, clock):
    receiver.status = 503
    services.login.end_session(session_with(services, user, listening[0]), CTX)
    services.backchannel.run_due()
    receiver.status = 200
    clock.advance(BACKOFF[0])
    assert services.backchannel.run_due().delivered == 1
    [row] = deliveries(services)
    assert row.state == "delivered" and row.attempts == 2 and row.last_error is None


# -- several processes ------------------------------------------------------------------------------
def test_two_workers_racing_send_each_row_once(services, settings, listening, user, receiver, clock):
    from idp.db import Database

    for _ in range(4):
        services.login.end_session(session_with(services, user, listening[0]), CTX)
    other_db = Database(settings.database_url)  # another process: its own connections
    try:
        other = BackchannelLogout(settings, other_db, services.keys, ClientService(other_db), clock)
        receiver.hold = threading.Event()
        outcomes = []
        threads = [
            threading.Thread(target=lambda w=w: outcomes.append(w.run_due())) for w in (services.backchannel, other)
        ]
        for thread in threads:
            thread.start()
        assert receiver.arrived.acquire(timeout=10)  # a POST is in flight...
        receiver.hold.set()  # ...while both workers saw the same due rows
        for thread in threads:
            thread.join(timeout=30)
    finally:
        other_db.dispose()
    assert sum(o.delivered for o in outcomes) == 4
    keys = KeySet.import_key_set(services.keys.jwks())
    assert len(receiver.tokens) == 4 and len({jwt.decode(t, keys).claims["sid"] for t in receiver.tokens}) == 4
    assert all(r.state == "delivered" and r.attempts == 1 for r in deliveries(services))


def test_a_row_claimed_by_another_worker_is_skipped(services, listening, user, receiver, clock):
    services.login.end_session(session_with(services, user, listening[0]), CTX)
    [row] = deliveries(services)
    assert services.backchannel._claim(row.id, row.next_attempt_at) is not None
    assert services.backchannel._claim(row.id, row.next_attempt_at) is None  # the value it saw moved on
    assert services.backchannel.run_due().delivered == 0  # claimed: not due until the claim runs out
    clock.advance(services.settings.delivery_timeout + 61)
    assert services.backchannel.run_due().delivered == 1  # a worker that died mid-send is covered


def test_the_cli_sends_what_is_due(runner, services, listening, user, receiver):
    services.login.end_session(session_with(services, user, listening[0]), CTX)
    result = runner.invoke(args=["logout", "deliver", "--json"])
    assert result.exit_code == 0, result.output
    assert '"delivered": 1' in result.output and len(receiver.tokens) == 1


def test_the_worker_thread_delivers_by_itself(services, listening, user, receiver):
    from idp.oauth.backchannel import DeliveryWorker

    worker = DeliveryWorker(services.backchannel, interval=0.05)
    worker.start()
    try:
        services.login.end_session(session_with(services, user, listening[0]), CTX)
        assert receiver.arrived.acquire(timeout=10)
    finally:
        worker.stop()
    assert len(receiver.tokens) == 1


# -- outages ------------------------------------------------------------------------------------------
def test_redis_down_during_a_sign_out_changes_nothing(own_redis, client, services, listening, user):
    from idp.errors import IdpError

    sub, session = user.sub, session_with(services, user, listening[0])
    own_redis.stop()
    with pytest.raises(IdpError) as refused:
        services.self_service.sign_out_everywhere(sub, CTX)
    assert refused.value.code == "store.unavailable"
    with pytest.raises(IdpError):  # the notice is written first, then Redis fails: rolled back
        services.login.end_session(session, CTX)
    response = client.delete(f"/admin/api/v1/users/{sub}", headers=ADMIN)
    assert response.status_code == 503 and response.is_json
    assert deliveries(services) == []  # no notice for a sign-out that did not happen
    assert events(services, "account.sign_out_everywhere") == [] and events(services, "logout") == []
    assert services.users.by_sub(sub) is not None
    own_redis.start()  # an empty Redis: the session went with the old server; work goes on
    assert session.sid and services.self_service.sign_out_everywhere(sub, CTX) == 0
