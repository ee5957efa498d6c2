"""The front page (``GET /``): what this server is and where to go from it.

A newcomer opening the base URL gets a short page, in the hosted pages' look and languages,
linking to the demo application (development only: ``/demo`` is registered only outside
production), the account page and the OpenID Connect discovery document (OpenID Connect
Discovery 1.0, section 4). Every link is absolute, built from ``GATEHOUSE_ISSUER``, so the page
says where the server is published rather than how it was reached. A client asking for
``application/json`` gets the same links as JSON.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request

from blueprints.web import services

bp = Blueprint("home", __name__)


def front_links() -> dict[str, str]:
    """Link name → absolute URL, in the order the page shows them; the development pages only
    when this app serves them."""
    issuer = services().settings.issuer
    links = {}
    if "demo" in current_app.blueprints:
        links["demo"] = f"{issuer}/demo"
    links["account"] = f"{issuer}/account"
    links["openid_configuration"] = f"{issuer}/.well-known/openid-configuration"
    if "dev" in current_app.blueprints:
        links["dev_outbox"] = f"{issuer}/dev/outbox"
    return links


@bp.get("/")
def index() -> Response:
    links = front_links()
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        response = jsonify(service="Gatehouse", issuer=services().settings.issuer, links=links)
    else:
        response = make_response(render_template("hosted/home.html", page=None, links=links))
    # the answer depends on both: a shared cache must not hand the JSON (or the Chinese page) to everyone
    response.vary.update(("Accept", "Accept-Language"))
    return response
