"""The processing process of `fieldcase serve`: decrypts and projects what the HTTP workers
recorded, in a process of its own.

The HTTP workers answer a phone once its submission is stored durably and do nothing more
with it (`Config.processing_elsewhere`). This process finds the submissions received in the
store (an index holds exactly those) and processes them in batches on its thread
(server/services/background.py, `poll`), so decryption and projection never hold the
interpreter lock of a process whose threads are answering phones. Measured on 2 cores
against the same thread inside each HTTP worker (docs/performance.md, fourth pass): 13-14%
less server CPU per submission and 24% more decrypted per second on SQLite, 6-9% less CPU on
PostgreSQL.

gunicorn runs it as its one "dirty worker" (`dirty_apps`, gunicorn 25+): its own arbiter
starts it after the fork, starts it again if it dies, and stops it gracefully with the
server. The dirty-worker protocol (requests from the HTTP workers over a private Unix
socket) is not used: `ProcessingApp` answers no action.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn.dirty.app import DirtyApp

from server import metrics
from server.app_context import Services, services_for
from server.config import Config
from server.services.background import BackgroundProcessing

log = logging.getLogger("server.processing_worker")

# Seconds between looks in the store when nothing was found (at once after a batch).
POLL_EVERY = 0.05

# The settings of the `fieldcase serve` that forked this process (set in the master before
# its arbiters fork; a dirty app is built with no arguments).
_serving: Config | None = None


def use_config(config: Config) -> None:
    """Called by `fieldcase serve` before gunicorn starts: the settings the process uses."""
    global _serving
    _serving = config


class ProcessingApp(DirtyApp):  # type: ignore[misc]
    """The processing thread, started when gunicorn's dirty worker loads this app."""

    def __init__(self) -> None:
        self.services: Services | None = None
        self.background: BackgroundProcessing | None = None

    def init(self) -> None:
        """Open the store and start the thread (it first takes over what was left)."""
        config = _serving or Config.from_env()
        self.services = services_for(config)
        self.background = BackgroundProcessing(self.services.processor, poll=POLL_EVERY)
        self.background.start()
        log.info("processing process started pid=%d", os.getpid())

    def __call__(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """No action is offered to the HTTP workers (nothing reaches this process but the
        store)."""
        raise ValueError("this dirty app answers no action")

    def close(self) -> None:
        """Finish the batch under way (what is left stays received for the next process)."""
        if self.background is not None:
            self.background.stop(timeout=10.0)
        if self.services is not None:
            self.services.store.dispose()
        metrics.process_exited(os.getpid())
