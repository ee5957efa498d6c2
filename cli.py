"""``flask`` commands: db upgrade, apps create, users create, keys rotate, logout deliver, demo (all --json)."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from idp.admin.shapes import render_application, render_auth_source, render_user
from idp.console import ensure_console_client
from idp.context import RequestContext
from idp.errors import IdpError
from idp.models.users import ROLES
from idp.services import Services
from idp.settings import JWT_ALGORITHMS


def cli_context() -> RequestContext:
    """A fresh context per command: ``now`` is taken at creation and audit events use it
    (a module-level context would stamp every event with the import time)."""
    return RequestContext(ip="127.0.0.1", user_agent="flask-cli")


DEMO: dict[str, dict[str, Any]] = {
    "sms_source": {"id": "MOCK_SMS_OTP_AUTH_SOURCE_ID", "kind": "sms", "name": "Demo SMS"},
    "email_source": {"id": "MOCK_EMAIL_OTP_AUTH_SOURCE_ID", "kind": "email", "name": "Demo email"},
    "app": {
        "client_id": "TENANT_CLIENT_ID",
        "client_secret": "TENANT_CLIENT_SECRET",
        "name": "Demo web app",
        "type": "web",
        # redirect_uris / post_logout_redirect_uris: built from the issuer in seed_demo
        "auth_source_ids": ["MOCK_SMS_OTP_AUTH_SOURCE_ID", "MOCK_EMAIL_OTP_AUTH_SOURCE_ID"],
        "scopes": ["openid", "profile", "email", "phone", "offline_access"],
        # every way in, passkeys included (they need the issuer on a host name: make run
        # serves http://localhost:5000)
        "login_methods": ["password", "sms_otp", "email_otp", "passkey"],
    },
    "user": {
        "username": "demo",
        "password": "demo-password-1",
        "name": "Demo User",
        "phone_number": "+8613612345678",
        "phone_verified": True,
        "email": "MOCK_USERNAME@example.com",
        "email_verified": True,
    },
    "admin": {
        "username": "admin",
        "password": "admin-password-1",
        "name": "Demo Administrator",
        "roles": ["admin"],
    },
}


def _services(app: Flask) -> Services:
    return app.extensions["gatehouse"]


def _emit(data, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _fail(exc: IdpError):
    raise click.ClickException(f"{exc.code}: {exc.message}")


def register_commands(app: Flask) -> None:
    db_group = AppGroup("db", help="Database schema.")
    apps_group = AppGroup("apps", help="Applications (OAuth clients).")
    users_group = AppGroup("users", help="Users.")
    keys_group = AppGroup("keys", help="Token signing keys.")
    logout_group = AppGroup("logout", help="Back-channel logout deliveries.")

    @db_group.command("upgrade")
    @click.option("--json", "as_json", is_flag=True)
    def db_upgrade(as_json):
        """Apply the migrations and make sure the RS256 signing key (and GATEHOUSE_JWT_ALG's) exists."""
        # Alembic (with Mako and Pygments) is needed only here: a serving worker never loads it (11 MiB)
        from idp.migrate import upgrade

        svc = _services(app)
        upgrade(svc.settings.database_url)
        kid = svc.keys.ensure_key()
        # published before the first token needs it, so every worker's JWKS has it already
        svc.keys.ensure_key(svc.settings.jwt_alg)
        ensure_console_client(svc)  # the admin console's own application
        _emit({"schema": "up to date", "kid": kid}, as_json, f"schema up to date; active signing key {kid}")

    @apps_group.command("create")
    @click.option("--name", required=True)
    @click.option("--type", "app_type", type=click.Choice(["web", "spa", "native", "m2m"]), default="web")
    @click.option("--redirect-uri", "redirect_uris", multiple=True)
    @click.option("--auth-source", "auth_source_ids", multiple=True)
    @click.option("--client-id", default=None, help="keep an existing client_id when migrating")
    @click.option("--auto-signup", is_flag=True)
    @click.option(
        "--access-token-alg",
        type=click.Choice(JWT_ALGORITHMS),
        default=None,
        help="signing algorithm of its access tokens (default: GATEHOUSE_JWT_ALG)",
    )
    @click.option(
        "--id-token-signed-response-alg",
        "id_token_alg",
        type=click.Choice(JWT_ALGORITHMS),
        default="RS256",
        show_default=True,
        help="signing algorithm of its ID tokens",
    )
    @click.option("--json", "as_json", is_flag=True)
    def apps_create(
        name, app_type, redirect_uris, auth_source_ids, client_id, auto_signup, access_token_alg, id_token_alg, as_json
    ):
        """Register an application. The client secret is shown once."""
        data = {
            "name": name,
            "type": app_type,
            "redirect_uris": list(redirect_uris),
            "auth_source_ids": list(auth_source_ids),
            "client_id": client_id,
            "auto_signup": auto_signup,
            "access_token_alg": access_token_alg,
            "id_token_signed_response_alg": id_token_alg,
        }
        try:
            application, secret = _services(app).clients.create_application(data, cli_context())
        except IdpError as exc:
            _fail(exc)
        body = render_application(application, secret, created=True)
        _emit(body, as_json, f"client_id: {application.client_id}\nclient_secret: {secret} (shown once)")

    @users_group.command("create")
    @click.option("--username")
    @click.option("--password")
    @click.option("--email")
    @click.option("--phone-number")
    @click.option("--name")
    @click.option("--role", "roles", type=click.Choice(ROLES), multiple=True, help="admin: may use the admin console")
    @click.option("--json", "as_json", is_flag=True)
    def users_create(username, password, email, phone_number, name, roles, as_json):
        """Create a user (contacts given here count as verified)."""
        data = {
            "username": username,
            "password": password,
            "email": email,
            "name": name,
            "phone_number": phone_number,
            "email_verified": bool(email),
            "phone_verified": bool(phone_number),
            "roles": list(roles),
        }
        try:
            user = _services(app).users.create(data, cli_context())
        except IdpError as exc:
            _fail(exc)
        _emit({**render_user(user), "roles": user.roles}, as_json, f"sub: {user.sub}")

    @keys_group.command("rotate")
    @click.option("--alg", type=click.Choice(JWT_ALGORITHMS), default="RS256", show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def keys_rotate(alg, as_json):
        """Add a new signing key for one algorithm; the old one stays in the JWKS until its
        tokens expire, and the other algorithms' keys are untouched."""
        kid = _services(app).keys.rotate(alg, cli_context())
        _emit({"kid": kid, "alg": alg}, as_json, f"new active {alg} signing key {kid}")

    @app.cli.command("demo")
    @click.option("--json", "as_json", is_flag=True)
    def demo(as_json):
        """Seed the demo auth sources, application and user (idempotent)."""
        svc = _services(app)
        try:
            data = seed_demo(svc)
        except IdpError as exc:  # e.g. the demo phone number already belongs to someone else
            _fail(exc)
        _emit(data, as_json, demo_instructions(data, svc.settings.issuer))

    @logout_group.command("deliver")
    @click.option("--json", "as_json", is_flag=True)
    def logout_deliver(as_json):
        """Send the back-channel logout tokens that are due now, once (the worker thread of
        each serving process does this every GATEHOUSE_LOGOUT_WORKER_INTERVAL seconds)."""
        outcome = _services(app).backchannel.run_due()
        data = {"delivered": outcome.delivered, "failed": outcome.failed}
        _emit(data, as_json, f"logout tokens delivered: {outcome.delivered}, failed: {outcome.failed}")

    for group in (db_group, apps_group, users_group, keys_group, logout_group):
        app.cli.add_command(group)


def seed_demo(svc: Services) -> dict:
    """Create what the README's curl commands use, with the IDs of Tencent CIAM's own samples
    ("Send OTP Verification Code", "OTP Authentication by SMS and Email"), so those requests
    work here as written."""
    clients, users = svc.clients, svc.users
    existing = {s.id for s in clients.list_auth_sources()}
    for key in ("sms_source", "email_source"):
        if DEMO[key]["id"] not in existing:
            clients.create_auth_source(DEMO[key], cli_context())
    application = clients.by_client_id(DEMO["app"]["client_id"])
    if application is None:
        issuer = svc.settings.issuer
        data = {
            **DEMO["app"],
            "redirect_uris": [f"{issuer}/demo/callback"],
            "post_logout_redirect_uris": [f"{issuer}/demo"],
        }
        application, _ = clients.create_application(data, cli_context())
    user = next(iter(users.search(username=DEMO["user"]["username"])), None)
    if user is None:
        user = users.create(DEMO["user"], cli_context())
    admin = next(iter(users.search(username=DEMO["admin"]["username"])), None)
    if admin is None:
        admin = users.create(DEMO["admin"], cli_context())
    return {
        "client_id": DEMO["app"]["client_id"],
        "client_secret": DEMO["app"]["client_secret"],
        "auth_sources": [render_auth_source(s) for s in clients.list_auth_sources()],
        "user": {
            "sub": user.sub,
            "username": "demo",
            "password": DEMO["user"]["password"],
            "phone_number": user.phone_number,
            "email": user.email,
        },
        "admin": {"sub": admin.sub, "username": DEMO["admin"]["username"], "password": DEMO["admin"]["password"]},
    }


def demo_instructions(data: dict, issuer: str) -> str:
    """What `make run` prints: credentials and copy-paste curl for the two Tencent CIAM calls,
    "Send OTP Verification Code" and "OTP Authentication by SMS and Email"."""
    basic = "VEVOQU5UX0NMSUVOVF9JRDpURU5BTlRfQ0xJRU5UX1NFQ1JFVA=="  # TENANT_CLIENT_ID:TENANT_CLIENT_SECRET
    return f"""
Gatehouse demo is ready.

  Demo app    {issuer}/demo            ("Sign in with Gatehouse": OIDC code flow + PKCE)
  Discovery   {issuer}/.well-known/openid-configuration
  Dev outbox  {issuer}/dev/outbox      (every SMS and email sent, with its code)
  Client      client_id={data["client_id"]}  client_secret={data["client_secret"]}
  Demo user   username demo, password {data["user"]["password"]},
              phone {data["user"]["phone_number"]}, email {data["user"]["email"]}
  Console     {issuer}/admin           (administrator: username {data["admin"]["username"]}, password {data["admin"]["password"]})

Sign in through the hosted pages as a web app would: open {issuer}/demo

1. Send an SMS code (Tencent CIAM "Send OTP Verification Code"):

  curl -s -X POST {issuer}/otp/send \\
    -H 'Content-Type: application/json' \\
    -H 'Authorization: Basic {basic}' \\
    -d '{{"usage": "login", "phone_number": "13612345678", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID"}}'

2. Exchange it for tokens (Tencent CIAM "OTP Authentication by SMS and Email"); paste the otp_token
   from step 1, the code comes from the outbox:

  OTP_TOKEN=paste-otp_token-here
  CODE=$(curl -s -H 'Accept: application/json' {issuer}/dev/outbox | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["code"])')
  curl -s -X POST {issuer}/oauth2/token -H 'Content-Type: application/json' \\
    -d '{{"grant_type": "http://tencentciam.com/oauth2/grant-type/otp/sms", "client_id": "TENANT_CLIENT_ID", "client_secret": "TENANT_CLIENT_SECRET", "auth_source_id": "MOCK_SMS_OTP_AUTH_SOURCE_ID", "phone_number": "13612345678", "otp_token": "'"$OTP_TOKEN"'", "otp": "'"$CODE"'"}}'
"""
