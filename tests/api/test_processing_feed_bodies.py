"""The processor renders the feed bodies of the rows it just decrypted without first asking
which of them lack one (its own write of their data left none), and still asks for rows it did
not decrypt itself; the feed of a form is loaded without reading its older versions' XML
(issue 22)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import event, select

from exports import odata
from server.app import create_app
from server.config import Config
from server.services.ingest import IncomingPart
from server.services.processing import Job
from server.services.setup import initialise
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import FeedBody, Submission
from tests.factories import add_collector, publish, server_public_key, services_of, simple_xform
from tests.submissions import encrypted_instance

FORM = "vt01_intake"


@dataclass(frozen=True)
class _Sender:
    id: int


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store's engines run meanwhile."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    engines = {store.engine, store.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)


def recorded_unprocessed(app: Flask, count: int) -> list[int]:
    """Encrypted submissions recorded as ingest records them, not processed yet."""
    services = services_of(app)
    _token, collector_id = add_collector(app, "phone-fb")
    ids = []
    for n in range(count):
        manifest, files = encrypted_instance(
            server_public_key(app), FORM, instance_id=f"uuid:fb-{n}", case_code=f"01-2025-fb{n:04d}"
        )
        parts = [
            IncomingPart(name, io.BytesIO(data), "application/octet-stream") for name, data in files
        ]
        result = services.ingest.receive(_Sender(collector_id), manifest, parts)
        assert result.status == 201
        ids.append(result.submission_id)
    return ids


def bodies(store: Store) -> dict[int, tuple[str, bytes | None]]:
    with store.reader() as session:
        return {
            row.submission_id: (row.layout, submission_store.feed_body(row.body))
            for row in session.execute(
                select(FeedBody.submission_id, FeedBody.layout, FeedBody.body)
            )
        }


def expected_bodies(store: Store, ids: list[int]) -> dict[int, tuple[str, bytes]]:
    feed = odata.load_feed(store, FORM)
    renderer = odata.RowRenderer(feed, feed.main, expand=False)
    with store.reader() as session:
        rows = session.execute(
            select(Submission.id, Submission.instance_id, Submission.data).where(
                Submission.id.in_(ids)
            )
        ).all()
    return {row.id: (feed.layout, renderer.answers_body(row.instance_id, row.data)) for row in rows}


def deployment(config: Config, store: Store) -> Flask:
    initialise(config, store)
    app = create_app(config, store)
    publish(app, simple_xform(form_id=FORM, public_key=server_public_key(app)))
    return app


def test_a_batch_renders_the_rows_it_decrypted_without_probing_for_bodies(
    config: Config, store: Store
) -> None:
    app = deployment(config, store)
    ids = recorded_unprocessed(app, 5)
    services = services_of(app)
    assert services.processor.feed_bodies is not None
    assert bodies(store) == {}
    with statements(store) as seen:
        outcomes = services.processor.process_batch([Job(sid) for sid in ids])
    assert [o.state for o in outcomes] == ["decrypted"] * 5
    probes = [s for s in seen if s.startswith("SELECT") and "FROM feed_bodies" in s]
    assert probes == []
    if store.engine.dialect.name == "postgresql":  # SQLite: the writer holds the write lock
        assert [s for s in seen if "FROM submissions" in s and "FOR SHARE" in s]  # re-read locked
    assert bodies(store) == expected_bodies(store, ids)


def test_rows_the_batch_did_not_decrypt_are_still_probed_and_kept(
    config: Config, store: Store
) -> None:
    """A submission decrypted earlier (as it was received, or by another worker) may have its
    body already: it is looked up, and a body it has is not rendered again."""
    app = deployment(config, store)
    ids = recorded_unprocessed(app, 3)
    services = services_of(app)
    services.processor.process_batch([Job(sid) for sid in ids])
    first = bodies(store)
    assert set(first) == set(ids)
    with store.session() as session:  # marked so that a render would show
        for sid in ids:
            session.execute(
                FeedBody.__table__.update()
                .where(FeedBody.submission_id == sid)
                .values(body=b"1" if store.engine.dialect.name == "sqlite" else "1")
            )
    with statements(store) as seen:
        outcomes = services.processor.process_batch([Job(sid) for sid in ids])
    assert [o.state for o in outcomes] == ["decrypted"] * 3
    assert [s for s in seen if s.startswith("SELECT") and "FROM feed_bodies" in s]
    assert {sid: body for sid, (_layout, body) in bodies(store).items()} == dict.fromkeys(ids, b"1")


def test_the_feed_is_loaded_without_reading_older_versions_xml(
    config: Config, store: Store
) -> None:
    app = deployment(config, store)
    key = server_public_key(app)
    publish(app, simple_xform(form_id=FORM, version="2", public_key=key))
    with statements(store) as seen:
        feed = odata.load_feed(store, FORM)
    assert sorted(feed.version_names.values()) == ["1", "2"]
    reads_xml = [s for s in seen if "form_versions.xml" in s]
    assert len(reads_xml) == 1, reads_xml
    assert len(seen) == 2, seen
