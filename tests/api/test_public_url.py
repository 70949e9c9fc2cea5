"""formList and manifest URLs: FIELDCASE_PUBLIC_URL when set, else the host the phone used."""

from __future__ import annotations

import re

from flask import Flask

from server.app import create_app
from server.config import Config
from server.store.db import Store
from tests.factories import Deployment

OR = {"X-OpenRosa-Version": "1.0"}
HOST = "fieldcase.example:8411"


def _urls(body: str) -> list[str]:
    return re.findall(r"<(?:downloadUrl|manifestUrl)>([^<]+)<", body)


def _app_with(deployment: Deployment, config: Config, **changes: object) -> Flask:
    store: Store = deployment.app.extensions["fieldcase.store"]
    return create_app(config.with_changes(**changes), store)


def test_unset_public_url_follows_the_request_host(deployment: Deployment, config: Config) -> None:
    client = _app_with(deployment, config, public_url_configured=False).test_client()
    listing = client.get(f"{deployment.url_prefix}/formList", headers=OR, base_url=f"http://{HOST}")
    urls = _urls(listing.get_data(as_text=True))
    assert len(urls) == 2  # the form and its manifest
    assert all(u.startswith(f"http://{HOST}/c/{deployment.token}/forms/") for u in urls), urls
    manifest = client.get(urls[1], headers=OR)
    files = _urls(manifest.get_data(as_text=True))
    assert files
    assert all(u.startswith(f"http://{HOST}/c/") for u in files), files
    assert client.get(files[0], headers=OR).status_code == 200


def test_set_public_url_wins_over_the_request_host(deployment: Deployment, config: Config) -> None:
    client = _app_with(
        deployment, config, public_url="https://cases.example.vn", public_url_configured=True
    ).test_client()
    listing = client.get(f"{deployment.url_prefix}/formList", headers=OR, base_url=f"http://{HOST}")
    urls = _urls(listing.get_data(as_text=True))
    assert urls
    assert all(u.startswith("https://cases.example.vn/c/") for u in urls), urls


def test_the_environment_says_whether_the_public_url_was_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    unset = Config.from_env({"FIELDCASE_DATA_DIR": str(tmp_path)})
    assert not unset.public_url_configured
    assert unset.base_url("http://phone-lan.example:8411/") == "http://phone-lan.example:8411"
    chosen = Config.from_env(
        {"FIELDCASE_DATA_DIR": str(tmp_path), "FIELDCASE_PUBLIC_URL": "https://x.example/"}
    )
    assert chosen.public_url_configured
    assert chosen.base_url("http://phone-lan.example:8411/") == "https://x.example"
