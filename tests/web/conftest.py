"""A seeded web deployment per test module and database, and signed-in test clients.

Module scope keeps the suite fast (password hashing and seeding happen once per module);
tests that change state (sign-out, disabling) make their own clients or deployments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from server.app import create_app
from server.app_context import SERVICES_KEY, Services
from server.clock import utcnow
from server.config import Config, sqlite_url
from server.security import passwords
from server.store.db import Store
from tests.conftest import TEST_ADMIN_PASSWORD, TEST_PASSPHRASE, postgres_or_skip, postgres_schema
from tests.web.builders import PASSWORDS, Seeded, seed

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page."""
    match = _CSRF.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1) or match.group(2)


class WebClient:
    """A test client that signs in and sends each form with its CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    def token(self) -> str:
        """The session's CSRF token (fetched from a page once)."""
        if self._token is None:
            self._token = csrf_of(self.client.get("/login").get_data(as_text=True))
            if not self._token:
                raise AssertionError("no token")
        return self._token

    def login(self, username: str, password: str) -> TestResponse:
        """POST the sign-in form; a new session means a new CSRF token afterwards."""
        response = self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": self.token()},
        )
        if response.status_code == 302:
            self._token = csrf_of(self.client.get("/account/password").get_data(as_text=True))
        return response

    def get(self, url: str, **kwargs: object) -> TestResponse:
        """GET."""
        return self.client.get(url, **kwargs)  # type: ignore[arg-type]

    def post(
        self, url: str, data: dict[str, object] | None = None, **kwargs: object
    ) -> TestResponse:
        """POST a form with the CSRF token."""
        return self.client.post(url, data={"csrf_token": self.token(), **(data or {})}, **kwargs)  # type: ignore[arg-type]


@dataclass
class WebDeployment:
    """The app, its store and what was seeded."""

    app: Flask
    config: Config
    store: Store
    seeded: Seeded
    _clients: dict[str, WebClient] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        """The app's services."""
        found: Services = self.app.extensions[SERVICES_KEY]
        return found

    def new_client(self, username: str | None = None) -> WebClient:
        """A fresh client, signed in as `username` when given."""
        client = WebClient(self.app.test_client())
        if username is not None:
            response = client.login(username, PASSWORDS[username])
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    def client(self, username: str) -> WebClient:
        """A signed-in client shared by the module's tests (do not sign it out)."""
        if username not in self._clients:
            self._clients[username] = self.new_client(username)
        return self._clients[username]


@pytest.fixture(scope="module", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 with test-sized costs: the same code paths, a hundred times faster.

    Production parameters are argon2-cffi's defaults (server/security/passwords.py); here
    every sign-in would otherwise cost ~0.1 s of CPU, which the suite cannot afford.
    """
    cheap = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", cheap)
        patch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password"))
        yield


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def web_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database for one test module: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        data_dir = tmp_path_factory.mktemp("web") / "db"
        data_dir.mkdir()
        yield sqlite_url(data_dir)
        return
    postgres_or_skip()
    with postgres_schema("w") as url:
        yield url


def build_deployment(data_dir: Path, database_url: str) -> WebDeployment:
    """Migrate, seed and build the app."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = Config(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key",
        key_passphrase=TEST_PASSPHRASE,
        admin_password=TEST_ADMIN_PASSWORD,
        testing=True,
    )
    store = Store(database_url)
    app = create_app(config, store)
    services: Services = app.extensions[SERVICES_KEY]
    seeded = seed(config, store, services, utcnow().date())
    return WebDeployment(app, config, store, seeded)


@pytest.fixture(scope="module")
def web(web_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDeployment]:
    """A seeded deployment shared by one test module."""
    deployment = build_deployment(tmp_path_factory.mktemp("webdata") / "data", web_database_url)
    yield deployment
    deployment.store.dispose()
