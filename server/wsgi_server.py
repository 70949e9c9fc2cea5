"""`fieldcase serve`: gunicorn with threaded workers, one process per core by default.

A single Python process is held to one core by the GIL; ingest (TLS-free HTTP parsing, SQL,
RSA) is CPU work, so several worker processes are what let a small server use its cores.
Each worker builds its own app (own database pool, own unlocked keys) after the fork.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from server.config import Config


class FieldcaseServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from `Config`, not from a config file or the command line."""

    def __init__(self, config: Config) -> None:
        self.fieldcase_config = config
        super().__init__()

    def load_config(self) -> None:
        config = self.fieldcase_config
        settings: dict[str, Any] = {
            "bind": f"{config.host}:{config.port}",
            "workers": config.workers,
            "worker_class": "gthread",
            "threads": config.threads,
            "timeout": 120,
            # Phones on slow networks pause between uploads; a short keep-alive closes their
            # connection under them and the next request fails.
            "keepalive": 30,
            "graceful_timeout": 30,
            # No access log: URLs of collectors carry their secret token.
            "accesslog": None,
            "errorlog": "-",
            "loglevel": config.log_level.lower(),
            "limit_request_line": 8190,
            "proc_name": "fieldcase",
            "forwarded_allow_ips": "127.0.0.1",
            "worker_exit": _finish_processing,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server.app import create_app
        from server.app_context import SERVICES_KEY

        # Phones get their answer once a submission is stored; decryption follows on a thread.
        app = create_app(self.fieldcase_config.with_changes(background_processing=True))
        background = app.extensions[SERVICES_KEY].background
        background.start()
        return app


def _finish_processing(_server: Any, worker: Any) -> None:
    """On a worker's way out, process what it has queued (what it cannot is swept later)."""
    from server.app_context import SERVICES_KEY

    app = getattr(worker, "wsgi", None)
    background = app.extensions[SERVICES_KEY].background if app is not None else None
    if background is not None:
        background.stop(timeout=10.0)


def serve(config: Config) -> None:
    """Run until stopped (SIGTERM / Ctrl-C)."""
    FieldcaseServer(config).run()
