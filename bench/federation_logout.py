"""Back-channel logout and sign-in through an upstream provider, timed in process.

Two questions the wrk scenarios cannot answer:

1. What does a sign-out cost once it owes logout tokens, and does a dead receiver slow it? The
   sign-out only queues rows (OpenID Connect Back-Channel Logout 1.0 deliveries happen later),
   so it should cost about the same whoever listens. Timed: "sign out everywhere" of a person
   with 3 sessions x 3 applications, with and without ``backchannel_logout_uri``; then the
   worker's ``run_due`` per delivery to a receiver on loopback, and per failed attempt when the
   receiver's port is closed.
2. What does the callback of a federated sign-in cost? Timed: the GET of our callback after a
   person signed in at panva/oidc-provider on loopback (the code exchange with PKCE, the ID token
   checked against the upstream's keys, userinfo for the email, the link lookup, the session),
   the first one (discovery and keys fetched) apart from the rest.

SQLite file and embedded Redis under a temporary folder; one process; wall time from
``time.perf_counter``. Needs `make install` and `make node-upstream`.

    .venv/bin/python bench/federation_logout.py [--rounds 200] [--sign-ins 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, machine_info
from idp.context import RequestContext

CTX = RequestContext(ip="127.0.0.1", user_agent="bench")
ADMIN_TOKEN = "bench-admin-token"


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def build(folder: Path):
    from app import create_app
    from idp.migrate import upgrade
    from idp.services import Services
    from idp.settings import load_settings

    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    overrides = {
        "env": "test",
        "secret_key": "bench-secret-key",
        "issuer": "http://127.0.0.1:5000",
        "database_url": url,
        "redis_url": "",
        "instance_path": folder,
        "outbox_path": folder / "outbox.jsonl",
        "admin_token": ADMIN_TOKEN,
        "logout_worker_interval": 0,
    }
    settings = load_settings().with_overrides(overrides).check()
    services = Services.build(settings)
    services.keys.ensure_key()
    return services, create_app(services=services)


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


def sign_out_rounds(services, sub: str, client_ids: list[str], rounds: int) -> list[float]:
    from idp.admin import service as admin

    samples = []
    for _ in range(rounds):
        for _session in range(3):
            session = services.sessions.create(sub, ["pwd"], CTX)
            for client_id in client_ids:
                services.sessions.add_client(session, client_id)
        started = time.perf_counter()
        admin.sign_out_everywhere(services, sub, CTX)
        samples.append(time.perf_counter() - started)
    return samples


def deliveries(services, expected: int) -> tuple[float, int]:
    started = time.perf_counter()
    done = 0
    while done < expected:
        outcome = services.backchannel.run_due(limit=500)
        if not outcome.delivered and not outcome.failed:
            break
        done += outcome.delivered + outcome.failed
    return (time.perf_counter() - started) / max(done, 1), done


def logout(services, rounds: int) -> dict:
    from tests.factories import applications, users

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{receiver.server_address[1]}/logout"
    listening = [
        applications.create(services, client_id=f"listening-{i}", backchannel_logout_uri=uri).client_id
        for i in range(3)
    ]
    quiet = [applications.create(services, client_id=f"quiet-{i}").client_id for i in range(3)]
    person = users.create(services, "bench-person", with_password=True)

    quiet_times = sign_out_rounds(services, person.sub, quiet, rounds)
    listening_times = sign_out_rounds(services, person.sub, listening, rounds)
    per_delivery, delivered = deliveries(services, rounds * 9)
    receiver.shutdown()
    receiver.server_close()

    closed = f"http://127.0.0.1:{free_port()}/logout"
    for client_id in listening:
        services.clients.update_application(client_id, {"backchannel_logout_uri": closed}, CTX)
    down_times = sign_out_rounds(services, person.sub, listening, rounds)
    per_failure, failed = deliveries(services, rounds * 9)
    return {
        "sign_out_everywhere_3x3_no_receivers": ms(quiet_times),
        "sign_out_everywhere_3x3_receivers_up": ms(listening_times),
        "sign_out_everywhere_3x3_receivers_down": ms(down_times),
        "delivery_ms_each": round(per_delivery * 1000, 3),
        "deliveries": delivered,
        "failed_attempt_ms_each_connection_refused": round(per_failure * 1000, 3),
        "failed_attempts": failed,
    }


def federated(app, services, sign_ins: int) -> dict:
    from tests.factories import applications
    from tests.federation.test_federated_pages import continue_with
    from tests.upstreams.oidc_provider import OidcProviderProcess, sign_in
    from tests.web.test_mfa_pages import authorize

    process = OidcProviderProcess([], {"ada": {"email": "ada@example.com", "email_verified": True, "name": "Ada"}})
    client = app.test_client()
    registered = client.post(
        "/admin/api/v1/identity-providers",
        json={
            "name": "Foreign SSO",
            "kind": "oidc",
            "issuer": process.issuer,
            "client_id": process.client_id,
            "client_secret": process.client_secret,
            "scopes": ["openid", "email", "profile"],
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ).get_json()
    process.config["redirect_uris"] = [registered["redirect_uri"]]
    process.start()
    applications.create(services, client_id="RP_APP", identity_provider_ids=[registered["id"]])
    callback_path = urlsplit(registered["redirect_uri"]).path
    samples = []
    try:
        for _ in range(sign_ins):
            browser = app.test_client()
            upstream_url = continue_with(browser, authorize(browser, "RP_APP"), "Continue with Foreign SSO")
            landed = sign_in(upstream_url, registered["redirect_uri"], login="ada")
            started = time.perf_counter()
            done = browser.get(callback_path, query_string=landed)
            samples.append(time.perf_counter() - started)
            if done.status_code != 302:
                raise RuntimeError(f"the callback answered {done.status_code}")
    finally:
        process.stop()
    return {"callback_first_ms": round(samples[0] * 1000, 3), "callback_after": ms(samples[1:])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sign-ins", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        services, app = build(Path(folder))
        # no app context around the requests: each request's own keeps Flask-WTF's token apart
        result = {
            "machine": machine_info(),
            "logout": logout(services, args.rounds),
            "federated_sign_in": federated(app, services, args.sign_ins),
        }
        services.db.dispose()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
