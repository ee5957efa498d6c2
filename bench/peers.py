#!/usr/bin/env python3
"""Gatehouse beside panva/oidc-provider (OpenID Certified, Node) in one run, per server core.

Both servers answer the same two token requests with the same token shapes — an RS256 JWT
access token (RFC 9068) and, on refresh, an RS256 ID token and a rotated refresh token:

  refresh             POST /token, grant_type=refresh_token, HTTP Basic; one fresh refresh token
                      per request (each is spent once)
  client_credentials  POST /token, grant_type=client_credentials, HTTP Basic

Each server runs on core 0 (``taskset -c 0``): Gatehouse as one gunicorn gthread worker on
SQLite + Redis (as bench/run.py), oidc-provider as one Node process with an in-memory adapter
(bench/peers/oidc_provider.mjs). The load generator runs on core 1 with ``--connections``
keep-alive connections, closed loop. CPU per request is the server process's CPU time over
the timed phase divided by its requests; the ratio printed is oidc-provider's CPU per request
over Gatehouse's (above 1: Gatehouse does the same work with less CPU).

Run: ``make bench-peers`` (installs oidc-provider from npm into bench/peers/node_modules).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (
    BASIC,
    OUT,
    ROOT,
    app_env,
    free_port,
    gunicorn_cmd,
    machine_info,
    otp_body,
    phone_numbers,
    proc_cpu_seconds,
    read_outbox,
    run_cli,
    send_body,
    stop,
    wait_ready,
    worker_pid,
)

PEERS = Path(__file__).resolve().parent / "peers"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class Target:
    """One server under load: where it listens, the process whose CPU is measured, and how
    to build each scenario's requests."""

    def __init__(self, name: str, port: int, pid: int, token_path: str) -> None:
        self.name, self.port, self.pid, self.token_path = name, port, pid, token_path
        self.refresh_tokens: list[str] = []
        self.refresh_auth = ""
        self.m2m_auth = ""
        self.m2m_extra = ""

    def request(self, scenario: str, index: int) -> tuple[str, str, dict[str, str]]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if scenario == "refresh":
            body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": self.refresh_tokens[index]})
            headers["Authorization"] = self.refresh_auth
        else:
            body = "grant_type=client_credentials" + self.m2m_extra
            headers["Authorization"] = self.m2m_auth
        return self.token_path, body, headers


def post(port: int, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def phase(target: Target, scenario: str, count: int, connections: int, seconds: float) -> dict:
    """Closed loop: ``connections`` threads, each on a keep-alive connection, until ``count``
    requests are done or ``seconds`` pass. Returns rate, latency percentiles, CPU/request."""
    jobs: queue.Queue[int] = queue.Queue()
    for index in range(count):
        jobs.put(index)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
        mine: list[float] = []
        while time.monotonic() < deadline:
            try:
                index = jobs.get_nowait()
            except queue.Empty:
                break
            path, body, headers = target.request(scenario, index)
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200 and b"access_token" in payload
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
                ok = False
            mine.append(time.perf_counter() - started)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    cpu_before = sum(proc_cpu_seconds(target.pid))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = sum(proc_cpu_seconds(target.pid)) - cpu_before
    done = len(latencies)
    ordered = sorted(latencies)
    return {
        "requests": done,
        "errors": errors[0],
        "req_per_s": round(done / elapsed, 1),
        "p50_ms": round(ordered[done // 2] * 1000, 2) if done else None,
        "p99_ms": round(ordered[min(done - 1, int(done * 0.99))] * 1000, 2) if done else None,
        "cpu_ms_per_req": round(cpu * 1000 / done, 3) if done else None,
    }


def pinned(cmd: list[str], core: int) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if shutil.which("taskset") else cmd


def start_node(log) -> tuple[subprocess.Popen, Target]:
    if not (PEERS / "node_modules" / "oidc-provider").exists():
        raise SystemExit("oidc-provider is not installed: run `make bench-peers`")
    port = free_port()
    proc = subprocess.Popen(
        pinned(["node", str(PEERS / "oidc_provider.mjs")], 0),
        cwd=PEERS,
        env={**os.environ, "PORT": str(port), "NODE_ENV": "production"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/.well-known/openid-configuration")
            break
        except OSError:
            time.sleep(0.1)
    target = Target("oidc-provider", port, proc.pid, "/token")
    target.refresh_auth = basic("bench-web", "bench-web-secret")
    target.m2m_auth = basic("bench-m2m", "bench-m2m-secret")
    target.m2m_extra = "&scope=api&resource=" + urllib.parse.quote("https://api.example", safe="")
    return proc, target


def node_refresh_tokens(target: Target, count: int) -> list[str]:
    return [json.loads(post(target.port, "/bench/refresh-token", "", {})[1])["refresh_token"] for _ in range(count)]


def start_gatehouse(instance: Path, log) -> tuple[subprocess.Popen, Target, dict]:
    env = app_env(instance, "")
    run_cli(["db", "upgrade"], env, log)
    demo = json.loads(run_cli(["demo", "--json"], env, log))
    m2m = json.loads(run_cli(["apps", "create", "--name", "bench-m2m", "--type", "m2m", "--json"], env, log))
    port = free_port()
    proc = subprocess.Popen(
        gunicorn_cmd(port, 8), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_ready(port, proc)
    target = Target("Gatehouse", port, worker_pid(proc.pid), "/oauth2/token")
    target.refresh_auth = basic(demo["client_id"], demo["client_secret"])
    target.m2m_auth = basic(m2m["client_id"], m2m["client_secret"])
    return proc, target, env


def gatehouse_refresh_tokens(target: Target, instance: Path, count: int) -> list[str]:
    """Refresh tokens the way a phone gets them: a code sent, then the OTP grant (auto sign-up)."""
    import random

    numbers = phone_numbers(count, random.Random(11), set())
    sent = {}
    for number in numbers:
        status, data = post(
            target.port,
            "/otp/send",
            send_body(number).decode(),
            {"Content-Type": "application/json", "Authorization": BASIC},
        )
        if status != 200:
            raise SystemExit(f"send: {status} {data[:200]!r}")
        sent[number] = json.loads(data)["otp_token"]
    codes = read_outbox(instance / "outbox.jsonl")
    tokens = []
    for number, otp_token in sent.items():
        code = codes.get(number) or codes.get("+86" + number)
        status, data = post(
            target.port,
            "/oauth2/token",
            otp_body(number, otp_token, code).decode(),
            {"Content-Type": "application/json"},
        )
        if status != 200:
            raise SystemExit(f"otp grant: {status} {data[:200]!r}")
        tokens.append(json.loads(data)["refresh_token"])
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="refresh tokens prepared per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10, help="longest timed phase")
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator on the other core

    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-peers-"))
    results: dict[str, dict] = {}
    with (tmp / "peers.log").open("w") as log:
        node, node_target = start_node(log)
        try:
            node_target.refresh_tokens = node_refresh_tokens(node_target, args.requests)
            for scenario in ("client_credentials", "refresh"):
                phase(node_target, scenario, 200, args.connections, 5)  # warm-up
                if scenario == "refresh":
                    node_target.refresh_tokens = node_refresh_tokens(node_target, args.requests)
                results.setdefault(scenario, {})["oidc-provider"] = phase(
                    node_target, scenario, args.requests, args.connections, args.seconds
                )
        finally:
            stop(node)
        gate, gate_target, _env = start_gatehouse(tmp / "instance", log)
        try:
            gate_target.refresh_tokens = gatehouse_refresh_tokens(gate_target, tmp / "instance", args.requests + 200)
            for scenario in ("client_credentials", "refresh"):
                phase(gate_target, scenario, 200, args.connections, 5)  # warm-up (spends the first 200)
                if scenario == "refresh":
                    gate_target.refresh_tokens = gate_target.refresh_tokens[200:]
                results[scenario]["Gatehouse"] = phase(
                    gate_target, scenario, args.requests, args.connections, args.seconds
                )
        finally:
            stop(gate)

    when = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\nGatehouse beside oidc-provider 9, {when}, {args.connections} connections")
    print(f"{'scenario':20} {'server':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'errors':>7}")
    for scenario, by_server in results.items():
        for server, r in by_server.items():
            print(
                f"{scenario:20} {server:14} {r['req_per_s']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8}"
                f" {r['cpu_ms_per_req']:>11} {r['errors']:>7}"
            )
        node_cpu, gate_cpu = by_server["oidc-provider"]["cpu_ms_per_req"], by_server["Gatehouse"]["cpu_ms_per_req"]
        by_server["ratio_node_cpu_over_gatehouse_cpu"] = round(node_cpu / gate_cpu, 2)
        print(f"{scenario:20} ratio (oidc-provider CPU / Gatehouse CPU per request): {node_cpu / gate_cpu:.2f}")
    OUT.mkdir(exist_ok=True)
    path = OUT / f"peers-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(
        json.dumps({"machine": machine_info(), "connections": args.connections, "results": results}, indent=2)
    )
    print(f"written to {path}")
    failed = any(r.get("errors") for by in results.values() for k, r in by.items() if isinstance(r, dict))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
