"""Backup and restore: into a fresh data directory every submission still decrypts and the
exports are the same."""

from __future__ import annotations

import contextlib
import io
import tarfile
import zipfile
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from crypto.manifest import parse_manifest
from exports.submissions import export_form
from server.app_context import Services
from server.cli import main
from server.config import Config, sqlite_url
from server.services.decrypting import decrypt_stored
from server.store.db import Store
from server.store.models import FeedBody, Submission, SubmissionPart
from server.store.scope import UnitScope
from tests.conftest import env_for, postgres_schema
from tests.factories import (
    Deployment,
    add_collector,
    post_submission,
    publish,
    server_public_key,
    simple_xform,
)
from tests.submissions import encrypted_instance


def _new_deployment(
    config: Config, data_dir: Path, stack: contextlib.ExitStack, schema: str
) -> Config:
    """Settings for an empty deployment to restore into, on the same kind of database."""
    url = (
        sqlite_url(data_dir)
        if config.database_url.startswith("sqlite")
        else stack.enter_context(postgres_schema(schema))
    )
    return config.with_changes(data_dir=data_dir, database_url=url)


def _csvs(store: Store) -> dict[str, str]:
    out = io.BytesIO()
    export_form(store, "vt01_intake", out, scope=UnitScope.all_units())
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_backup_then_restore_into_a_new_deployment(
    deployment: Deployment, config: Config, store: Store, tmp_path: Path
) -> None:
    public_key = server_public_key(deployment.app)
    publish(deployment.app, simple_xform(form_id="vt01_intake", public_key=public_key))
    token, _ = add_collector(deployment.app, "phone-backup")
    for n in range(3):
        manifest, files = encrypted_instance(
            public_key, "vt01_intake", "1", f"uuid:bk{n}", minors=n, full_name=f"Người {n}"
        )
        assert (
            post_submission(deployment.client, f"/c/{token}", manifest, dict(files)).status_code
            == 201
        )
    before = _csvs(store)
    with store.reader() as session:
        bodies = session.scalar(select(func.count()).select_from(FeedBody))
    assert bodies == 3  # the OData rows rendered as the submissions were processed
    archive = tmp_path / "backup.tar.gz"
    made = CliRunner(env=env_for(config)).invoke(main, ["backup", "--out", str(archive)])
    assert made.exit_code == 0, made.output
    assert "the key passphrase is not in it" in made.output

    with contextlib.ExitStack() as stack:
        restored_config = _new_deployment(config, tmp_path / "restored", stack, "r")
        url = restored_config.database_url
        runner = CliRunner(env=env_for(restored_config))
        result = runner.invoke(main, ["restore", str(archive)])
        assert result.exit_code == 0, result.output
        again = runner.invoke(main, ["restore", str(archive)])
        assert again.exit_code != 0
        assert "not empty" in again.output

        restored = Store(url)
        assert _csvs(restored) == before
        # The feed's row bodies are a cache: not in the archive, rendered again after it.
        with tarfile.open(archive) as packed:
            assert "db/feed_bodies.jsonl" not in packed.getnames()
        rendered = runner.invoke(main, ["export", "feed-bodies"])
        assert rendered.exit_code == 0, rendered.output
        with restored.reader() as session:
            assert session.scalar(select(func.count()).select_from(FeedBody)) == bodies
        services = Services(restored_config, restored)
        decryptors = [services.keyring.decryptor(k) for k in services.keyring.all_key_ids()]
        with restored.reader() as session:
            submissions = session.scalars(select(Submission).where(Submission.encrypted)).all()
            assert len(submissions) == 3
            for submission in submissions:
                parts = {
                    p.name: p.blob_sha256
                    for p in session.scalars(
                        select(SubmissionPart).where(SubmissionPart.submission_id == submission.id)
                    )
                }
                manifest = parse_manifest(services.blobs.read(parts["xml_submission_file"]))
                xml, signature = decrypt_stored(
                    [d for d in decryptors if d], manifest, parts, services.blobs
                )
                assert signature == "valid"
                import hashlib

                assert hashlib.sha256(xml).hexdigest() == submission.xml_sha256
        if restored.engine.dialect.name == "postgresql":
            # The restored tables have planner statistics at once (not planned as empty).
            with restored.read() as connection:
                analyzed = connection.exec_driver_sql(
                    "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE relid = 'submissions'::regclass"
                ).scalar_one()
            assert analyzed
        # New rows after a restore get new ids (sequences moved past the restored ones).
        restored_app_token = add_collector_in(restored_config, restored)
        assert restored_app_token
        # The audit key and the chain's heads came along: the restored log verifies.
        verified = runner.invoke(main, ["audit", "verify"])
        assert verified.exit_code == 0, verified.output
        assert "intact" in verified.output
        # The match secret came along: the restored keys still match new intakes.
        assert (restored_config.data_dir / "match_key").read_bytes() == (
            config.data_dir / "match_key"
        ).read_bytes()
        restored.dispose()


def add_collector_in(config: Config, store: Store) -> str:
    from server.services import collectors as collector_service

    with store.session() as session:
        return collector_service.create(session, "http://x", "after-restore", "01", "t").token


def test_restore_refuses_what_is_not_a_backup(config: Config, tmp_path: Path) -> None:
    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"not a backup")
    result = CliRunner(env=env_for(config)).invoke(main, ["restore", str(fake)])
    assert result.exit_code != 0
    assert "not a fieldcase backup" in result.output


def test_a_damaged_backup_restores_nothing(
    deployment: Deployment, config: Config, store: Store, tmp_path: Path
) -> None:
    public_key = server_public_key(deployment.app)
    publish(deployment.app, simple_xform(form_id="vt01_intake", public_key=public_key))
    token, _ = add_collector(deployment.app, "phone-damaged")
    manifest, files = encrypted_instance(public_key, "vt01_intake", "1", "uuid:dmg")
    response = post_submission(deployment.client, f"/c/{token}", manifest, dict(files))
    assert response.status_code == 201
    archive = tmp_path / "backup.tar.gz"
    assert (
        CliRunner(env=env_for(config)).invoke(main, ["backup", "--out", str(archive)]).exit_code
        == 0
    )

    # One blob of the archive altered on its way to the new machine.
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive, "r:gz") as source, tarfile.open(damaged, "w:gz") as target:
        altered = False
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if data is not None and member.name.startswith("blobs/") and not altered:
                data, altered = b"x" + data[1:], True
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    assert altered

    with contextlib.ExitStack() as stack:
        restored_config = _new_deployment(config, tmp_path / "restored", stack, "d")
        url = restored_config.database_url
        result = CliRunner(env=env_for(restored_config)).invoke(main, ["restore", str(damaged)])
        assert result.exit_code != 0
        assert "damaged" in result.output
        restored = Store(url)
        assert restored.schema_revision() is None  # the database was not touched
        restored.dispose()
