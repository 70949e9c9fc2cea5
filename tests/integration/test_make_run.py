"""`make run`'s script on a fresh data directory: it sets up the demo and the server answers.

The server refuses a data directory other users can read (issue 13), so every file the script
itself writes there must be private too; this runs the script as a new user would.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import requests

from tests.serving import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_script_sets_up_and_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FIELDCASE_") or key == "FIELDCASE_TEST_POSTGRES_URL"
    }
    env.update(
        FIELDCASE_DATA_DIR=str(data_dir),
        FIELDCASE_PORT=str(port),
        FIELDCASE_WORKERS="1",
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            # a login shell's usual umask, not the test run's private one
            ["bash", "-c", "umask 022 && exec bash scripts/run-demo.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        answered = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        output = log.read_text(errors="replace")
        assert answered is not None, output
        assert answered.status_code == 200, output
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    open_to_others = [
        str(path.relative_to(data_dir))
        for path in data_dir.rglob("*")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ]
    assert open_to_others == []
