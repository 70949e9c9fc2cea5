"""`fieldcase serve`: gunicorn with threaded workers, one process per core by default.

A single Python process is held to one core by the GIL; ingest (TLS-free HTTP parsing, SQL,
RSA) is CPU work, so several worker processes are what let a small server use its cores.
Each worker builds its own app (own database pool, own unlocked keys) after the fork.

Beside the workers runs one processing process (server/processing_worker.py), which gunicorn
starts, restarts and stops as its "dirty worker": the workers answer phones and record, it
decrypts and projects.

Two things gunicorn does not do on its own are added here:
- Slow clients. gunicorn's threaded worker gives a connection a thread once its first byte
  arrives and then reads the request line, headers and body with no time limit, so a few
  dozen connections sending a byte every few seconds hold every thread (`timeout` only
  restarts silent workers; `keepalive` only bounds idle connections between requests). Here a
  thread only takes in what a client has already sent, never waiting for more, and hands the
  connection back to the worker's event loop until the request has arrived whole; only then
  is it handled (`ClientSocket`). And a request must arrive at a pace:
  `read_timeout` seconds from its first byte, plus one second for every `min_read_rate` bytes
  received, so a slow but steady upload goes on while a trickle is cut off.
- Collector tokens in logs. gunicorn logs malformed request lines, and every path at DEBUG;
  `RedactingLogger` writes `/c/<token>` as `/c/[token]` in its error and access logs, and
  gunicorn's own error pages get the same treatment.

The worker relies on gunicorn 27's threaded worker (its deferral of a connection back to the
event loop), hence the version range in pyproject.toml.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import tempfile
import time
from typing import IO, Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import _DEFER, ThreadWorker

from server import logs, metrics, processing_worker
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
            # Unique per data directory: gunicorn names the dirty arbiter's PID file after it
            # (in the shared temporary directory) and stops whatever process an existing
            # file names, so two deployments on one machine must not share it.
            "proc_name": "fieldcase-"
            + hashlib.sha256(str(config.data_dir).encode("utf-8")).hexdigest()[:12],
            # The processing process (server/processing_worker.py): one, beside the workers.
            "dirty_apps": ["server.processing_worker:ProcessingApp"],
            "dirty_workers": 1,
            "dirty_post_fork": _private_files,
            "forwarded_allow_ips": "127.0.0.1",
            # Files gunicorn makes itself (worker heartbeat files) are private too.
            "umask": PRIVATE_UMASK,
            "post_fork": _private_files,
            # gunicorn 27 opens a control socket in the home directory (~/.gunicorn): nothing
            # here uses it, and two servers of one user would share its path.
            "control_socket_disable": True,
            "worker_exit": _worker_exited,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from server.app import create_app

        # The app's own log lines (server.*) go to the handler of server/logs.py, set up by
        # `fieldcase serve` before the fork (`serve` below sets it up when called alone).
        # Phones get their answer once a submission is stored; decryption follows in the
        # processing process (server/processing_worker.py).
        return create_app(self.fieldcase_config.with_changes(processing_elsewhere=True))


class ClientSocket:
    """A client connection whose requests reach a thread only once they have arrived whole.

    `gather` collects, without ever waiting, what the client has sent: the request line, the
    headers and the body (declared by Content-Length, up to FIELDCASE_MAX_REQUEST_BYTES; in
    memory up to `SPOOL_IN_MEMORY`, then in an unnamed temporary file). Until the request is
    complete the worker hands the connection back to its event loop, which holds no thread,
    so slow clients, however many, never keep a thread waiting. Then `recv` serves what was
    gathered. A body that cannot be gathered first (chunked, or after `Expect: 100-continue`,
    which waits for an answer) is read by the thread, under the same deadline.

    A request may take `allowance` seconds from its first byte, plus one second for every
    `min_rate` bytes received. Past that, it is cut off: reads return end-of-file and the
    reading side is shut, so gunicorn and the app see a client that went away, and the
    connection is not kept alive. Everything else passes straight to the socket.
    """

    def __init__(
        self, sock: socket.socket, allowance: float, min_rate: float, max_body: int
    ) -> None:
        self._sock = sock
        self._allowance = allowance
        self._min_rate = min_rate
        self._max_body = max_body
        self._expired = False
        self._spool: IO[bytes] | None = None  # gathered bytes, read back by `recv`
        self._spooled = 0
        self._served = 0
        self._reset()

    def _reset(self) -> None:
        self._head = bytearray()  # the first bytes, where the headers are looked for
        self._request_size: int | None = None  # known once the headers are in
        self._started: float | None = None
        self._received = 0
        self._handed_over = False  # the request being gathered went to a thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def fileno(self) -> int:
        """The socket's descriptor (selectors ask for it)."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket and drop what was gathered."""
        self._drop_spool()
        self._sock.close()

    def new_request(self) -> None:
        """The next bytes start a new request, with a new allowance (bytes already gathered
        past the previous request, if a client sent two at once, begin it)."""
        leftover = self._unserved()
        self._drop_spool()
        self._reset()
        if leftover:
            self._started = time.monotonic()
            self._keep(leftover)

    def gather(self) -> str:
        """Read what has arrived, without waiting: "ready" once the request can be handed to
        a thread (or gunicorn must see an end or an error), "wait" while more is expected,
        "expired" when the client fell behind its deadline."""
        if self._handed_over:  # the previous request had its thread: this is the next one
            self.new_request()
        while not self._expired:
            if self._complete():
                self._handed_over = True
                return "ready"
            try:
                chunk = self._sock.recv(_GATHER_CHUNK, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return "wait"
            except OSError:
                chunk = b""  # gunicorn meets the error itself
            if not chunk:
                self._handed_over = True
                return "ready"  # the client closed: gunicorn sees the end
            if self._started is None:
                self._started = time.monotonic()
            self._keep(chunk)
            if self._remaining() <= 0:
                self._expire()
        return "expired"

    def _keep(self, data: bytes) -> None:
        if self._spool is None:
            self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._spool.seek(0, os.SEEK_END)
        self._spool.write(data)
        self._spooled += len(data)
        self._received += len(data)
        if self._request_size is None and len(self._head) < _HEAD_LIMIT:
            self._head += data[: _HEAD_LIMIT - len(self._head)]

    def _complete(self) -> bool:
        """The whole request is gathered, or the rest is for the thread to read."""
        if self._request_size is None:
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return len(self._head) >= _HEAD_LIMIT  # gunicorn's limits answer that
            self._request_size = self._size_with_body(bytes(self._head[:end]).lower(), end + 4)
        return self._spooled - self._served >= self._request_size

    def _size_with_body(self, head: bytes, head_size: int) -> int:
        """How many bytes to gather: the headers and the declared body; just the headers
        when the body comes in chunks or after an answer, or is too large to be accepted
        (the app refuses it without reading it)."""
        if b"\nexpect:" in head or b"\ntransfer-encoding:" in head:
            return head_size
        declared = _CONTENT_LENGTH.search(head)
        length = int(declared[1]) if declared else 0
        return head_size if length > self._max_body else head_size + length

    def _unserved(self) -> bytes:
        if self._spool is None or self._served >= self._spooled:
            return b""
        self._spool.seek(self._served)
        return self._spool.read()

    def _drop_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
        self._spool, self._spooled, self._served = None, 0, 0

    def recv(self, size: int, flags: int = 0) -> bytes:
        """Read like `socket.recv`: what was gathered first, then the socket, within the
        request's deadline."""
        if self._spool is not None and self._served < self._spooled:
            self._spool.seek(self._served)
            data = self._spool.read(size)
            self._served += len(data)
            return data
        prior = self._sock.gettimeout()
        if prior == 0.0:
            return self._sock.recv(size, flags)
        if self._expired:
            return b""
        if self._started is None:
            self._started = time.monotonic()
        remaining = self._remaining()
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

    def _remaining(self) -> float:
        started = self._started if self._started is not None else time.monotonic()
        return started + self._allowance + self._received / self._min_rate - time.monotonic()

    def _expire(self) -> bytes:
        self._expired = True
        self._drop_spool()
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


# Gathered bytes beyond this go to an unnamed temporary file (0600, gone when closed), as the
# multipart parser already does with large parts: memory stays bounded per connection.
SPOOL_IN_MEMORY = 64 * 1024
_HEAD_LIMIT = 64 * 1024  # no end of headers within this: gunicorn's own limits answer
_GATHER_CHUNK = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*([0-9]{1,15})[ \t]*(?:\r|$)", re.M)


class FieldcaseWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker whose requests get a thread only once they have arrived
    (`ClientSocket`), and whose error pages carry no collector token."""

    def enqueue_req(self, conn: Any) -> None:
        if not isinstance(conn.sock, ClientSocket) and not self.cfg.is_ssl:
            config: Config = self.app.fieldcase_config
            conn.sock = ClientSocket(
                conn.sock, config.read_timeout, config.min_read_rate, config.max_request_bytes
            )
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        sock = conn.sock
        if isinstance(sock, ClientSocket):
            if conn.parser is not None and conn.parser.unreader.buf.getvalue():
                sock.new_request()  # pipelined: gunicorn already holds the next request
            else:
                state = sock.gather()
                if state == "wait":
                    return _DEFER  # to the event loop, which holds no thread meanwhile
                if state == "expired":
                    return False  # closed
            conn.data_ready = True  # gathered: gunicorn must not wait for the socket again
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
    copy_kind: type[BaseException] = type(kind.__name__, (kind,), {"__str__": lambda _s: clean})
    copy = BaseException.__new__(copy_kind)
    copy.__dict__.update(exc.__dict__)
    copy.args = (clean,)
    return copy


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger whose error and access logs never carry a collector token."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = logs.formatter_for(logs.current_format())
        for logger in (self.error_log, self.access_log):
            logger.addFilter(logs.REDACT_TOKENS)  # the same filter once, however often set up
            for handler in logger.handlers:
                handler.addFilter(logs.REDACT_TOKENS)
                handler.setFormatter(formatter)  # gunicorn's lines look like the app's


def _private_files(_server: Any, _worker: Any) -> None:
    """In each worker, right after the fork: files it makes are its user's only."""
    os.umask(PRIVATE_UMASK)


def _worker_exited(_server: Any, worker: Any) -> None:
    """On a worker's way out: its live gauges stop counting."""
    metrics.process_exited(worker.pid)


def serve(config: Config) -> None:
    """Run until stopped (SIGTERM / Ctrl-C)."""
    logs.configure(config.log_level, config.log_format)
    if config.metrics:  # before any worker imports prometheus-client
        metrics.prepare_multiprocess(config.data_dir / "metrics")
    processing_worker.use_config(config)
    FieldcaseServer(config).run()
