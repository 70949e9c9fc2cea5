"""Processing after the answer, as `fieldcase serve` does: 201 once stored, decryption later."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from server.app import create_app
from server.clock import utcnow
from server.config import Config
from server.services.background import BackgroundProcessing
from server.services.collectors import authenticate_token
from server.services.ingest import IncomingPart
from server.services.processing import Job
from server.services.setup import initialise
from server.store.db import Store
from server.store.models import Case, Submission
from tests.factories import (
    add_collector,
    post_submission,
    publish,
    server_public_key,
    services_of,
    simple_xform,
)
from tests.submissions import encrypted_instance


@pytest.fixture
def serving_app(config: Config, store: Store) -> Iterator[Flask]:
    """An app as a serving worker builds it: background processing on."""
    initialise(config, store)
    app = create_app(config.with_changes(background_processing=True), store)
    publish(app, simple_xform(form_id="vt01_intake", public_key=server_public_key(app)))
    yield app
    background = services_of(app).background
    assert background is not None
    background.stop()


def _states(app: Flask) -> dict[str, str]:
    with services_of(app).store.session() as session:
        return dict(session.execute(select(Submission.instance_id, Submission.decrypt_state)).all())


def test_answered_once_stored_then_decrypted_and_projected(serving_app: Flask) -> None:
    token, _ = add_collector(serving_app, "phone-bg")
    public_key = server_public_key(serving_app)
    client = serving_app.test_client()
    for n in range(12):
        xml, files = encrypted_instance(
            public_key, "vt01_intake", instance_id=f"uuid:bg-{n}", case_code=f"01-2025-bg{n:04d}"
        )
        response = post_submission(client, f"/c/{token}", xml, dict(files))
        assert response.status_code == 201
    background = services_of(serving_app).background
    assert background is not None
    assert background.wait_idle(timeout=30)
    assert set(_states(serving_app).values()) == {"decrypted"}
    with services_of(serving_app).store.session() as session:
        codes = set(session.scalars(select(Case.case_code)))
    assert codes == {f"01-2025-bg{n:04d}" for n in range(12)}


def test_a_submission_left_behind_is_swept(serving_app: Flask, monkeypatch) -> None:
    """A worker killed before processing leaves the submission 'received'; a sweep takes it."""
    token, _ = add_collector(serving_app, "phone-left")
    services = services_of(serving_app)
    background = services.background
    assert background is not None
    # Record without queueing, as if the worker had died right after answering.
    monkeypatch.setattr(BackgroundProcessing, "submit", lambda self, job: None)
    xml, files = encrypted_instance(
        server_public_key(serving_app), "vt01_intake", instance_id="uuid:left"
    )
    assert (
        post_submission(serving_app.test_client(), f"/c/{token}", xml, dict(files)).status_code
        == 201
    )
    assert _states(serving_app) == {"uuid:left": "pending"}
    with services.store.session() as session:
        session.execute(update(Submission).values(received_at=utcnow() - timedelta(minutes=5)))
    fresh = BackgroundProcessing(services.processor)  # a worker starting up sweeps first
    fresh.start()
    try:
        for _ in range(200):
            if _states(serving_app) == {"uuid:left": "decrypted"}:
                break
            fresh.wait_idle(timeout=0.1)
        assert _states(serving_app) == {"uuid:left": "decrypted"}
    finally:
        fresh.stop()


def test_one_unreadable_submission_does_not_hold_up_its_batch(serving_app: Flask) -> None:
    """Decrypted together: a submission whose encrypted XML is damaged fails with the reason,
    the others of the batch are decrypted and projected."""
    token, _ = add_collector(serving_app, "phone-batch")
    services = services_of(serving_app)
    public_key = server_public_key(serving_app)
    with services.store.read() as connection:
        collector = authenticate_token(connection, token)
    assert collector is not None
    ids = []
    for n in range(5):
        xml, files = encrypted_instance(
            public_key, "vt01_intake", instance_id=f"uuid:batch-{n}", case_code=f"01-2025-b{n:05d}"
        )
        if n == 2:  # flip a byte of the encrypted XML
            files = [
                (
                    name,
                    content[:-1] + bytes([content[-1] ^ 1])
                    if name.endswith("xml.enc")
                    else content,
                )
                for name, content in files
            ]
        parts = [
            IncomingPart(name, io.BytesIO(content), "application/octet-stream")
            for name, content in files
        ]
        ids.append(services.ingest.receive(collector, xml, parts).submission_id)
    outcomes = services.processor.process_batch([Job(submission_id) for submission_id in ids])
    assert [outcome.state for outcome in outcomes] == [
        "decrypted",
        "decrypted",
        "failed",
        "decrypted",
        "decrypted",
    ]
    assert "does not decrypt" in (outcomes[2].reason or "")
    states = _states(serving_app)
    assert states["uuid:batch-2"] == "failed"
    assert sum(state == "decrypted" for state in states.values()) == 4
    with services.store.session() as session:
        assert len(set(session.scalars(select(Case.case_code)))) == 4


def test_a_long_queue_stops_holding_part_bytes(serving_app: Flask, monkeypatch) -> None:
    """Under a long overload, queued jobs beyond the limit keep only ids (bytes re-read later)."""
    from server.services import background as background_module
    from server.services.ingest import Received

    monkeypatch.setattr(background_module, "KEEP_CONTENTS_UP_TO", 2)
    queue = BackgroundProcessing(services_of(serving_app).processor)
    monkeypatch.setattr(queue, "_start", lambda: None)  # no thread: look at the queue itself
    for n in range(4):
        queue.submit(Job(n, None, Received(b"<x/>", None, {"photo.jpg.enc": b"\0" * 1000})))
    kept = [job.received is not None for job in queue._queue]
    assert kept == [True, True, False, False]
