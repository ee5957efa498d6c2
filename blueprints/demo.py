"""A demo relying party (development only): "Sign in with Gatehouse" through the hosted pages.

It behaves like any web application integrating Gatehouse, over HTTP and with Authlib's
client: authorization code + PKCE (S256), ``state`` and ``nonce`` kept in the Flask session,
the code exchanged at ``/oauth2/token``, the ID token verified against ``/oauth2/jwks``
(joserfc: signature, ``iss``, ``aud``, ``exp``, ``nonce``), then ``/oauth2/userinfo``.

Its client is the one ``flask demo`` seeds (cli.DEMO: a confidential ``web`` app whose
redirect URI is ``{issuer}/demo/callback`` and post-logout URI ``{issuer}/demo``). Talking to
itself over HTTP needs a server that handles two requests at once: ``make run`` is threaded.
"""

from __future__ import annotations

import hmac
import json
import secrets

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from flask import Blueprint, redirect, render_template, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from blueprints.web import services
from cli import DEMO

bp = Blueprint("demo", __name__, url_prefix="/demo")

SCOPE = "openid profile email phone"
PENDING = "demo_pending"  # Flask session key: state, nonce and PKCE verifier of the sign-in under way
LOGOUT_STATE = "demo_logout_state"
HTTP_TIMEOUT = 10


class DemoError(Exception):
    """Something the demo refuses, shown on its error page."""


def _issuer() -> str:
    return services().settings.issuer


def _oauth() -> OAuth2Session:
    """Authlib's client for the demo application (HTTP to the issuer, bounded by a timeout)."""
    issuer = _issuer()
    return OAuth2Session(
        DEMO["app"]["client_id"],
        DEMO["app"]["client_secret"],
        scope=SCOPE,
        redirect_uri=f"{issuer}/demo/callback",
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        default_timeout=HTTP_TIMEOUT,
    )


@bp.get("")
def index():
    signed_out = bool(request.args.get("state")) and hmac.compare_digest(
        request.args.get("state", ""), session.pop(LOGOUT_STATE, "") or ""
    )
    ready = services().clients.by_client_id(DEMO["app"]["client_id"]) is not None
    return render_template("demo/index.html", ready=ready, signed_out=signed_out, issuer=_issuer(), person=DEMO["user"])


@bp.get("/login")
def login():
    """Start the authorization code flow: remember state, nonce and verifier, then redirect."""
    pending = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "code_verifier": secrets.token_urlsafe(48),
    }
    session[PENDING] = pending
    uri, _ = _oauth().create_authorization_url(
        f"{_issuer()}/oauth2/authorize",
        state=pending["state"],
        nonce=pending["nonce"],
        code_verifier=pending["code_verifier"],
    )
    return redirect(uri)


@bp.get("/callback")
def callback():
    pending = session.pop(PENDING, None)  # single use, whatever happens next
    try:
        if not pending or not hmac.compare_digest(request.args.get("state", ""), pending["state"]):
            raise DemoError("The state does not match the sign-in this browser started (CSRF protection).")
        if request.args.get("iss", _issuer()) != _issuer():  # RFC 9207: mix-up defence
            raise DemoError("The authorization response comes from another issuer.")
        if request.args.get("error"):
            raise DemoError(f"{request.args['error']}: {request.args.get('error_description', '')}".rstrip(": "))
        if not request.args.get("code"):
            raise DemoError("The authorization response has no code.")
        result = _complete(request.args["code"], pending)
    except DemoError as exc:
        return render_template("demo/error.html", message=str(exc)), 400
    session[LOGOUT_STATE] = logout_state = secrets.token_urlsafe(16)
    logout_url = (
        requests.Request(
            "GET",
            f"{_issuer()}/oauth2/logout",
            params={
                "id_token_hint": result["id_token"],
                "post_logout_redirect_uri": f"{_issuer()}/demo",
                "state": logout_state,
            },
        )
        .prepare()
        .url
    )
    return render_template(
        "demo/result.html",
        logout_url=logout_url,
        claims=json.dumps(result["claims"], indent=2, sort_keys=True),
        userinfo=json.dumps(result["userinfo"], indent=2, sort_keys=True),
    )


def _complete(code: str, pending: dict) -> dict:
    """Exchange the code, verify the ID token, fetch userinfo. Raises DemoError."""
    issuer, oauth = _issuer(), _oauth()
    try:
        token = oauth.fetch_token(
            f"{issuer}/oauth2/token", grant_type="authorization_code", code=code, code_verifier=pending["code_verifier"]
        )
        if "id_token" not in token:
            raise DemoError("The token response has no ID token.")
        keys = oauth.request("GET", f"{issuer}/oauth2/jwks", withhold_token=True)
        keys.raise_for_status()
        claims = _verify_id_token(token["id_token"], KeySet.import_key_set(keys.json()), pending["nonce"])
        userinfo = oauth.get(f"{issuer}/oauth2/userinfo")
        userinfo.raise_for_status()
        return {"id_token": token["id_token"], "claims": claims, "userinfo": userinfo.json()}
    except AuthlibBaseError as exc:  # an OAuth error answer from the token endpoint
        raise DemoError(f"Token request refused: {exc.error}: {exc.description or ''}".rstrip(": ")) from exc
    except (requests.RequestException, ValueError) as exc:
        raise DemoError(f"Could not talk to {issuer}: {type(exc).__name__}") from exc


def _verify_id_token(id_token: str, keys: KeySet, nonce: str) -> dict:
    """OIDC Core 3.1.3.7: signature, iss, aud, exp and the nonce this browser sent."""
    try:
        token = jwt.decode(id_token, keys, algorithms=["RS256"])
        JWTClaimsRegistry(
            iss={"essential": True, "value": _issuer()},
            aud={"essential": True, "value": DEMO["app"]["client_id"]},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise DemoError(f"The ID token failed verification: {type(exc).__name__} {exc}") from exc
    return token.claims
