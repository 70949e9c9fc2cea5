"""/readyz checks the database, the blob directory, the key and the free disk; /healthz stays
cheap."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from server.app import create_app
from server.config import Config
from server.services import readiness
from server.store.db import Store
from tests.factories import Deployment, services_of


def test_a_ready_deployment_says_so_for_each_check(deployment: Deployment) -> None:
    response = deployment.client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "blobs", "key", "disk"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["key"]["detail"] == "unlocked"
    assert deployment.client.get("/healthz").get_json() == {"status": "ok"}


def test_a_locked_key_is_not_ready_and_says_why(
    deployment: Deployment, config: Config, store: Store
) -> None:
    locked = create_app(config.with_changes(key_passphrase=None), store).test_client()
    response = locked.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["key"]["ok"] is False
    assert "FIELDCASE_KEY_PASSPHRASE" in body["checks"]["key"]["detail"]
    assert body["checks"]["database"]["ok"] is True
    wrong = create_app(config.with_changes(key_passphrase="not the passphrase"), store)
    body = wrong.test_client().get("/readyz").get_json()
    assert "does not unlock" in body["checks"]["key"]["detail"]


def test_too_little_free_disk_is_not_ready(
    deployment: Deployment, config: Config, store: Store
) -> None:
    greedy = create_app(config.with_changes(ready_min_free_mb=10**12), store).test_client()
    response = greedy.get("/readyz")
    assert response.status_code == 503
    check = response.get_json()["checks"]["disk"]
    assert check["ok"] is False
    assert "below the" in check["detail"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_blob_directory_is_not_ready(deployment: Deployment, config: Config) -> None:
    config.blob_dir.chmod(0o500)
    try:
        check = readiness.check_blobs(config)
    finally:
        config.blob_dir.chmod(0o700)
    assert not check.ok


def test_a_missing_blob_directory_is_not_ready(deployment: Deployment, config: Config) -> None:
    moved = config.blob_dir.with_name("blobs-away")
    config.blob_dir.rename(moved)
    try:
        response = deployment.client.get("/readyz")
    finally:
        moved.rename(config.blob_dir)
    assert response.status_code == 503
    assert response.get_json()["checks"]["blobs"] == {
        "ok": False,
        "detail": "the blob directory is missing",
    }


def test_a_database_behind_the_code_is_not_ready(deployment: Deployment) -> None:
    store = services_of(deployment.app).store
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    check = readiness.check_database(store)
    assert not check.ok
    assert "at migration 0004" in check.detail
    with store.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE alembic_version SET version_num = '{store.head_revision()}'")
        )


def test_a_database_that_does_not_answer_is_not_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = Store(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite3")
    check = readiness.check_database(missing)
    assert not check.ok
    assert "does not answer" in check.detail
