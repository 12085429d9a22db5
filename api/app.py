"""Flask application factory: one blueprint per resource, problem+json errors."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app

from api.errors import register_error_handlers
from engine.bootstrap import Oospath, bootstrap
from engine.settings import Settings

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the API.

    Config keys (all optional): ``OOSPATH`` a ready container (tests), ``SETTINGS``,
    ``CLOCK``, ``EMBEDDED_MESSAGING`` (default ``Settings.embedded_messaging``, True: relay and workers run
    in-process after a write that added outbox rows; False when RabbitMQ workers run separately), ``DEPLOY_PROCESSES``
    (default True: deploy ``processes/`` at start; a no-op when unchanged), ``AUTH`` (``token`` or
    ``dev-headers``; default ``Settings.auth_mode``; dev-headers is refused in production).
    """
    app = Flask(__name__)
    app.config.update({"DEPLOY_PROCESSES": True})
    app.config.update(config or {})
    container: Oospath = app.config.get("OOSPATH") or bootstrap(
        app.config.get("SETTINGS") or Settings(), app.config.get("CLOCK")
    )
    app.config.setdefault("EMBEDDED_MESSAGING", container.settings.embedded_messaging)
    app.extensions["oospath"] = container
    _refuse_unsafe_identity(app, container.settings)
    app.config["MAX_CONTENT_LENGTH"] = container.settings.max_request_bytes
    if app.config["DEPLOY_PROCESSES"]:
        from oospath.demo import deploy_processes

        deploy_processes(container)
    if app.config["EMBEDDED_MESSAGING"]:
        from workers.embedded import EmbeddedMessaging

        messaging = EmbeddedMessaging(container)
        app.extensions["oospath.messaging"] = messaging

        @app.after_request
        def _pump(response: Response) -> Response:
            if response.status_code < 400 and _is_write():
                messaging.pump_after_write()
            return response

    from api import access, request_log

    request_log.install(app)  # first: refusals are logged with the request id
    access.install(app)
    register_error_handlers(app)
    _register_blueprints(app)
    return app


class UnsafeConfiguration(RuntimeError):
    """The server refuses to start with a configuration that would void its controls."""


def _refuse_unsafe_identity(app: Flask, settings: Settings) -> None:
    mode = app.config.get("AUTH") or settings.auth_mode
    if mode not in ("token", "dev-headers"):
        raise UnsafeConfiguration(f"OOSPATH_AUTH={mode!r}: use 'token' (default) or 'dev-headers' (development)")
    if mode == "dev-headers" and settings.environment == "production":
        raise UnsafeConfiguration(
            "OOSPATH_AUTH=dev-headers lets any caller claim any user and role: it is refused with "
            "OOSPATH_ENV=production. Unset OOSPATH_AUTH (token authentication) and create users with "
            "`oospath users add`.")
    app.config["AUTH"] = mode


def _is_write() -> bool:
    from flask import request

    return request.method in ("POST", "PUT", "PATCH", "DELETE")


def _register_blueprints(app: Flask) -> None:
    from api.blueprints import (
        auth,
        cases,
        catalog,
        definitions,
        health,
        incidents,
        instances,
        metrics,
        openapi,
        reports,
        tasks,
    )

    for module in (health, openapi, metrics, auth, definitions, catalog, instances, cases, tasks, incidents,
                   reports):
        app.register_blueprint(module.bp)
    from api import web

    web.register(app)


def container() -> Oospath:
    return current_app.extensions["oospath"]
