"""PostgreSQL really stopped mid-flow, on four paths: the Tencent CIAM OTP grant (between the
send and the exchange), refresh-token rotation (between two refreshes), the hosted password
page and CloudBase ``/auth/v1/signin``; and the JWKS, served from memory meanwhile.

Each request made while the server is down answers 503 in its face's format within the bound
(a refused connection fails at once; ``idp.db.CONNECT_TIMEOUT`` bounds one that is never
answered), writes nothing, and the same app object serves again once the server is back:
the code was not spent, the refresh token was not rotated away, no user was created without
its tokens, no audit row was written for a request that failed.
"""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import ECKey

from idp.db import CONNECT_TIMEOUT
from tests.conftest import basic
from tests.factories import PASSWORD, applications, users
from tests.helpers import TENANT, send_sms, sms_login
from tests.outage.conftest import Stopwatch, count_rows
from tests.web.conftest import csrf_token

BOUND = CONNECT_TIMEOUT + 1.0  # seconds for the requests of one outage, all of them together


def assert_ciam_503(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "temporarily_unavailable"


def rows(postgres) -> dict[str, int]:
    return {table: count_rows(postgres.url, table) for table in ("users", "refresh_tokens", "audit_events")}


def test_otp_grant_postgres_stopped_between_send_and_exchange(postgres, client, seeded, outbox, services):
    sent = send_sms(client, phone="13712345678")
    assert sent.status_code == 200
    otp_token, code = sent.get_json()["otp_token"], outbox.last_code()
    before = rows(postgres)

    postgres.stop()
    with Stopwatch() as watch:
        down_send = send_sms(client, phone="13812345678")
        down_exchange = sms_login(client, otp_token, code, phone="13712345678", auto_signup="true")
    assert watch.elapsed < BOUND
    assert_ciam_503(down_send)
    assert_ciam_503(down_exchange)
    assert [r["to"] for r in outbox.records()] == ["+8613712345678"]  # the send while down sent nothing

    postgres.start()
    assert rows(postgres) == before  # no user, no token, no audit event of the failed requests
    exchange = sms_login(client, otp_token, code, phone="13712345678", auto_signup="true")  # same app, same code
    assert exchange.status_code == 200, exchange.get_json()
    user = services.users.by_contact("sms", "+8613712345678")
    assert user is not None
    after = rows(postgres)
    assert (after["users"], after["refresh_tokens"]) == (before["users"] + 1, before["refresh_tokens"] + 1)
    assert send_sms(client, phone="13812345678").status_code == 200


def refresh(client, refresh_token: str):
    return client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}, headers=TENANT
    )


def test_refresh_postgres_stopped_between_two_refreshes(postgres, client, seeded, outbox, services):
    users.create(services, None, with_password=False, with_verified_phone="+8613612345678")
    sent = send_sms(client)
    tokens = sms_login(client, sent.get_json()["otp_token"], outbox.last_code()).get_json()
    first = refresh(client, tokens["refresh_token"])
    assert first.status_code == 200
    current = first.get_json()["refresh_token"]
    before = rows(postgres)

    postgres.stop()
    with Stopwatch() as watch:
        down = refresh(client, current)
    assert watch.elapsed < BOUND
    assert_ciam_503(down)

    postgres.start()
    assert rows(postgres) == before
    again = refresh(client, current)  # not rotated away by the failed request: it works once
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["refresh_token"] != current
    reused = refresh(client, current)
    assert reused.status_code == 400
    assert reused.get_json()["error"] == "invalid_grant"


def test_hosted_password_page_postgres_stopped(postgres, client, services):
    users.create(services, "alice")
    page = client.get("/login")
    assert page.status_code == 200
    form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "username": "alice", "password": PASSWORD}
    before = rows(postgres)

    postgres.stop()
    with Stopwatch() as watch:
        down = client.post("/login", data=form)
    assert watch.elapsed < BOUND
    assert down.status_code == 503
    assert down.mimetype == "text/html"
    assert "Temporarily unavailable" in down.get_data(as_text=True)
    assert "gh_sso=" not in str(down.headers.getlist("Set-Cookie"))  # no session for a failed sign-in

    postgres.start()
    assert rows(postgres) == before
    signed_in = client.post("/login", data=form)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/account"


CLOUDBASE = basic("cloudbase-app", "cloudbase-secret")


def test_cloudbase_signin_postgres_stopped(postgres, client, services):
    applications.create(
        services, client_id="cloudbase-app", client_secret="cloudbase-secret", scopes=["openid", "profile"]
    )
    users.create(services, "zhangsan")
    body = {"username": "zhangsan", "password": PASSWORD}
    before = rows(postgres)

    postgres.stop()
    with Stopwatch() as watch:
        down = client.post("/auth/v1/signin", json=body, headers=CLOUDBASE)
    assert watch.elapsed < BOUND
    assert down.status_code == 503
    assert down.get_json()["error"] == "unavailable"
    assert down.get_json()["error_code"] == 14
    assert down.headers["X-Request-Id"]

    postgres.start()
    assert rows(postgres) == before
    again = client.post("/auth/v1/signin", json=body, headers=CLOUDBASE)
    assert again.status_code == 200, again.get_json()
    assert count_rows(postgres.url, "refresh_tokens") == before["refresh_tokens"] + 1


def test_the_jwks_is_served_from_memory_while_postgres_is_down(postgres, client, services, clock):
    """The JWKS is re-read at most once a second for freshness; a database that cannot answer
    then leaves the keys already read in place, so relying parties keep verifying."""
    before = client.get("/oauth2/jwks").get_json()
    stranger = jwt.encode({"alg": "ES256", "kid": "unknown"}, {"sub": "x"}, ECKey.generate_key("P-256"))
    postgres.stop()
    clock.advance(1.5)  # past the second: the JWKS and an unknown kid would both re-read the keys
    with Stopwatch() as watch:
        during = client.get("/oauth2/jwks")
        unknown = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {stranger}"})
    assert watch.elapsed < BOUND
    assert during.status_code == 200 and during.get_json() == before
    assert unknown.status_code == 401
    postgres.start()
    rotated = services.keys.rotate("ES256")
    assert rotated in {key["kid"] for key in client.get("/oauth2/jwks").get_json()["keys"]}
