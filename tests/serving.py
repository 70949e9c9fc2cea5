"""Run `fieldcase serve` as a real process for tests that need one (durability, browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# Every line a served process wrote in this test session: tests/conftest.py checks them all
# at the end, as it checks the records of the test process itself.
SERVED_LOG_LINES: list[str] = []


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`fieldcase serve` in a child process, with the environment of a test deployment."""

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        log_path: Path | None = None,
        umask: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.umask = umask  # the umask the process starts with (fieldcase sets its own)
        self.env = {
            **os.environ,
            **env,
            "FIELDCASE_PORT": str(self.port),
            "FIELDCASE_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
        }
        if log_path is None:  # always kept: the session's log check reads it
            handle, name = tempfile.mkstemp(prefix="fieldcase-serve-", suffix=".log")
            os.close(handle)
            log_path, self._own_log = Path(name), True
        else:
            self._own_log = False
        self.log_path = log_path
        self._log_offset = log_path.stat().st_size if log_path.exists() else 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until /healthz answers."""
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=None if self.umask is None else (lambda: os.umask(self.umask or 0)),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                # Not listening yet, or listening while its workers still load the app (a busy
                # machine can take more than a second for that).
                time.sleep(0.1)
        self.kill()  # never leave a server running behind a failed test
        raise TimeoutError("server did not answer")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as a power cut would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._collect_log()

    def _collect_log(self) -> None:
        """Hand what the process wrote since the last look to the session's log check."""
        if not self.log_path.exists():
            return
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_offset)
            written = handle.read()
        self._log_offset += len(written)
        SERVED_LOG_LINES.extend(written.decode("utf-8", errors="replace").splitlines())
        if self._own_log and (self.process is None or self.process.poll() is not None):
            self.log_path.unlink(missing_ok=True)
            self._log_offset = 0

    def stop(self) -> None:
        """Terminate politely."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._collect_log()
