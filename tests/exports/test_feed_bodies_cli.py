"""`fieldcase export feed-bodies`: the OData feed's row bodies rendered ahead of any read."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, insert, select

from bench.export import wide_xform
from server.blobs import FileBlobStore
from server.cli import main
from server.config import Config
from server.services.forms import publish_xform
from server.services.setup import initialise
from server.store import forms as form_store
from server.store.db import Store
from server.store.models import FeedBody, Submission


def bodies(store: Store) -> int:
    with store.reader() as session:
        return session.scalar(select(func.count()).select_from(FeedBody)) or 0


def test_cli_renders_the_missing_bodies_once(
    store: Store, runner: CliRunner, config: Config
) -> None:
    initialise(config, store)
    with store.session() as session:
        publish_xform(session, FileBlobStore(config.blob_dir), wide_xform(50), {}, "test")
        form = form_store.by_xml_form_id(session, "wide")
        version = form_store.current_version(session, form.id)
        form_pk = form.id
        session.execute(
            insert(Submission),
            [
                {
                    "form_id": form.id,
                    "form_version_id": version.id,
                    "instance_id": f"uuid:cli{n}",
                    "manifest_sha256": "0" * 64,
                    "encrypted": True,
                    "decrypt_state": state,
                    "review_state": "received",
                    "data": {"g0": {"f0_1": f"answer {n}"}},
                }
                for n, state in enumerate(["decrypted", "decrypted", "decrypted", "pending"])
            ],
        )
    assert bodies(store) == 0
    planted: str | bytes = "x" if store.engine.dialect.name == "postgresql" else b"x"
    with store.session() as session:  # a body of an older layout, of a row out of the feed
        pending = session.scalar(select(Submission.id).where(Submission.instance_id == "uuid:cli3"))
        session.execute(
            insert(FeedBody).values(
                submission_id=pending, form_id=form_pk, layout="0" * 64, body=planted
            )
        )
    result = runner.invoke(main, ["export", "feed-bodies", "--form", "wide"])
    assert result.exit_code == 0, result.output
    assert "wide: 3 rows have a stored body" in result.output  # not the undecrypted one
    assert bodies(store) == 3  # and the stale body is deleted
    again = runner.invoke(main, ["export", "feed-bodies"])
    assert again.exit_code == 0, again.output
    assert "wide: 3 rows have a stored body" in again.output
    assert bodies(store) == 3
    unknown = runner.invoke(main, ["export", "feed-bodies", "--form", "no_such_form"])
    assert unknown.exit_code == 2
