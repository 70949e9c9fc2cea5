"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from server import access_log, metrics
from server.auditseal import seal_for
from server.config import Config
from server.datadir import secret_key
from server.edge import register_error_handlers, register_security_headers
from server.proxies import ClientAddress
from server.security import passwords
from server.store.db import Store
from server.urls import register_converters

STORE_KEY = "fieldcase.store"
CONFIG_KEY = "fieldcase.config"


def create_app(config: Config | None = None, store: Store | None = None) -> Flask:
    """Build the WSGI app for one data directory. Tests pass their own config (and store)."""
    config = config or Config.from_env()
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(
        SECRET_KEY=secret_key(config),
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_NAME="fieldcase_session",
        TESTING=config.testing,
        JSON_AS_ASCII=False,
    )
    app.extensions[CONFIG_KEY] = config
    app.extensions[STORE_KEY] = store = store or Store(config.database_url, config.threads)
    if store.audit_seal is None:
        store.attach_audit(seal_for(config))
    logging.getLogger("server").setLevel(config.log_level)

    from server.api import bp as api_bp
    from server.app_context import SERVICES_KEY, Services
    from server.openrosa import bp as openrosa_bp
    from server.web import init_app as init_web

    app.extensions[SERVICES_KEY] = Services(config, app.extensions[STORE_KEY])
    register_converters(app)  # before any rule is added: ids in URLs are bounded
    # First of the request hooks, so a request another hook refuses (CSRF) is logged too.
    observers = (metrics.observe_request,) if config.metrics else ()
    access_log.register(app, observers)
    # Under a collector's server URL (token) and at the root (HTTP Basic).
    app.register_blueprint(openrosa_bp, url_prefix="/c/<token>")
    app.register_blueprint(openrosa_bp, name="openrosa_basic")
    # The ODK Central-compatible API for analysts' tools (bearer tokens, no cookies).
    app.register_blueprint(api_bp, url_prefix="/v1")
    init_web(app)  # the web view, CSRF (OpenRosa and /v1 exempt), Babel
    register_error_handlers(app)
    register_security_headers(app)
    # Submissions under a collector's URL answered without Flask's request machinery.
    from server.openrosa.fast import SubmissionRoute

    lean = SubmissionRoute(
        app.wsgi_app,
        app.extensions[SERVICES_KEY],
        config.max_request_bytes,
        observers,
        testing=bool(config.testing),
    )
    # The client address the sign-in back-off counts by: the proxy's report, when trusted.
    app.wsgi_app = ClientAddress(lean, config.trusted_proxies)  # type: ignore[method-assign]
    passwords.configure_gate(config.threads)
    return app


def store_of(app: Flask) -> Store:
    """The store an app was built with."""
    store: Store = app.extensions[STORE_KEY]
    return store


def config_of(app: Flask) -> Config:
    """The settings an app was built with."""
    config: Config = app.extensions[CONFIG_KEY]
    return config
