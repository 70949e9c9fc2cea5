"""Encrypted submissions end to end: stored as received, decrypted when complete, projected."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from crypto.keys import generate_private_key, public_key_base64
from server.app import create_app
from server.cli import main
from server.config import Config
from server.store.db import Store
from server.store.models import Submission
from tests.factories import (
    Deployment,
    add_collector,
    post_submission,
    publish,
    server_public_key,
    services_of,
    simple_xform,
)
from tests.submissions import encrypted_instance


@pytest.fixture
def encrypted(deployment: Deployment) -> Deployment:
    """`vt01_intake` published encrypted with the server key, and a collector for it."""
    public_key = server_public_key(deployment.app)
    publish(deployment.app, simple_xform(form_id="vt01_intake", public_key=public_key))
    token, collector_id = add_collector(deployment.app, "phone-enc")
    return Deployment(
        deployment.app, deployment.client, token, f"/c/{token}", collector_id, public_key
    )


def _submission(app: Flask, instance_id: str) -> Submission:
    with services_of(app).store.session() as session:
        return session.scalars(
            select(Submission).where(Submission.instance_id == instance_id)
        ).one()


def _send(dep: Deployment, instance_id: str, **kwargs: object) -> tuple[bytes, dict[str, bytes]]:
    manifest, files = encrypted_instance(
        dep.public_key_b64 or "", "vt01_intake", "1", instance_id, **kwargs
    )  # type: ignore[arg-type]
    return manifest, dict(files)


def test_encrypted_submission_is_decrypted_verified_and_projected(encrypted: Deployment) -> None:
    manifest, files = _send(encrypted, "uuid:e1", full_name="Trần Văn Bình")
    response = post_submission(encrypted.client, encrypted.url_prefix, manifest, files)
    assert response.status_code == 201, response.get_data(as_text=True)
    submission = _submission(encrypted.app, "uuid:e1")
    assert submission.encrypted
    assert (submission.decrypt_state, submission.signature) == ("decrypted", "valid")
    assert submission.data["full_name"] == "Trần Văn Bình"
    assert submission.case_code == "01-2025-aaaaaa"
    with services_of(encrypted.app).store.session() as session:
        from server.store import cases as case_store

        case = case_store.by_code(session, "01-2025-aaaaaa")
        assert case is not None
        assert "tran van binh" in (case.search_text or "")


def test_split_upload_waits_for_the_missing_part_then_decrypts(encrypted: Deployment) -> None:
    manifest, files = _send(encrypted, "uuid:e2")
    media = [name for name in files if name != "submission.xml.enc"]
    first = post_submission(
        encrypted.client,
        encrypted.url_prefix,
        manifest,
        {"submission.xml.enc": files["submission.xml.enc"]},
    )
    assert first.status_code == 201
    waiting = _submission(encrypted.app, "uuid:e2")
    assert waiting.decrypt_state == "pending"
    assert waiting.decrypt_reason == f"waiting for part {media[0]}"
    second = post_submission(
        encrypted.client, encrypted.url_prefix, manifest, {media[0]: files[media[0]]}
    )
    assert second.status_code == 202
    done = _submission(encrypted.app, "uuid:e2")
    assert (done.decrypt_state, done.signature) == ("decrypted", "valid")


def test_file_not_in_the_manifest_is_refused(encrypted: Deployment) -> None:
    manifest, files = _send(encrypted, "uuid:e3")
    response = post_submission(
        encrypted.client, encrypted.url_prefix, manifest, {**files, "extra.jpg.enc": b"x" * 16}
    )
    assert response.status_code == 400
    assert "not listed" in response.get_data(as_text=True)


def test_tampered_ciphertext_is_kept_and_flagged(encrypted: Deployment) -> None:
    manifest, files = _send(encrypted, "uuid:e4")
    damaged = bytearray(files["submission.xml.enc"])
    damaged[-1] ^= 0xFF
    files["submission.xml.enc"] = bytes(damaged)
    response = post_submission(encrypted.client, encrypted.url_prefix, manifest, files)
    assert response.status_code == 201
    kept = _submission(encrypted.app, "uuid:e4")
    assert kept.decrypt_state == "failed"
    assert "does not decrypt" in (kept.decrypt_reason or "")
    assert kept.data is None


def test_submission_for_another_key_is_kept_and_flagged(encrypted: Deployment) -> None:
    stranger = public_key_base64(generate_private_key())
    manifest, files = encrypted_instance(stranger, "vt01_intake", "1", "uuid:e5")
    response = post_submission(encrypted.client, encrypted.url_prefix, manifest, dict(files))
    assert response.status_code == 201
    kept = _submission(encrypted.app, "uuid:e5")
    assert kept.decrypt_state == "failed"
    assert "not encrypted for this key" in (kept.decrypt_reason or "")


def test_key_locked_then_decrypt_pending_unlocks(
    encrypted: Deployment, config: Config, store: Store, runner: CliRunner
) -> None:
    locked_app = create_app(config.with_changes(key_passphrase=None), store)
    manifest, files = _send(encrypted, "uuid:e6")
    response = post_submission(locked_app.test_client(), encrypted.url_prefix, manifest, files)
    assert response.status_code == 201
    waiting = _submission(encrypted.app, "uuid:e6")
    assert waiting.decrypt_state == "pending"
    assert "key is locked" in (waiting.decrypt_reason or "")
    result = runner.invoke(main, ["decrypt-pending"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "1 decrypted, 0 pending"
    assert _submission(encrypted.app, "uuid:e6").decrypt_state == "decrypted"


def test_decrypt_pending_lists_what_cannot_be_done(
    encrypted: Deployment, runner: CliRunner
) -> None:
    manifest, files = _send(encrypted, "uuid:e7")
    post_submission(
        encrypted.client,
        encrypted.url_prefix,
        manifest,
        {"submission.xml.enc": files["submission.xml.enc"]},
    )
    result = runner.invoke(main, ["decrypt-pending"])
    lines = result.output.strip().splitlines()
    assert "pending: waiting for part" in lines[0]
    assert lines[-1] == "0 decrypted, 1 pending"


def test_export_with_decrypted_attachments(
    encrypted: Deployment, runner: CliRunner, tmp_path: object
) -> None:
    import zipfile
    from pathlib import Path

    manifest, files = encrypted_instance(
        encrypted.public_key_b64 or "",
        "vt01_intake",
        "1",
        "uuid:0b7e3c1a-5d2f-4e8b-9c6a-1f2e3d4c5b6a",
        media=[("anh.jpg", b"\xff\xd8 photo bytes")],
    )
    assert (
        post_submission(encrypted.client, encrypted.url_prefix, manifest, dict(files)).status_code
        == 201
    )
    out = Path(str(tmp_path)) / "intake.zip"
    result = runner.invoke(
        main, ["export", "submissions", "--form", "vt01_intake", "--out", str(out), "--attachments"]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        folder = "media/0b7e3c1a-5d2f-4e8b-9c6a-1f2e3d4c5b6a"  # Collect's uuid, without "uuid:"
        assert archive.read(f"{folder}/anh.jpg") == b"\xff\xd8 photo bytes"
        assert not [n for n in archive.namelist() if n.endswith(".enc")]
