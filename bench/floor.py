"""The floor: the least a Flask app can do for the token endpoint's requests, to show how close
Gatehouse is to it under the same WSGI server and load (bench/run.py, server ``floor``).

- ``POST /token`` ``grant_type=refresh_token`` (HTTP Basic): look the token up by its SHA-256
  in SQLite (WAL, as Gatehouse sets it), sign an RS256 access token (RFC 9068 claims, as
  Gatehouse's) and an RS256 ID token (OpenID Connect Core 1.0 2, as Gatehouse's, with
  at_hash), then in ONE transaction mark the old token rotated (``UPDATE ... WHERE rotated_at
  IS NULL``, so a lost race answers invalid_grant) and insert its successor; answer JSON.
- ``POST /token`` ``grant_type=client_credentials`` (HTTP Basic): sign one access token.
- The clients whose id ends in ``-es256`` get ES256 tokens (P-256), as a Gatehouse application
  with ``access_token_alg`` and ``id_token_signed_response_alg`` ES256 does.
- ``GET /.well-known/openid-configuration``: a fixed document.
- ``POST /bench/refresh-token[?client_id=...]``: mint a refresh token for a new user (the
  bench's seeds).

No audit, no Redis, no rate limits, no metrics; clients are two constants compared by the
SHA-256 of their secret. Signing uses joserfc, Gatehouse's JOSE library. The database is
``FLOOR_DB`` (created when missing), the issuer ``FLOOR_ISSUER``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

CLIENTS = {
    "floor-web": hashlib.sha256(b"floor-web-secret").hexdigest(),
    "floor-m2m": hashlib.sha256(b"floor-m2m-secret").hexdigest(),
    "floor-web-es256": hashlib.sha256(b"floor-web-es256-secret").hexdigest(),
    "floor-m2m-es256": hashlib.sha256(b"floor-m2m-es256-secret").hexdigest(),
}
ACCESS_TTL, ID_TTL = 300, 1800
SCHEMA = """
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
)
"""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _at_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def create_app() -> Flask:
    app = Flask(__name__)
    issuer = os.environ.get("FLOOR_ISSUER", "http://127.0.0.1")
    db_path = os.environ.get("FLOOR_DB", "floor.db")
    keys = {
        "RS256": KeySet([RSAKey.generate_key(2048, {"kid": "floor-rs", "alg": "RS256", "use": "sig"})]),
        "ES256": KeySet([ECKey.generate_key("P-256", {"kid": "floor-es", "alg": "ES256", "use": "sig"})]),
    }

    def alg_of(client_id: str) -> str:
        return "ES256" if client_id.endswith("-es256") else "RS256"

    local = threading.local()

    def db() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn = conn
        return conn

    db().execute(SCHEMA)

    def client() -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
        expected = CLIENTS.get(client_id)
        if expected is None or not hmac.compare_digest(_digest(secret), expected):
            return None
        return client_id

    def error(code: str, status: int = 400) -> tuple[Response, int]:
        return jsonify(error=code), status

    def access_token(client_id: str, sub: str, scope: str, now: int, auth_time: int | None) -> str:
        claims = {
            "iss": issuer,
            "exp": now + ACCESS_TTL,
            "client_id": client_id,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
            "sub": sub,
            "aud": client_id,
        }
        if auth_time is not None:
            claims.update(auth_time=auth_time, acr="1", amr=["otp"])
        alg = alg_of(client_id)
        return jwt.encode({"alg": alg, "typ": "at+jwt"}, claims, keys[alg])

    def id_token(client_id: str, sub: str, now: int, auth_time: int, access: str) -> str:
        claims = {
            "iss": issuer,
            "sub": sub,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + ID_TTL,
            "auth_time": auth_time,
            "amr": ["otp"],
            "acr": "1",
            "jti": secrets.token_urlsafe(16),
            "at_hash": _at_hash(access),
        }
        alg = alg_of(client_id)
        return jwt.encode({"alg": alg, "typ": "JWT"}, claims, keys[alg])

    @app.post("/token")
    def token():
        client_id = client()
        if client_id is None:
            return error("invalid_client", 401)
        now = int(time.time())
        grant = request.form.get("grant_type")
        if grant == "client_credentials":
            access = access_token(client_id, client_id, "api", now, None)
            return jsonify(access_token=access, token_type="Bearer", expires_in=ACCESS_TTL, scope="api")
        if grant != "refresh_token":
            return error("unsupported_grant_type")
        old_hash = _digest(request.form.get("refresh_token", ""))
        conn = db()
        row = conn.execute(
            "SELECT family, sub, scope, auth_time FROM refresh_tokens"
            " WHERE token_hash = ? AND client_id = ? AND rotated_at IS NULL",
            (old_hash, client_id),
        ).fetchone()
        if row is None:
            return error("invalid_grant")
        family, sub, scope, auth_time = row
        access = access_token(client_id, sub, scope, now, auth_time)
        ident = id_token(client_id, sub, now, auth_time, access)
        successor = secrets.token_urlsafe(32)
        conn.execute("BEGIN IMMEDIATE")
        try:
            rotated = conn.execute(
                "UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL", (now, old_hash)
            ).rowcount
            if rotated != 1:
                conn.execute("ROLLBACK")
                return error("invalid_grant")
            conn.execute(
                "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (_digest(successor), family, client_id, sub, scope, auth_time, now),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return jsonify(
            access_token=access,
            token_type="Bearer",
            expires_in=ACCESS_TTL,
            refresh_token=successor,
            id_token=ident,
            scope=scope,
        )

    @app.post("/bench/refresh-token")
    def mint():
        value, now = secrets.token_urlsafe(32), int(time.time())
        db().execute(
            "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, 'openid offline_access', ?, ?, NULL)",
            (
                _digest(value),
                secrets.token_hex(8),
                request.args.get("client_id", "floor-web"),
                "user-" + secrets.token_hex(8),
                now,
                now,
            ),
        )
        return jsonify(refresh_token=value)

    discovery = {
        "issuer": issuer,
        "token_endpoint": issuer + "/token",
        "jwks_uri": issuer + "/jwks",
        "grant_types_supported": ["refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }

    @app.get("/.well-known/openid-configuration")
    def configuration():
        return jsonify(discovery)

    return app
