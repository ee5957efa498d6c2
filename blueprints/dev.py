"""Development-only pages: the outbox of delivered SMS and email. The blueprint is registered
only outside production, so the route does not exist there."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from blueprints.web import services
from idp.otp.senders.outbox import OutboxSender

bp = Blueprint("dev", __name__)


@bp.get("/dev/outbox")
def outbox():
    records = OutboxSender(services().settings.outbox_path).read()
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return jsonify(records)
    return render_template("dev/outbox.html", records=records)
