"""Slow clients against a real `fieldcase serve`: does /healthz still answer?

    .venv/bin/python bench/slow_clients.py [--slow 40] [--every 5] [--seconds 60]
        [--workers 2] [--threads 8] [--mode headers|body|small-body] [--source DIR]

Opens `--slow` connections that each send one byte every `--every` seconds: in the request
line and headers, or (`--mode body`, `small-body`) in the 100 kB or 1 kB body of a POST whose
headers were sent at once. A connection the server cuts off is opened again at once, as an
attacker would. Meanwhile /healthz is asked once a second (timeout `--timeout`, 30 s); prints
its median, p95 and worst time, how many failed, and how many slow requests the server cut
off. `--source` runs the server from another checkout (an older commit unpacked with
`git archive`, say) to compare. Runs by hand, never in the test suite.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import TEST_ADMIN_PASSWORD, TEST_PASSPHRASE
from tests.serving import ServerProcess


def _trickle(port: int, mode: str, every: float, stop: threading.Event) -> None:
    while not stop.is_set():
        sock = None
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            if mode in ("body", "small-body"):
                size = 100_000 if mode == "body" else 1000
                sock.sendall(
                    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    b"application/x-www-form-urlencoded\r\n"
                    + f"Content-Length: {size}\r\n\r\n".encode()
                )
                data = b"u" * size
            else:
                data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100000
            for byte in data:
                if stop.wait(every):
                    break
                sock.sendall(bytes([byte]))
        except OSError:
            pass  # cut off by the server: come back at once, as an attacker would
        finally:
            if sock is not None:
                sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", type=int, default=40)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--mode", choices=["headers", "body", "small-body"], default="headers")
    parser.add_argument("--timeout", type=float, default=30.0, help="/healthz client timeout")
    parser.add_argument("--source", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fieldcase-slow-") as tmp:
        env = {
            "FIELDCASE_DATA_DIR": str(Path(tmp) / "data"),
            "FIELDCASE_KEY_PASSPHRASE": TEST_PASSPHRASE,
            "FIELDCASE_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
            "FIELDCASE_WORKERS": str(args.workers),
            "FIELDCASE_THREADS": str(args.threads),
        }
        cwd = args.source or Path(__file__).resolve().parents[1]
        subprocess.run(
            [sys.executable, "-m", "server.cli", "init"],
            cwd=cwd,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        server = ServerProcess(env, log_path=Path(tmp) / "server.log")
        if args.source:
            import tests.serving as serving

            serving.ROOT = args.source
        server.start()
        stop = threading.Event()
        slow = [
            threading.Thread(target=_trickle, args=(server.port, args.mode, args.every, stop))
            for _ in range(args.slow)
        ]
        for thread in slow:
            thread.start()
        times, failed = [], 0
        end = time.monotonic() + args.seconds
        try:
            time.sleep(min(10.0, args.seconds / 4))  # let the slow ones take the threads
            while time.monotonic() < end:
                began = time.monotonic()
                try:
                    requests.get(f"{server.url}/healthz", timeout=args.timeout).raise_for_status()
                    times.append(time.monotonic() - began)
                except requests.RequestException:
                    failed += 1
                time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
        finally:
            stop.set()
            server.stop()
            for thread in slow:
                thread.join(10)
            log_text = (Path(tmp) / "server.log").read_text(encoding="utf-8", errors="replace")
    times.sort()
    p95 = times[min(len(times) - 1, math.ceil(len(times) * 0.95) - 1)] if times else float("nan")
    print(
        f"{args.slow} slow ({args.mode}, a byte every {args.every:g} s) vs "
        f"{args.workers}x{args.threads} threads: /healthz p50 "
        f"{statistics.median(times) if times else float('nan'):.2f} s, p95 {p95:.2f} s, "
        f"worst {times[-1] if times else float('nan'):.2f} s, failed {failed} of "
        f"{failed + len(times)}; the server cut {log_text.count('slow client cut off')} slow "
        f"requests off"
    )


if __name__ == "__main__":
    main()
