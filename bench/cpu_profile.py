#!/usr/bin/env python3
"""Where a token request's CPU goes, by package: the profile behind bench/RESULTS.md.

Builds a fresh instance (SQLite, or PostgreSQL with ``--pg-url``, and the bench Redis, as
bench/run.py's servers), then
drives the token endpoint in this process through Flask's test client, one request at a time,
the way wrk does (form body, HTTP Basic): ``refresh`` (rotation, RS256 access and ID token),
``client_credentials`` (an m2m application), ``send`` (``POST /otp/send``, a new number each
time), ``otp`` (the OTP grant with auto sign-up, spending those codes) and ``otp_existing`` (the
OTP grant of a person who already has an account). Each scenario runs twice after a warm-up: once
timed with ``time.thread_time`` (CPU per request, no profiler), once under cProfile, whose self
time is summed by where the code lives: a package of the virtualenv (``sqlalchemy``,
``werkzeug``, ...), Gatehouse's own ``idp`` and ``blueprints``, the standard library, or a C
call (RSA signing is ``cryptography``; SQLite's statements are ``sqlite3``). What each of
Gatehouse's own steps costs is bench/breakdown.py's job; ``--save`` keeps the profiles for
``pstats`` (callers, callees).

The HTTP server is not in this picture (the test client calls the WSGI app directly): compare
the CPU here with bench/run.py's figure for the same scenario to see gunicorn's share.

    .venv/bin/python bench/cpu_profile.py [--requests 2000] [--scenarios refresh,otp] [--pg-url URL]
        [--timer wall|cpu] [--save DIR]
        [--redis-url redis://127.0.0.1:6379/13]
"""

from __future__ import annotations

import argparse
import base64
import collections
import cProfile
import json
import os
import pstats
import random
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # bench/common.py

STDLIB = sysconfig.get_paths()["stdlib"]
# C functions, named by their object in cProfile ("{method 'sign' of '...RSAPrivateKey' objects}")
C_OWNERS = {"cryptography": "cryptography (RSA/EC signing)", "sqlite3": "sqlite3 (C)", "_json": "json (C)"}


def owner(filename: str, function: str) -> str:
    """Where a profiled function lives, as a short label."""
    if filename == "~":  # a builtin or C extension
        for needle, label in C_OWNERS.items():
            if needle in function:
                return label
        return "builtins / C"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    path = str(Path(filename).resolve())
    if path.startswith(str(common.ROOT)):
        return Path(path).relative_to(common.ROOT).parts[0]
    if path.startswith(STDLIB) or filename.startswith("<"):
        return "Python stdlib"
    return "other"


def by_owner(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = collections.Counter()
    for (filename, _line, function), (_cc, _nc, self_time, _cum, _callers) in stats.items():
        totals[owner(filename, function)] += self_time
    return dict(totals)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--scenarios", default="refresh,client_credentials")
    ap.add_argument(
        "--timer",
        choices=("wall", "cpu"),
        default="wall",
        help="cProfile's clock: wall (default, least overhead; Redis and database steps include their waits) "
        "or cpu (the thread's CPU time: the profiler's own cost triples, but waits cost nothing)",
    )
    ap.add_argument("--save", metavar="DIR", help="write each scenario's profile as DIR/<scenario>.prof (pstats)")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    ap.add_argument(
        "--pg-url",
        help="profile on PostgreSQL instead of SQLite (the database is dropped and created; loopback only), "
        "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench",
    )
    args = ap.parse_args()
    if not common.system_redis_ok(args.redis_url):
        raise SystemExit(f"no Redis at {args.redis_url}")
    common.redis_command(args.redis_url, ["FLUSHDB"])
    instance = Path(tempfile.mkdtemp(prefix="gatehouse-profile-"))
    env = common.app_env(instance, args.redis_url)
    # ``otp_existing`` sends each number a second code at once: the 30-second interval per
    # number is switched off (its Lua rule still runs; only its answer changes)
    env["GATEHOUSE_LIMIT_TARGET_INTERVAL"] = "0"
    try:
        with open(instance / "bench.log", "w") as log:
            if args.pg_url:
                common.reset_postgresql(args.pg_url, log)
                env["DATABASE_URL"] = args.pg_url
            common.run_cli(["db", "upgrade"], env, log)
            common.run_cli(["demo", "--json"], env, log)
            m2m = json.loads(common.run_cli(["apps", "create", "--name", "m2m", "--type", "m2m", "--json"], env, log))
        os.environ.clear()
        os.environ.update(env)
        os.chdir(common.ROOT)
        sys.path.insert(0, str(common.ROOT))
        from app import create_app

        client = create_app().test_client()
        seeds = 64
        numbers = common.phone_numbers(seeds, random.Random(7), set())
        json_basic = {"Content-Type": "application/json", "Authorization": common.BASIC}
        sent = [client.post("/otp/send", data=common.send_body(n), headers=json_basic).get_json() for n in numbers]
        codes = common.read_outbox(instance / "outbox.jsonl")
        tokens = [
            client.post(
                "/oauth2/token",
                data=common.otp_body(n, s["otp_token"], codes["+86" + n]),
                headers={"Content-Type": "application/json"},
            ).get_json()["refresh_token"]
            for n, s in zip(numbers, sent, strict=True)
        ]
        form = "application/x-www-form-urlencoded"
        web = {"Authorization": common.BASIC, "Content-Type": form}
        m2m_basic = base64.b64encode(f"{m2m['client_id']}:{m2m['client_secret']}".encode()).decode()
        machine = {"Authorization": "Basic " + m2m_basic, "Content-Type": form}

        def refresh(i: int) -> None:
            body = {"grant_type": "refresh_token", "refresh_token": tokens[i % seeds]}
            answer = client.post("/oauth2/token", data=body, headers=web)
            if answer.status_code != 200:
                raise SystemExit(f"refresh: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
            tokens[i % seeds] = answer.get_json()["refresh_token"]

        def client_credentials(i: int) -> None:
            answer = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=machine)
            if answer.status_code != 200:
                raise SystemExit(f"client_credentials: {answer.status_code} {answer.get_data(as_text=True)[:200]}")

        # the send and OTP scenarios: a new number for every request (auto sign-up), its code
        # read from the dev outbox; ``otp_existing`` signs in the people ``otp`` signed up
        warmup = 300
        fresh = common.phone_numbers(2 * (warmup + 2 * args.requests), random.Random(11), set(numbers))
        sends: list[tuple[str, str]] = []

        def send(i: int) -> None:
            number = fresh[len(sends)]
            answer = client.post("/otp/send", data=common.send_body(number), headers=json_basic)
            if answer.status_code != 200:
                raise SystemExit(f"send: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
            sends.append((number, answer.get_json()["otp_token"]))

        def grant(number: str, otp_token: str, code: str) -> None:
            body = common.otp_body(number, otp_token, code)
            answer = client.post("/oauth2/token", data=body, headers={"Content-Type": "application/json"})
            if answer.status_code != 200:
                raise SystemExit(f"OTP grant: {answer.status_code} {answer.get_data(as_text=True)[:200]}")

        spent: list[str] = []

        def otp(i: int) -> None:
            number, otp_token = sends[len(spent)]
            grant(number, otp_token, outbox_codes["+86" + number])
            spent.append(number)

        existing: list[tuple[str, str]] = []

        def otp_existing(i: int) -> None:
            number, otp_token = existing[i]
            grant(number, otp_token, outbox_codes["+86" + number])

        outbox_codes: dict[str, str] = {}
        scenarios = {
            "refresh": refresh,
            "client_credentials": client_credentials,
            "send": send,
            "otp": otp,
            "otp_existing": otp_existing,
        }
        chosen = [name for name in scenarios if name in args.scenarios.split(",")]  # in this order
        if "otp" in chosen or "otp_existing" in chosen:
            for i in range(warmup + 2 * args.requests):
                send(i)
            outbox_codes.update(common.read_outbox(instance / "outbox.jsonl"))
        database = "PostgreSQL" if args.pg_url else "SQLite"
        print(f"Gatehouse in-process on {database}, {args.requests} requests per scenario, {time.strftime('%F %T')}")
        for name in chosen:
            request = scenarios[name]
            if name == "otp_existing":
                if "otp" not in chosen:  # sign the people up first
                    for i in range(warmup + 2 * args.requests):
                        otp(i)
                for number in spent:  # a second code for each (the per-number interval is off here)
                    answer = client.post("/otp/send", data=common.send_body(number), headers=json_basic)
                    existing.append((number, answer.get_json()["otp_token"]))
                outbox_codes.update(common.read_outbox(instance / "outbox.jsonl"))
            for i in range(warmup):
                request(i)
            started = time.thread_time()
            for i in range(warmup, warmup + args.requests):
                request(i)
            cpu_ms = (time.thread_time() - started) / args.requests * 1000
            profile = cProfile.Profile(time.thread_time) if args.timer == "cpu" else cProfile.Profile()
            profile.enable()
            for i in range(warmup + args.requests, warmup + 2 * args.requests):
                request(i)
            profile.disable()
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                profile.dump_stats(Path(args.save) / f"{name}.prof")
            totals = by_owner(profile)
            whole = sum(totals.values())
            print(f"\n{name}: {cpu_ms:.3f} CPU ms per request (no profiler, test client included)")
            print(f"  {'self time by where the code lives':40} {'share':>6}")
            for label, seconds in sorted(totals.items(), key=lambda item: -item[1]):
                if seconds / whole >= 0.005:
                    print(f"  {label:40} {seconds / whole * 100:5.1f}%")
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
