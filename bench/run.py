#!/usr/bin/env python3
"""Gatehouse token-endpoint bench: wrk against each server, every scenario, in one run.

Load generator: ``wrk -t1 -c32`` pinned to core 1 (``taskset -c 1``), driven by the Lua
scripts in bench/wrk/; the server under test pinned to core 0. Servers (``--servers``):

  sqlite      Gatehouse on SQLite, a fresh instance folder       (gunicorn, one worker)
  postgresql  Gatehouse on PostgreSQL, database ``bench`` dropped and created, ``flask db upgrade``
  floor       bench/floor.py, the least a Flask app can do for the same token requests
  node        panva/oidc-provider 9 (bench/peers/, one Node process, in-memory adapter)

Scenarios (``--scenarios``; the peers answer only discovery, client_credentials and refresh):

  discovery                 GET /.well-known/openid-configuration
  client_credentials        POST token endpoint, HTTP Basic, an m2m application
  client_credentials-es256  the same for an application with access_token_alg=ES256
  send                      POST /otp/send, distinct valid phone numbers
  otp                       OTP grant (auto sign-up) with the codes of the send phase (dev outbox)
  refresh                   refresh_token grant with rotation, each answer's token queued for a
                            later request (64 seeds), every token spent once
  refresh-es256             the same for an application with ES256 access and ID tokens

Per scenario and server: req/s, p50/p99 latency (wrk), the server's CPU ms per request (user +
system of master and workers from /proc over the timed phase ÷ requests), its RSS after the
phase, and the ratio to the Node provider (its CPU ms/req ÷ this server's: above 1 = less CPU
than Node; an ``-es256`` row is set against Node's RS256 row of the same grant). A response
that is not a 200 with the expected field is an error; a run with errors is invalid (exit
status 1). JSON into bench/out/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BASIC,
    CLIENT_ID,
    CLIENT_SECRET,
    OUT,
    ROOT,
    SMS_SOURCE,
    WSGI_SERVERS,
    app_env,
    free_port,
    loadavg,
    machine_info,
    otp_body,
    phone_numbers,
    pids_matching,
    pinned,
    process_tree,
    read_outbox,
    redis_command,
    reset_postgresql,
    rss_mib,
    run_cli,
    send_body,
    server_cmd,
    stop,
    system_cpu,
    system_redis_ok,
    tree_cpu,
    wait_ready,
)

WRK_DIR = Path(__file__).resolve().parent / "wrk"
PEERS = Path(__file__).resolve().parent / "peers"
SCENARIOS = (
    "discovery",
    "client_credentials",
    "client_credentials-es256",
    "send",
    "otp",
    "refresh",
    "refresh-es256",
)
PEER_SCENARIOS = ("discovery", "client_credentials", "refresh")
# the floor also signs ES256 for its "-es256" clients: the least an ES256 token costs in Flask
FLOOR_SCENARIOS = (*PEER_SCENARIOS, "client_credentials-es256", "refresh-es256")
ALL_SERVERS = ("sqlite", "postgresql", "floor", "node")
ES256_FIELDS = {"access_token_alg": "ES256", "id_token_signed_response_alg": "ES256"}
NODE = "oidc-provider"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def post(port: int, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def jwt_alg(token: str) -> str:
    head = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))).get("alg", "?")


# -- the servers ----------------------------------------------------------------------------
class Server:
    """One server under test: where it listens, the process tree whose CPU and RSS count, and
    what each scenario sends it."""

    def __init__(self, name: str, family: str, wsgi: str) -> None:
        self.name, self.family, self.wsgi = name, family, wsgi
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.command: list[str] = []
        self.token_path = "/oauth2/token"
        self.m2m_auth = ""
        self.m2m_body = "grant_type=client_credentials"
        self.refresh_auth = ""
        self.instance: Path | None = None
        self.env: dict[str, str] = {}
        self.used_numbers: set[str] = set()
        self.rng = random.Random(7)
        self.es256: dict[str, str] = {}
        self.es256_skip = ""
        self.sent: list[tuple[str, str]] = []  # (number, otp_token) of the last send phase

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def supports(self, scenario: str) -> bool:
        if self.family == "floor":
            return scenario in FLOOR_SCENARIOS
        return self.family == "gatehouse" or scenario in PEER_SCENARIOS

    def numbers(self, count: int) -> list[str]:
        out = phone_numbers(count, self.rng, self.used_numbers)
        self.used_numbers.update(out)
        return out

    def refresh_seeds(self, count: int, es256: bool = False) -> list[str]:
        if self.family != "gatehouse":
            path = "/bench/refresh-token" + (f"?client_id={self.es256['web_id']}" if es256 else "")
            return [json.loads(post(self.port, path, "", {})[1])["refresh_token"] for _ in range(count)]
        client_id, secret = (self.es256["web_id"], self.es256["web_secret"]) if es256 else (CLIENT_ID, CLIENT_SECRET)
        return gatehouse_refresh_tokens(self, self.numbers(count), client_id, secret)


def gatehouse_refresh_tokens(server: Server, numbers: list[str], client_id: str, secret: str) -> list[str]:
    """Refresh tokens the way a phone gets them: a code sent, then the OTP grant (auto sign-up),
    both by the application the tokens are for (a code is bound to the client that sent it)."""
    sent = {}
    send_headers = {"Content-Type": "application/json", "Authorization": basic(client_id, secret)}
    for number in numbers:
        status, data = post(server.port, "/otp/send", send_body(number).decode(), send_headers)
        if status != 200:
            raise SystemExit(f"{server.name}: send for the refresh seeds: {status} {data[:200]!r}")
        sent[number] = json.loads(data)["otp_token"]
    assert server.instance is not None
    codes = read_outbox(server.instance / "outbox.jsonl")
    tokens = []
    for number, otp_token in sent.items():
        body = otp_body(number, otp_token, codes["+86" + number], client_id, secret).decode()
        status, data = post(server.port, "/oauth2/token", body, {"Content-Type": "application/json"})
        if status != 200:
            raise SystemExit(f"{server.name}: OTP grant for the refresh seeds: {status} {data[:200]!r}")
        tokens.append(json.loads(data)["refresh_token"])
    return tokens


def fresh_folder(parent: Path, name: str) -> Path:
    """``parent/name``, made now; ``name-2``, ``name-3``... for the same server's later rounds."""
    folder, number = parent / name, 1
    while folder.exists():
        number += 1
        folder = parent / f"{name}-{number}"
    folder.mkdir(parents=True)
    return folder


def start_gatehouse(server: Server, args, tmp: Path, log) -> None:
    instance = fresh_folder(tmp, server.name.replace(" ", "-").replace("/", "-"))
    server.instance = instance
    env = app_env(instance, args.redis_url)
    env["GATEHOUSE_ADMIN_TOKEN"] = admin_token = secrets.token_urlsafe(32)
    if server.family == "gatehouse" and "PostgreSQL" in server.name:
        reset_postgresql(args.pg_url, log)
        env["DATABASE_URL"] = args.pg_url
    if args.redis_url:
        redis_command(args.redis_url, ["FLUSHDB"])
    server.env = env
    run_cli(["db", "upgrade"], env, log)
    run_cli(["demo", "--json"], env, log)
    m2m = json.loads(run_cli(["apps", "create", "--name", "bench-m2m", "--type", "m2m", "--json"], env, log))
    server.m2m_auth = basic(m2m["client_id"], m2m["client_secret"])
    server.refresh_auth = basic(CLIENT_ID, CLIENT_SECRET)
    launch(server, "app:create_app()", env, args, log)
    if any(s.endswith("-es256") for s in args.scenarios):
        es256_apps(server, admin_token)


def es256_apps(server: Server, admin_token: str) -> None:
    """Two applications signing with ES256 (RFC 7518 3.4), made through the admin API; when the
    server refuses the two fields (or accepts them and still signs RS256), the -es256 scenarios
    are skipped with the reason."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {admin_token}"}
    web = {
        "name": "bench-es256-web",
        "type": "web",
        "redirect_uris": ["https://app.example/cb"],
        "auth_source_ids": [SMS_SOURCE],
        "scopes": ["openid", "profile", "phone", "offline_access"],
        "auto_signup": True,
        **ES256_FIELDS,
    }
    m2m = {"name": "bench-es256-m2m", "type": "m2m", **ES256_FIELDS}
    made = {}
    for kind, body in (("web", web), ("m2m", m2m)):
        status, data = post(server.port, "/admin/api/v1/applications", json.dumps(body), headers)
        if status != 201:
            server.es256_skip = (
                f"POST /admin/api/v1/applications with {', '.join(ES256_FIELDS)} answered {status}: "
                f"{data[:200].decode('utf-8', 'replace').strip()}"
            )
            return
        made[kind] = json.loads(data)
    server.es256 = {
        "web_id": made["web"]["client_id"],
        "web_secret": made["web"]["client_secret"],
        "m2m_auth": basic(made["m2m"]["client_id"], made["m2m"]["client_secret"]),
    }
    status, data = post(
        server.port,
        "/oauth2/token",
        "grant_type=client_credentials",
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": server.es256["m2m_auth"]},
    )
    alg = jwt_alg(json.loads(data)["access_token"]) if status == 200 else f"HTTP {status}"
    if alg != "ES256":
        server.es256_skip = f"the application was created, but its client_credentials access token is {alg}"


def launch(server: Server, app: str, env: dict[str, str], args, log) -> None:
    server.port = free_port()
    server.command = server_cmd(server.wsgi, server.port, args.threads, app)
    server.proc = subprocess.Popen(
        server.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_ready(server.port, server.proc)


def start_floor(server: Server, args, tmp: Path, log) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEHOUSE_", "FLOOR_"))}
    folder = fresh_folder(tmp, f"floor-{server.wsgi}")
    env.update(FLOOR_DB=str(folder / "floor.db"), REDIS_URL=args.redis_url or "redis://127.0.0.1:6379/13")
    server.token_path = "/token"
    server.m2m_auth = basic("floor-m2m", "floor-m2m-secret")
    server.refresh_auth = basic("floor-web", "floor-web-secret")
    server.es256 = {
        "m2m_auth": basic("floor-m2m-es256", "floor-m2m-es256-secret"),
        "web_id": "floor-web-es256",
        "web_secret": "floor-web-es256-secret",
    }
    launch(server, "bench.floor:create_app()", env, args, log)


def start_node(server: Server, log) -> None:
    if not (PEERS / "node_modules" / "oidc-provider").exists():
        raise SystemExit("oidc-provider is not installed: `cd bench/peers && npm ci` (or `make bench-peers`)")
    server.port = free_port()
    server.command = pinned(["node", str(PEERS / "oidc_provider.mjs")], 0)
    server.proc = subprocess.Popen(
        server.command,
        cwd=PEERS,
        env={**os.environ, "PORT": str(server.port), "NODE_ENV": "production"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(server.port, server.proc)
    server.token_path = "/token"
    server.m2m_auth = basic("bench-m2m", "bench-m2m-secret")
    server.m2m_body += "&scope=api&resource=" + urllib.parse.quote("https://api.example", safe="")
    server.refresh_auth = basic("bench-web", "bench-web-secret")


# -- one wrk phase ----------------------------------------------------------------------------
def cpu_of(pids: list[int]) -> dict[int, float]:
    return tree_cpu(pids)


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def beside_wrk(pids: list[int]) -> None:
    """Move the PostgreSQL backends serving the bench database to wrk's core: left free they
    run on the server's core part of the time and its CPU per request rises with theirs (the
    SQLite server does its database work inside its own process, which is counted)."""
    if (os.cpu_count() or 1) < 2:
        return
    for pid in pids:
        with contextlib.suppress(OSError):  # a backend that ended meanwhile
            os.sched_setaffinity(pid, {1})


def wrk(server: Server, script: str, script_args: list[str], seconds: float, args, marker: Path | None = None) -> dict:
    """Run wrk once against ``server``; measure the server tree's CPU and RSS, the database and
    Redis servers' CPU, and everything else on the machine, over the phase."""
    # fmt: off
    cmd = pinned([
        "wrk", "-t1", f"-c{args.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
        "-s", str(WRK_DIR / script), f"http://127.0.0.1:{server.port}", "--", *script_args,
    ], 1)
    # fmt: on
    tree = process_tree(server.pid)
    pg = pids_matching(b"postgres: ", b" bench ") if "PostgreSQL" in server.name else []
    beside_wrk(pg)
    redis = pids_matching(b"redis-server", b":6379") if args.redis_url and server.family == "gatehouse" else []
    cpu0, pg0, redis0 = cpu_of(tree), cpu_of(pg), cpu_of(redis)
    sys0, children0 = system_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while proc.poll() is None:
        if marker is not None and marker.exists():  # the prepared requests are used up
            proc.send_signal(signal.SIGINT)  # wrk then prints its summary at once
            marker = None
        time.sleep(0.05)
    output = proc.stdout.read() if proc.stdout else ""
    elapsed = time.monotonic() - started
    tree = process_tree(server.pid)
    cpu = cpu_delta(cpu0, cpu_of(tree))
    pg_cpu = cpu_delta(pg0, cpu_of(pids_matching(b"postgres: ", b" bench ") if pg else []))
    redis_cpu = cpu_delta(redis0, cpu_of(redis))
    sys1, children1 = system_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    line = next((x for x in output.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result ({' '.join(cmd)}):\n{output}")
    raw = json.loads(line.split(" ", 1)[1])
    stats = raw["threads"]["1"] if isinstance(raw["threads"], dict) else raw["threads"][0]
    requests = raw["requests"]
    socket_errors = {k: int(v) for k, v in raw["socket_errors"].items() if k != "status" and v}
    duration = raw["duration_us"] / 1e6
    others = max(0.0, (sys1[0] - sys0[0]) - cpu - wrk_cpu - pg_cpu - redis_cpu) / elapsed
    result = {
        "requests": requests,
        "ok": int(stats["ok"]),
        "errors": int(stats["bad"]) + sum(socket_errors.values()),
        "error_statuses": stats["statuses"],
        "error_sample": stats["sample"],
        "socket_errors": socket_errors,
        "seconds": round(duration, 3),
        "rps": round(requests / duration, 1) if duration else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "cpu_ms_per_req": round(cpu * 1000 / requests, 3) if requests else None,
        "server_core_busy": round(cpu / duration, 3) if duration else None,
        "rss_mib": rss_mib(tree),
        "server_processes": len(tree),
        "postgresql_cpu_ms_per_req": round(pg_cpu * 1000 / requests, 3) if pg and requests else None,
        "redis_cpu_ms_per_req": round(redis_cpu * 1000 / requests, 3) if redis and requests else None,
        "wrk_core_busy": round(wrk_cpu / elapsed, 3),
        "other_processes_cores": round(others, 3),
        "loadavg_after": loadavg(),
    }
    for key in ("prepared", "used", "used_up", "seeded", "spent", "reused", "starved"):
        if key in stats:
            result[key] = int(stats[key])
    if result.get("reused"):
        result["errors"] += result["reused"]  # the chaining spent a token twice: not a valid run
    return result


def phase(server: Server, scenario: str, seconds: float, args, work: Path) -> dict:
    """Prepare and run one scenario once (warm-up or timed)."""
    json_headers = "-"
    if scenario == "discovery":
        return wrk(server, "static.lua", ["GET", "/.well-known/openid-configuration", '"issuer"', "-"], seconds, args)
    if scenario.startswith("client_credentials"):
        auth = server.es256["m2m_auth"] if scenario.endswith("es256") else server.m2m_auth
        headers = f"Authorization: {auth}|Content-Type: application/x-www-form-urlencoded"
        return wrk(
            server, "static.lua", ["POST", server.token_path, '"access_token"', headers, server.m2m_body], seconds, args
        )
    if scenario.startswith("refresh"):
        seeds = server.refresh_seeds(2 * args.connections, es256=scenario.endswith("es256"))
        seeds_file = work / f"{scenario}-seeds.txt"
        seeds_file.write_text("\n".join(seeds) + "\n")
        auth = (
            basic(server.es256["web_id"], server.es256["web_secret"])
            if scenario.endswith("es256")
            else server.refresh_auth
        )
        return wrk(server, "refresh.lua", [server.token_path, f"Authorization: {auth}", str(seeds_file)], seconds, args)
    if scenario == "send":
        numbers = server.numbers(int(seconds * args.send_rate) + 100)
        bodies = work / "send-bodies.txt"
        bodies.write_text("".join(send_body(n).decode() + "\n" for n in numbers))
        captured, marker = work / "send-captured.txt", work / "send-used-up"
        marker.unlink(missing_ok=True)
        # fmt: off
        result = wrk(server, "prepared.lua", [
            "/otp/send", '"otp_token"', f"Authorization: {BASIC}", str(bodies), str(marker), "otp_token", str(captured),
        ], seconds, args, marker)
        # fmt: on
        server.sent = [
            (numbers[int(i) - 1], token) for i, token in (x.split("\t") for x in captured.read_text().split("\n") if x)
        ]
        return result
    if scenario == "otp":
        assert server.instance is not None
        codes = read_outbox(server.instance / "outbox.jsonl")
        bodies = work / "otp-bodies.txt"
        sent = server.sent
        bodies.write_text("".join(otp_body(n, t, codes["+86" + n]).decode() + "\n" for n, t in sent))
        marker = work / "otp-used-up"
        marker.unlink(missing_ok=True)
        args_ = ["/oauth2/token", '"refresh_token"', json_headers, str(bodies), str(marker)]
        result = wrk(server, "prepared.lua", args_, seconds, args, marker)
        result["codes_prepared"] = len(sent)
        return result
    raise SystemExit(f"unknown scenario {scenario}")


# -- main -------------------------------------------------------------------------------------
def other_cores_now(seconds: float = 1.0) -> float:
    before = system_cpu()[0]
    time.sleep(seconds)
    return round((system_cpu()[0] - before) / seconds, 2)


def label(family: str, db: str, wsgi: str, several_wsgi: bool) -> str:
    base = {"sqlite": "Gatehouse SQLite", "postgresql": "Gatehouse PostgreSQL", "floor": "floor", "node": NODE}[db]
    return f"{base} [{wsgi}]" if several_wsgi and family != "node" else base


def report_line(scenario: str, r: dict) -> None:
    extra = ""
    if "reused" in r:
        extra = f"; chain: {r['seeded']} seeds, {r['spent']} tokens spent, {r['reused']} reused"
    if "prepared" in r:
        extra = f"; prepared {r['prepared']}, used {r['used']}{' (all: stopped when used up)' if r['used_up'] else ''}"
    print(
        f"  {scenario:26} {r['requests']:7} req {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} p99 "
        f"{r['p99_ms']:7.2f} ms  {r['cpu_ms_per_req'] or 0:6.3f} CPU ms/req  RSS {r['rss_mib']:6.1f} MiB  "
        f"errors {r['errors']}  others {r['other_processes_cores']:.2f} cores{extra}"
    )
    if r["errors"]:
        print(f"    ERRORS: statuses {r['error_statuses']} sockets {r['socket_errors']}: {r['error_sample']!r}")


def median_round(results: list[dict]) -> dict:
    """The round whose CPU per request is the median (a real row, not a blend of rounds), with
    every round's CPU figure beside it."""
    ordered = sorted(results, key=lambda r: r["cpu_ms_per_req"] or 0.0)
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["cpu_ms_per_req_rounds"] = [r["cpu_ms_per_req"] for r in results]
    return chosen


def run_server(server: Server, args, tmp: Path, log) -> tuple[dict[str, dict], dict[str, str]]:
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    work = tmp / f"work-{len(list(tmp.iterdir()))}"
    work.mkdir()
    try:
        if server.family == "gatehouse":
            start_gatehouse(server, args, tmp, log)
        elif server.family == "floor":
            start_floor(server, args, tmp, log)
        else:
            start_node(server, log)
        print(f"\n== {server.name}: {' '.join(server.command)} (pid {server.pid}, port {server.port})")
        scenarios = [s for s in args.scenarios if server.supports(s)]
        for scenario in scenarios:
            if scenario.endswith("-es256") and server.es256_skip:
                skipped[scenario] = server.es256_skip
                print(f"  {scenario:26} SKIPPED: {server.es256_skip}")
                continue
            if scenario == "send" and "otp" in scenarios:
                continue  # run with the otp phase, which spends its codes
            if scenario == "otp":  # warm both, then a send phase whose codes the otp phase spends
                if args.warmup > 0:
                    phase(server, "send", args.warmup, args, work)
                    phase(server, "otp", args.warmup, args, work)
                sent = phase(server, "send", args.seconds, args, work)
                if "send" in scenarios:
                    results["send"] = sent
                    report_line("send", sent)
            elif args.warmup > 0:
                phase(server, scenario, args.warmup, args, work)
            r = phase(server, scenario, args.seconds, args, work)
            results[scenario] = r
            report_line(scenario, r)
    finally:
        if server.proc is not None:
            stop(server.proc)
    return results, skipped


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per timed phase")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each timed phase (0: none)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, of: " + ", ".join(SCENARIOS))
    ap.add_argument("--servers", default="sqlite,postgresql", help="comma-separated, of: " + ", ".join(ALL_SERVERS))
    ap.add_argument("--peers", action="store_true", help="add the floor app and oidc-provider to --servers")
    ap.add_argument(
        "--server",
        default="gthread",
        help="WSGI server(s) for Gatehouse and the floor, comma-separated: " + ", ".join(WSGI_SERVERS),
    )
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (one wrk thread)")
    ap.add_argument(
        "--threads", type=int, default=8, help="worker threads (gthread --threads, granian --blocking-threads)"
    )
    ap.add_argument("--send-rate", type=float, default=1500, help="phone numbers prepared per second of send phase")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="FLUSHed before each Gatehouse server")
    ap.add_argument(
        "--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench", help="dropped and created"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (instances, logs, wrk inputs)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times, one after the other, and report each row's median round",
    )
    args = ap.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    servers = [s for s in args.servers.split(",") if s]
    if args.peers:
        servers += [s for s in ("floor", "node") if s not in servers]
    wsgis = [w for w in args.server.split(",") if w]
    for value, allowed, what in (
        (args.scenarios, SCENARIOS, "scenario"),
        (servers, ALL_SERVERS, "server"),
        (wsgis, WSGI_SERVERS, "WSGI server"),
    ):
        unknown = set(value) - set(allowed)
        if unknown:
            ap.error(f"unknown {what}: {', '.join(sorted(unknown))}")
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(
                f"{tool} is not installed (Debian: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'})"
            )
    if args.redis_url and not system_redis_ok(args.redis_url):
        raise SystemExit(f"Redis {args.redis_url} does not answer (--redis-url '' for the embedded one)")
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # this controller beside wrk, off the server's core

    started = dt.datetime.now(dt.UTC)
    info = machine_info()
    quiet = other_cores_now()
    print(
        f"Gatehouse wrk bench {started:%Y-%m-%d %H:%M} UTC | {info['nproc']} cpu {info['cpu_model']} | "
        f"{info['mem_total_gib']} GiB | Python {info['python']} | load {loadavg()} | busy cores now {quiet}"
    )
    print(
        f"wrk -t1 -c{args.connections} on core 1, servers on core 0, {args.seconds:g} s per phase after "
        f"{args.warmup:g} s warm-up; Redis {args.redis_url or 'embedded'}"
    )

    rounds: dict[str, dict[str, list[dict]]] = {}  # scenario -> server -> one result per round
    skipped: dict[str, dict[str, str]] = {}
    commands: dict[str, str] = {}
    several = len(wsgis) > 1
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-wrk-"))
    finished = False
    try:
        with (tmp / "servers.log").open("w") as log:
            # A B C, A B C, ...: this VM's speed drifts within the hour, and a round of every
            # server after another spreads the drift over all of them
            for number in range(1, max(1, args.rounds) + 1):
                if args.rounds > 1:
                    print(f"\n### round {number} of {args.rounds}")
                for db in servers:
                    family = {"sqlite": "gatehouse", "postgresql": "gatehouse"}.get(db, db)
                    for wsgi in wsgis if family != "node" else ["-"]:
                        server = Server(label(family, db, wsgi, several), family, wsgi)
                        results, skips = run_server(server, args, tmp, log)
                        commands[server.name] = " ".join(server.command)
                        for scenario, r in results.items():
                            rounds.setdefault(scenario, {}).setdefault(server.name, []).append(r)
                        for scenario, why in skips.items():
                            skipped.setdefault(scenario, {})[server.name] = why
        finished = True
    finally:
        table = {scenario: {name: median_round(rs) for name, rs in rows.items()} for scenario, rows in rounds.items()}
        if args.redis_url:
            with contextlib.suppress(OSError):
                redis_command(args.redis_url, ["FLUSHDB"])
        if finished and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"temporary folder kept: {tmp}")

    print(
        f"\nGatehouse token-endpoint bench, {started:%Y-%m-%d %H:%M} UTC, wrk -t1 -c{args.connections}, "
        f"{args.seconds:g} s per phase; CPU = server master + workers; x{NODE} = its CPU ms/req / this one's; "
        "store = CPU ms/req of the bench database's PostgreSQL backends + redis-server (shared); "
        "others = cores busy with anything else"
    )
    header = (
        f"{'scenario':25} {'server':30} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10} "
        f"{'RSS MiB':>8} {'x' + NODE:>14} {'store ms':>8} {'errors':>6} {'others':>6}"
    )
    print(header)
    for scenario in [s for s in SCENARIOS if s in table or s in skipped]:
        rows = table.get(scenario, {})
        # an ES256 row is set against Node's RS256 figure of the same grant (its tokens stay RS256)
        node_row = rows.get(NODE) or table.get(scenario.removesuffix("-es256"), {}).get(NODE, {})
        node_cpu = node_row.get("cpu_ms_per_req")
        for name, r in rows.items():
            ratio = round(node_cpu / r["cpu_ms_per_req"], 2) if node_cpu and r["cpu_ms_per_req"] else None
            r["ratio_to_node"] = ratio
            store = [r[k] for k in ("postgresql_cpu_ms_per_req", "redis_cpu_ms_per_req") if r.get(k) is not None]
            store_text = f"{sum(store):.3f}" if store else "-"
            print(
                f"{scenario:25} {name:30} {r['rps']:8.1f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} "
                f"{r['cpu_ms_per_req'] or 0:10.3f} {r['rss_mib']:8.1f} {ratio if ratio is not None else '-':>14} "
                f"{store_text:>8} {r['errors']:6} {r['other_processes_cores']:6.2f}"
                + (f"  rounds {r['cpu_ms_per_req_rounds']}" if args.rounds > 1 else "")
            )
        for name, why in skipped.get(scenario, {}).items():
            print(f"{scenario:25} {name:30} skipped: {why}")

    valid = all(r["errors"] == 0 and r["requests"] > 0 for rows in rounds.values() for rs in rows.values() for r in rs)
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "busy_cores_before": quiet,
        "config": {
            "wrk": f"taskset -c 1 wrk -t1 -c{args.connections} -d{args.seconds:g}s --timeout 30s -s bench/wrk/<script>",
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "redis": args.redis_url or "embedded",
            "postgresql": args.pg_url if "postgresql" in servers else None,
            "servers": commands,
            "argv": sys.argv[1:],
            "rounds": args.rounds,
        },
        "valid": valid,
        "results": table,
        "skipped": skipped,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    for path in (OUT / f"wrk-{stamp}.json", OUT / "latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults in {(OUT / f'wrk-{stamp}.json').relative_to(ROOT)}")
    if not valid:
        print("RUN INVALID: some requests failed or a phase had no requests (see ERRORS above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
