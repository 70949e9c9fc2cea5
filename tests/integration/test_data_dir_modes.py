"""The data directory is the server user's only, and fieldcase refuses to run when it is not.

The commands run as real processes started with the usual umask 022, so what is checked is
what fieldcase makes of it (the test process's own umask is not involved).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import Config, sqlite_url
from server.store.db import Store
from tests.collect_client import CollectClient
from tests.conftest import ROOT, env_for
from tests.serving import ServerProcess
from tests.streaming import prepare
from tests.submissions import encrypted_instance

pytestmark = pytest.mark.slow
USUAL_UMASK = 0o022


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        preexec_fn=lambda: os.umask(USUAL_UMASK),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _open_to_others(root: Path) -> list[str]:
    """Every file or folder under `root` (itself included) with a group or other bit."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root)} {mode:04o}")
    return found


def test_everything_fieldcase_writes_is_private(config: Config, tmp_path: Path) -> None:
    env = env_for(config)
    config.data_dir.chmod(0o755)  # as `mkdir` leaves it
    init = _cli(env, "init")
    assert init.returncode == 0, init.stderr
    assert "made private" in init.stdout
    store = Store(config.database_url)  # opened only now: the CLI made the database
    public_key, token = prepare(config, store)  # vt_test published, a collector added
    store.dispose()

    server = ServerProcess(env, log_path=tmp_path / "server.log", umask=USUAL_UMASK)
    server.start()
    try:
        client = CollectClient(f"{server.url}/c/{token}")
        manifest, files = encrypted_instance(public_key, "vt_test", "1", "uuid:modes-1")
        assert client.submit(manifest, files, retries=0).acknowledged
        # While the server runs, SQLite's -wal and -shm exist: checked with the rest.
        during = _open_to_others(config.data_dir)
    finally:
        server.stop()
    exported = _cli(
        env, "export", "submissions", "--form", "vt_test",
        "--out", str(config.export_dir / "vt_test.zip"),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    backup = tmp_path / "backup.tar.gz"
    assert _cli(env, "backup", "--out", str(backup)).returncode == 0

    assert during == []
    assert _open_to_others(config.data_dir) == []
    assert any(config.blob_dir.rglob("*")), "the server stored nothing"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    if config.database_url.startswith("sqlite"):
        assert (config.data_dir / "fieldcase.sqlite3").exists()


def test_commands_refuse_a_data_dir_open_to_others(config: Config, tmp_path: Path) -> None:
    outside_db = tmp_path / "elsewhere" / "fieldcase.sqlite3"
    sqlite = config.database_url.startswith("sqlite")
    if sqlite:  # the database kept outside the data directory is checked too
        outside_db.parent.mkdir()
        config = config.with_changes(database_url=sqlite_url(outside_db.parent))
    env = env_for(config)
    assert _cli(env, "init").returncode == 0
    some_blob_folder = config.blob_dir / "ab"
    some_blob_folder.mkdir(exist_ok=True)
    loosened = [
        (config.data_dir, 0o755),
        (config.data_dir, 0o711),  # others may not list it, but may open a file they can name
        (config.data_dir / "secret_key", 0o644),
        (config.data_dir / "audit_key", 0o640),
        (next(config.key_dir.glob("*.pem")), 0o604),
        (config.key_dir, 0o750),
        (config.blob_dir, 0o755),
        (some_blob_folder, 0o705),
        (config.export_dir, 0o770),
    ]
    if sqlite:
        loosened.append((outside_db, 0o644))
    for path, mode in loosened:
        before = stat.S_IMODE(path.stat().st_mode)
        path.chmod(mode)
        try:
            # serve, and (once) another command that opens the store
            command = ["users", "add", "lan", "--role", "admin"] if mode == 0o711 else ["serve"]
            refused = _cli(env, *command)
            assert refused.returncode == 2, (path, mode, command, refused.stderr)
            assert f"{path} ({mode:04o})" in refused.stderr
            assert "chmod -R go-rwx" in refused.stderr
            assert str(config.data_dir) in refused.stderr
            assert "thư mục dữ liệu" in refused.stderr  # Vietnamese first
            assert "the data directory is open to other users" in refused.stderr
        finally:
            path.chmod(before)
    # and once fixed, it runs
    assert _cli(env, "users", "add", "lan", "--role", "admin").returncode == 0
