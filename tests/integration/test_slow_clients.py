"""Slow clients cannot take a real `fieldcase serve` down; slow but steady phones still send.

The server runs with one worker of two threads and a 2 s read allowance (FIELDCASE_READ_TIMEOUT)
so that the test is quick; the defaults only scale the times. bench/slow_clients.py measures
the defaults against 40 slow connections.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from server.config import Config
from server.store.db import Store
from server.store.models import Submission
from tests.conftest import env_for
from tests.serving import ServerProcess
from tests.streaming import prepare
from tests.submissions import encrypted_instance

pytestmark = pytest.mark.slow

THREADS = 2


@pytest.fixture
def served(
    config: Config, store: Store, tmp_path: Path
) -> Iterator[tuple[ServerProcess, str, str, Path]]:
    """(server, collector token, public key, log path) of a served deployment."""
    public_key, token = prepare(config, store)
    log_path = tmp_path / "server.log"
    server = ServerProcess(
        {
            **env_for(config),
            "FIELDCASE_WORKERS": "1",
            "FIELDCASE_THREADS": str(THREADS),
            "FIELDCASE_READ_TIMEOUT": "2",
            "FIELDCASE_MIN_READ_RATE": "500",
        },
        log_path=log_path,
    )
    server.start()
    try:
        yield server, token, public_key, log_path
    finally:
        server.stop()


class Trickle(threading.Thread):
    """A client that sends `data` one byte every `every` seconds, opening a new connection
    each time the server cuts it off (as an attacker would)."""

    def __init__(self, port: int, data: bytes, every: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.data, self.every, self.stop = port, data, every, stop
        self.cut = 0

    def run(self) -> None:
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                try:
                    for byte in self.data:
                        sock.sendall(bytes([byte]))
                        if self.stop.wait(self.every):
                            return
                except OSError:
                    self.cut += 1


def _submission_request(server: ServerProcess, token: str, public_key: str) -> tuple[bytes, str]:
    """The raw bytes of an encrypted submission POST, and its instanceID."""
    instance_id = f"uuid:{uuid.uuid4()}"
    manifest, files = encrypted_instance(
        public_key,
        "vt_test",
        "1",
        instance_id,
        media=[("photo.jpg", b"\xff\xd8" + bytes(range(256)) * 24)],
    )
    prepared = requests.Request(
        "POST",
        f"{server.url}/c/{token}/submission",
        headers={"X-OpenRosa-Version": "1.0", "Connection": "close"},
        files=[
            ("xml_submission_file", ("submission.xml", manifest, "text/xml")),
            *[(name, (name, content, "application/octet-stream")) for name, content in files],
        ],
    ).prepare()
    body = prepared.body if isinstance(prepared.body, bytes) else b""
    head = f"POST /c/{token}/submission HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in prepared.headers.items()) + "\r\n"
    return head.encode("latin-1") + body, instance_id


def _healthz_times(server: ServerProcess, seconds: float) -> list[float]:
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        try:
            requests.get(f"{server.url}/healthz", timeout=5).raise_for_status()
            times.append(time.monotonic() - began)
        except requests.RequestException:
            times.append(float("inf"))
        time.sleep(0.25)
    return times


def test_more_slow_connections_than_threads_leave_healthz_answering(served) -> None:  # type: ignore[no-untyped-def]
    server, token, _public_key, log_path = served
    stop = threading.Event()
    header_line = f"GET /c/{token}/formList HTTP/1.1\r\nHost: x\r\nX-Pad: ".encode() + b"a" * 500
    small_body = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 2000\r\n\r\n" + b"u" * 2000
    )
    big_body = (
        (
            f"POST /c/{token}/submission HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000\r\n\r\n"
        ).encode()
        + b"--b\r\n"
        + b"x" * 5_000_000
    )
    clients = [
        Trickle(server.port, data, 0.5, stop)
        for data in [header_line] * (3 * THREADS) + [small_body, big_body] * (2 * THREADS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(1.0)  # every slow client has sent something and would hold a thread
        times = _healthz_times(server, 7.0)  # past the 2 s allowance: they are cut, come back
    finally:
        stop.set()
        for client in clients:
            client.join(5)
    assert max(times) < 2.0, times  # without the gathering, some time out (5 s)
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert log_text.count("slow client cut off") >= len(clients)  # and they were cut off
    assert token not in log_text


def test_a_slow_but_steady_upload_is_received(served, store: Store) -> None:  # type: ignore[no-untyped-def]
    server, token, public_key, log_path = served
    request, instance_id = _submission_request(server, token, public_key)
    pace = 1500  # bytes a second: three times the minimum, far below any phone network
    assert len(request) / pace > 2 * 2  # the upload lasts much longer than the allowance
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        for offset in range(0, len(request), pace // 10):
            sock.sendall(request[offset : offset + pace // 10])
            time.sleep(0.1)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert time.monotonic() - began > 4
    with store.reader() as session:
        found = session.scalars(select(Submission).where(Submission.instance_id == instance_id))
        assert len(found.all()) == 1
    assert "slow client cut off" not in log_path.read_text(encoding="utf-8", errors="replace")


def _responses(sock: socket.socket, count: int) -> list[bytes]:
    """Read `count` whole responses (status line, headers, Content-Length body)."""
    data, found = b"", []
    deadline = time.monotonic() + 10
    while len(found) < count and time.monotonic() < deadline:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(data) >= end + 4 + length:
                found.append(data[: end + 4 + length])
                data = data[end + 4 + length :]
                continue
        data += sock.recv(65536)
    return found


def test_kept_alive_and_pipelined_requests_are_answered(served) -> None:  # type: ignore[no-untyped-def]
    server, _token, _public_key, _log_path = served
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(3):  # one after the other on a kept-alive connection
            sock.sendall(one)
            assert _responses(sock, 1)[0].startswith(b"HTTP/1.1 200")
            time.sleep(0.3)
        sock.sendall(one * 3)  # three at once
        answers = _responses(sock, 3)
    assert [a.split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3
    # a session through requests (keep-alive pool) works as before
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(f"{server.url}/healthz", timeout=5).status_code == 200
