"""`fieldcase serve`: gunicorn with threaded workers, one process per core by default.

A single Python process is held to one core by the GIL; ingest (TLS-free HTTP parsing, SQL,
RSA) is CPU work, so several worker processes are what let a small server use its cores.
Each worker builds its own app (own database pool, own unlocked keys) after the fork.

Two things gunicorn does not do on its own are added here:
- Slow clients. gunicorn's threaded worker gives a connection a thread once its first byte
  arrives and then reads the request line, headers and body with no time limit, so a few
  dozen connections sending a byte every few seconds hold every thread (`timeout` only
  restarts silent workers; `keepalive` only bounds idle connections between requests). Every
  read of a request therefore has a deadline (`ClientSocket`): `read_timeout` seconds from its
  first byte, plus one second for every `min_read_rate` bytes received, so a slow but steady
  upload goes on while a trickle is cut off.
- Collector tokens in logs. gunicorn logs malformed request lines, and every path at DEBUG;
  `RedactingLogger` writes `/c/<token>` as `/c/[token]` in its error and access logs, and
  gunicorn's own error pages get the same treatment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from server.config import Config
from server.datadir import PRIVATE_UMASK
from server.redaction import redact_tokens

log = logging.getLogger("server.wsgi")


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
            "worker_class": FieldcaseWorker,
            "threads": config.threads,
            "timeout": 120,
            # Phones on slow networks pause between uploads; a short keep-alive closes their
            # connection under them and the next request fails.
            "keepalive": 30,
            "graceful_timeout": 30,
            # No access log: URLs of collectors carry their secret token (and if one is
            # turned on, RedactingLogger still writes the token out of it).
            "accesslog": None,
            "errorlog": "-",
            "logger_class": RedactingLogger,
            "loglevel": config.log_level.lower(),
            "limit_request_line": 8190,
            "proc_name": "fieldcase",
            "forwarded_allow_ips": "127.0.0.1",
            # Files gunicorn makes itself (worker heartbeat files) are private too.
            "umask": PRIVATE_UMASK,
            "post_fork": _private_files,
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


class ClientSocket:
    """A client connection whose reads in a worker thread must keep up a minimum pace.

    A request may take `allowance` seconds from its first byte, plus one second for every
    `min_rate` bytes received. Past that, reads return end-of-file and the reading side is
    shut, so gunicorn and the app see a client that went away: no thread waits on it any
    longer, and the connection is not kept alive. Reads with the socket in non-blocking mode
    (gunicorn's poller) and everything else pass straight to the socket.
    """

    def __init__(self, sock: socket.socket, allowance: float, min_rate: float) -> None:
        self._sock = sock
        self._allowance = allowance
        self._min_rate = min_rate
        self._started: float | None = None
        self._received = 0
        self._expired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def fileno(self) -> int:
        """The socket's descriptor (selectors ask for it)."""
        return self._sock.fileno()

    def new_request(self) -> None:
        """The next read starts a new request, with a new allowance."""
        self._started = None
        self._received = 0

    def recv(self, size: int, flags: int = 0) -> bytes:
        """Read like `socket.recv`, within the request's deadline."""
        prior = self._sock.gettimeout()
        if prior == 0.0:
            return self._sock.recv(size, flags)
        if self._expired:
            return b""
        now = time.monotonic()
        if self._started is None:
            self._started = now
        remaining = (self._started + self._allowance + self._received / self._min_rate) - now
        if remaining <= 0:
            return self._expire()
        # A timeout the caller set itself (gunicorn's body drain) wins when it is shorter.
        own_limit = prior is None or remaining < prior
        self._sock.settimeout(remaining if own_limit else prior)
        try:
            data = self._sock.recv(size, flags)
        except TimeoutError:
            if not own_limit:
                raise
            return self._expire()
        finally:
            self._sock.settimeout(prior)
        self._received += len(data)
        return data

    def _expire(self) -> bytes:
        self._expired = True
        elapsed = time.monotonic() - (self._started or time.monotonic())
        log.warning(
            "slow client cut off: %d bytes in %.0f s (fewer than %d bytes/s after %.0f s)",
            self._received,
            elapsed,
            self._min_rate,
            self._allowance,
        )
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_RD)
        return b""


class FieldcaseWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker with paced reads (`ClientSocket`) and token-free error
    pages."""

    def enqueue_req(self, conn: Any) -> None:
        if not isinstance(conn.sock, ClientSocket) and not self.cfg.is_ssl:
            config: Config = self.app.fieldcase_config
            conn.sock = ClientSocket(conn.sock, config.read_timeout, config.min_read_rate)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        # Each time a connection gets a thread, a request (or the rest of a first request
        # that had sent nothing yet) is read.
        if isinstance(conn.sock, ClientSocket):
            conn.sock.new_request()
        return super().handle(conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn echoes a malformed request line into its 400 page (and its log line).
        super().handle_error(req, client, addr, _redacted(exc))


def _redacted(exc: BaseException) -> BaseException:
    """`exc`, or a copy of it of a subclass whose text has no collector token (gunicorn picks
    its answer by the exception's class, so the class must stay)."""
    text = str(exc)
    clean = redact_tokens(text)
    if clean == text:
        return exc
    kind = type(exc)
    copy_kind = type(kind.__name__, (kind,), {"__str__": lambda _self: clean})
    copy = copy_kind.__new__(copy_kind)
    copy.__dict__.update(exc.__dict__)
    copy.args = (clean,)
    return copy


class _RedactTokens(logging.Filter):
    """Rewrites a log record's text (and traceback) without collector tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_tokens(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_tokens(record.stack_info)
        return True


_REDACT_TOKENS = _RedactTokens()


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger whose error and access logs never carry a collector token."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.addFilter(_REDACT_TOKENS)  # the same filter once, however often set up


def _private_files(_server: Any, _worker: Any) -> None:
    """In each worker, right after the fork: files it makes are its user's only."""
    os.umask(PRIVATE_UMASK)


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
