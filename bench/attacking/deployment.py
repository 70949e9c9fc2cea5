"""A fresh deployment made the way an operator makes one: `fieldcase init`, `forms publish`,
`users add`, `collectors add`, then `fieldcase serve` on a free port.

Two units: A is province 01 (Hà Nội; communes 00004 and 00008 in the forms' list) and B is
province 04 (Cao Bằng; commune 01234). Accounts: `admin`, `supervisor-01` (unit A),
`supervisor-02` (unit B), `viewer` (unit A). Phones: `phone-01` (unit A) and `phone-02`
(unit B) with a token in their URL, and `phone-basic` (commune 00004 of unit A) with HTTP
Basic credentials. Every password is the one the CLI printed once.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.serving import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]

UNIT_A, UNIT_B = "01", "04"
COMMUNE_A, COMMUNE_A2, COMMUNE_B = "00004", "00008", "01234"
SUPERVISOR_A, SUPERVISOR_B = "supervisor-01", "supervisor-02"
PHONE_A, PHONE_B, PHONE_BASIC = "phone-01", "phone-02", "phone-basic"


class SetupFailed(RuntimeError):
    """A CLI step of the set-up did not do what an operator would expect."""


@dataclass
class Deployment:
    """Everything the attacks need to know about the deployment, and nothing more than an
    operator who made it would know."""

    root: Path
    data_dir: Path
    database_url: str
    port: int
    env: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)  # web accounts
    phone_urls: dict[str, str] = field(default_factory=dict)  # token collectors
    basic_password: str = ""  # of PHONE_BASIC
    exposed_after_init: list[str] = field(default_factory=list)  # item 6's first check
    server: ServerProcess | None = None

    @property
    def url(self) -> str:
        """Base URL of the served deployment."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where `fieldcase serve` writes its stdout and stderr (gunicorn's logs too)."""
        return self.root / "server.log"

    def log_text(self) -> str:
        """Everything the server has written so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def secrets(self) -> list[str]:
        """Every credential of the deployment: none may reach a log line or a page."""
        tokens = [url.rsplit("/c/", 1)[1] for url in self.phone_urls.values()]
        return [*tokens, self.basic_password, *self.passwords.values()]

    def cli(
        self, *args: str, env: dict[str, str] | None = None, umask: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `fieldcase ARGS` on this deployment."""
        return run_cli(args, {**self.env, **(env or {})}, umask=umask)

    def start(self, extra_env: dict[str, str] | None = None) -> ServerProcess:
        """`fieldcase serve` on this deployment's port; waits until /healthz answers."""
        self.stop()
        self.server = ServerProcess(
            {**self.env, **(extra_env or {})}, port=self.port, log_path=self.log_path
        )
        self.server.start(timeout=60)
        return self.server

    def stop(self) -> None:
        """Stop the server if it runs."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes of the running server (Linux /proc)."""
        if self.server is None or self.server.process is None:
            return []
        pid = self.server.process.pid  # gunicorn's arbiter runs in the serve process itself
        children: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(child) for child in (task / "children").read_text().split()]
        return children


def run_cli(
    args: tuple[str, ...] | list[str], env: dict[str, str], umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`fieldcase ARGS` in a subprocess, as an operator's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def exposed_paths(data_dir: Path) -> list[str]:
    """Every path under `data_dir` (itself included) that the group or others may reach."""
    found = []
    for path in [data_dir, *data_dir.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue  # a SQLite journal that came and went
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            found.append(f"{path.relative_to(data_dir.parent)} {stat.filemode(mode)}")
    return found


def _expect(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise SetupFailed(f"{what} exited {result.returncode}: {result.stderr.strip()[-500:]}")
    return result.stdout


def _printed(pattern: str, text: str, what: str) -> str:
    match = re.search(pattern, text)
    if not match:
        raise SetupFailed(f"{what}: the CLI did not print {pattern!r}")
    return match.group(1)


def create(root: Path, database_url: str) -> Deployment:
    """Initialise, publish the real forms, add the accounts and phones; not yet served."""
    data_dir = root / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)  # as `mkdir` leaves it under the usual umask 022
    port = free_port()
    env = {
        "FIELDCASE_DATA_DIR": str(data_dir),
        "FIELDCASE_DATABASE_URL": database_url,
        "FIELDCASE_KEY_PASSPHRASE": secrets.token_urlsafe(24),
        "FIELDCASE_PORT": str(port),
        "FIELDCASE_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    deployment = Deployment(root, data_dir, database_url, port, env)
    out = _expect(deployment.cli("init", umask=0o022), "fieldcase init")
    deployment.passwords["admin"] = _printed(
        r"admin password \(shown once[^:]*: (\S+)", out, "init"
    )
    deployment.exposed_after_init = exposed_paths(data_dir)
    _expect(deployment.cli("forms", "publish"), "fieldcase forms publish")

    users = [
        ("supervisor", SUPERVISOR_A, UNIT_A),
        ("supervisor", SUPERVISOR_B, UNIT_B),
        ("viewer", "viewer", UNIT_A),
    ]
    phones = [(PHONE_A, UNIT_A, False), (PHONE_B, UNIT_B, False), (PHONE_BASIC, COMMUNE_A, True)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        made_users = {
            name: pool.submit(deployment.cli, "users", "add", name, "--role", role, "--unit", unit)
            for role, name, unit in users
        }
        made_phones = {
            name: pool.submit(
                deployment.cli,
                "collectors",
                "add",
                name,
                "--unit",
                unit,
                *(["--basic"] if basic else []),
            )
            for name, unit, basic in phones
        }
        for name, future in made_users.items():
            out = _expect(future.result(), f"users add {name}")
            deployment.passwords[name] = _printed(r"password \(shown once\): (\S+)", out, name)
        for name, future in made_phones.items():
            out = _expect(future.result(), f"collectors add {name}")
            url = out.strip().splitlines()[-1].strip()
            if name == PHONE_BASIC:
                deployment.basic_password = _printed(
                    r"password \(shown once[^:]*: (\S+)", out, name
                )
            else:
                if "/c/" not in url:
                    raise SetupFailed(f"collectors add {name} printed no token URL: {url!r}")
                deployment.phone_urls[name] = url
    return deployment
