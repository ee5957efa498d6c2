#!/usr/bin/env python3
"""Where one request's time goes, per scenario, measured in-process and single-threaded.

Companion to bench/run.py. Builds a fresh instance the same way (SQLite + the bench Redis),
creates the app in this process and drives the same three chained scenarios through the
Flask test client, one request at a time, with timers wrapped around the app's own service
methods and a few library calls (SQLAlchemy session commit/queries, JWT signing, Redis
commands). Prints, per scenario, each timed call's calls/request and inclusive wall and CPU
milliseconds per request. Wall minus CPU is time spent waiting (mostly Redis round trips).

Nothing about the app is changed on disk: the timers are wrappers installed in this process.

    .venv/bin/python bench/breakdown.py [--requests 400] [--redis auto|system|embedded]
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # bench/common.py: shared setup and request builders

# (module, attribute path) of the calls to time; inclusive, so nested entries overlap.
TIMED = [
    ("flask.app", "Flask.wsgi_app"),
    ("blueprints.web", "request_context"),
    ("idp.oauth.clients", "ClientService.authenticate_basic"),
    ("idp.oauth.clients", "ClientService.by_client_id"),
    ("idp.models.clients", "Application.check_client_secret"),
    ("idp.otp.service", "OtpService.send"),
    ("idp.otp.service", "OtpService.normalise_target"),
    ("idp.otp.service", "OtpService.code_policy"),
    ("idp.otp.service", "OtpService._live_code"),
    ("idp.otp.limits", "SendLimiter.rules"),
    ("idp.otp.limits", "SendLimiter.reserve"),
    ("idp.otp.service", "render_code_message"),
    ("idp.otp.senders.outbox", "OutboxSender.deliver"),
    ("idp.otp.service", "OtpService._store"),
    ("idp.audit", "write"),
    ("idp.otp.service", "OtpService.verify"),
    ("blueprints.oauth", "GatehouseServer.create_oauth2_request"),
    ("blueprints.oauth", "GatehouseServer.query_client"),
    ("idp.oauth.grants", "OtpGrant.validate_token_request"),
    ("idp.oauth.grants", "OtpGrant._authenticate"),
    ("idp.accounts.users", "UserService.by_contact"),
    ("idp.flows.login", "LoginFlow.sign_in"),
    ("idp.flows.signup", "SignUpFlow.sign_up"),
    ("idp.guard.bruteforce", "BruteForceGuard.check"),
    ("idp.accounts.proofs", "CodeProof.spend"),
    ("idp.accounts.users", "UserService.by_sub"),
    ("idp.oauth.grants", "RefreshTokenGrant.authenticate_refresh_token"),
    ("idp.oauth.tokens", "RefreshTokenStore.find_live"),
    ("idp.oauth.tokens", "RefreshTokenStore.rotate"),
    ("idp.oauth.revocation", "AccessTokenRevocations.is_denied"),
    ("idp.oauth.grants", "issue_token_response"),
    ("idp.oauth.issuer", "TokenIssuer.issue"),
    ("idp.oauth.issuer", "TokenIssuer._access_token"),
    ("idp.oauth.issuer", "TokenIssuer.id_token"),
    ("joserfc.jwt", "encode"),
    ("idp.oauth.revocation", "AccessTokenRevocations.remember"),
    ("idp.oauth.issuer", "TokenIssuer._save"),
    ("idp.oauth.tokens", "RefreshTokenStore.add"),
    ("idp.audit", "record"),
    ("idp.db", "Database.remove"),
    ("sqlalchemy.orm.session", "Session.commit"),
    ("sqlalchemy.orm.session", "Session.scalar"),
    ("sqlalchemy.orm.session", "Session.execute"),
    ("sqlalchemy.orm.session", "Session.rollback"),
    ("redis.client", "Redis.execute_command"),
    ("redis.commands.core", "Script.__call__"),
]

STATS: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])  # calls, wall, cpu
_depth: dict[str, int] = collections.Counter()


def install_timers() -> list[str]:
    installed = []
    for module_name, path in TIMED:
        try:
            module = importlib.import_module(module_name)
            *owners, attr = path.split(".")
            owner = module
            for name in owners:
                owner = getattr(owner, name)
            original = getattr(owner, attr)
        except (ImportError, AttributeError):
            print(f"  (not timed: {module_name}.{path} not found)")
            continue
        label = path

        def make(original, label):
            @functools.wraps(original)
            def timed(*args, **kwargs):
                if _depth[label]:  # recursion/re-entry: count the outer call only
                    return original(*args, **kwargs)
                _depth[label] += 1
                w0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    stat = STATS[label]
                    stat[0] += 1
                    stat[1] += time.perf_counter() - w0
                    stat[2] += time.thread_time() - c0
                    _depth[label] -= 1

            return timed

        wrapped = make(original, label)
        if isinstance(owner.__dict__.get(attr) if hasattr(owner, "__dict__") else None, staticmethod):
            wrapped = staticmethod(wrapped)
        setattr(owner, attr, wrapped)
        installed.append(label)
    return installed


def phase(client, name: str, bodies: list[bytes], headers: dict) -> tuple[dict, list[dict]]:
    STATS.clear()
    path = common.HEADERS[name][0]
    responses = []
    w0, c0 = time.perf_counter(), time.thread_time()
    for body in bodies:
        resp = client.post(path, data=body, headers=headers)
        if resp.status_code != 200:
            raise SystemExit(f"{name}: HTTP {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        responses.append(resp.get_json())
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    n = len(bodies)
    rows = {
        label: {
            "calls_per_req": round(s[0] / n, 2),
            "wall_ms": round(s[1] / n * 1000, 3),
            "cpu_ms": round(s[2] / n * 1000, 3),
        }
        for label, s in STATS.items()
    }
    return {
        "requests": n,
        "wall_ms_per_req_incl_test_client": round(wall / n * 1000, 3),
        "cpu_ms_per_req_incl_test_client": round(cpu / n * 1000, 3),
        "calls": rows,
    }, responses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--redis", choices=["auto", "system", "embedded"], default="auto")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = ap.parse_args()

    redis_url = ""
    if args.redis in ("auto", "system") and common.system_redis_ok(args.redis_url):
        redis_url = args.redis_url
        common.redis_command(redis_url, ["FLUSHDB"])
    instance = Path(tempfile.mkdtemp(prefix="gatehouse-breakdown-"))
    env = common.app_env(instance, redis_url)
    try:
        with open(instance / "bench.log", "w") as log:
            common.run_cli(["db", "upgrade"], env, log)
            common.run_cli(["demo", "--json"], env, log)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(common.ROOT)
        sys.path.insert(0, str(common.ROOT))
        from app import create_app

        install_timers()
        app = create_app()
        client = app.test_client()
        basic = {
            "Content-Type": "application/json",
            "Authorization": common.BASIC,
        }
        plain = {"Content-Type": "application/json"}
        numbers = common.phone_numbers(args.warmup + args.requests, random.Random(), set())
        outbox = instance / "outbox.jsonl"
        report = {"redis": redis_url or "embedded", "scenarios": {}}

        def chain(nums: list[str]) -> dict:
            out = {}
            out["send"], sent = phase(client, "send", [common.send_body(n) for n in nums], basic)
            codes = common.read_outbox(outbox)
            bodies = [common.otp_body(n, r["otp_token"], codes["+86" + n]) for n, r in zip(nums, sent, strict=True)]
            out["otp"], grants = phase(client, "otp", bodies, plain)
            refresh_bodies = [common.refresh_body(g["refresh_token"]) for g in grants]
            out["refresh"], _ = phase(client, "refresh", refresh_bodies, plain)
            return out

        chain(numbers[: args.warmup])
        report["scenarios"] = chain(numbers[args.warmup :])
    finally:
        shutil.rmtree(instance, ignore_errors=True)

    order = [label for _, label in TIMED]
    for name, data in report["scenarios"].items():
        print(
            f"\n== {common.LABELS[name]}: {data['requests']} sequential requests; per request "
            f"{data['wall_ms_per_req_incl_test_client']:.2f} ms wall, "
            f"{data['cpu_ms_per_req_incl_test_client']:.2f} ms CPU (incl. Flask test client)"
        )
        print(f"   {'call (inclusive)':52} {'calls':>6} {'wall ms':>8} {'cpu ms':>8}")
        for label in sorted(data["calls"], key=order.index):
            row = data["calls"][label]
            print(f"   {label:52} {row['calls_per_req']:6} {row['wall_ms']:8.3f} {row['cpu_ms']:8.3f}")
    common.OUT.mkdir(parents=True, exist_ok=True)
    (common.OUT / "breakdown.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {(common.OUT / 'breakdown.json').relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
