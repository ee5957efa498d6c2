"""Gatehouse application factory: ``flask --app app run`` or ``gunicorn 'app:create_app()'``."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import console, errors, home, hosted, oauth, openapi, ops, web
from blueprints.api import admin, ciam, cloudbase, oneaccess, zitadel
from idp.oauth.backchannel import DeliveryWorker
from idp.services import Services
from idp.settings import load_settings


def create_app(overrides: dict[str, Any] | None = None, *, services: Services | None = None) -> Flask:
    """The app from the environment (``overrides`` replace settings), or around ``services``
    built by the caller (a test with its own clock)."""
    if services is None:
        services = Services.build(load_settings().with_overrides(overrides).check())
    settings = services.settings
    app = Flask(__name__, instance_path=str(settings.instance_path))
    # an address with an empty segment ("/users/a%2F/factors", "//x") is unknown, answered 404
    # in the face's format, not redirected to another address
    app.url_map.merge_slashes = False
    app.config.update(SECRET_KEY=settings.secret_key)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # bodies keep the vendor documents' order
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    app.extensions["gatehouse"] = services
    app.teardown_appcontext(lambda _exc: services.db.remove())
    ops.init_app(app)  # X-Request-Id, request metrics and the access line on every face; /healthz, /readyz, /metrics
    web.init_app(app)
    errors.init_app(app)
    oauth.init_app(app, services)
    hosted.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(ciam.bp)
    app.register_blueprint(oneaccess.bp)
    app.register_blueprint(zitadel.bp)
    app.register_blueprint(cloudbase.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin/api/v1")
    app.register_blueprint(console.bp)
    openapi.init_app(app)  # /openapi.json and /docs, after every face it describes
    if not settings.production:
        from blueprints import demo, dev

        app.register_blueprint(dev.bp)
        app.register_blueprint(demo.bp)
    start_logout_worker(app, services)
    from cli import register_commands

    register_commands(app)
    return app


def start_logout_worker(app: Flask, services: Services) -> None:
    """Each serving process (every gunicorn worker, after the fork) runs a back-channel logout
    worker thread, started by its first request so that ``flask`` commands run none."""
    interval = services.settings.logout_worker_interval
    if interval <= 0:
        return
    worker = DeliveryWorker(services.backchannel, interval)
    app.extensions["gatehouse.logout_worker"] = worker
    app.before_request(worker.start)
