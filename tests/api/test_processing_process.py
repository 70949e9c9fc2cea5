"""Processing in a process of its own, as `fieldcase serve` runs it: the HTTP workers only
record; a thread polling the store (server/processing_worker.py) decrypts and projects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from server.app import create_app
from server.app_context import Services, services_for
from server.config import Config
from server.services.background import GATHER, BackgroundProcessing
from server.services.processing import Processor
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
def recording_app(config: Config, store: Store) -> Flask:
    """An app as a serving HTTP worker builds it: it records, and processes nothing."""
    initialise(config, store)
    app = create_app(config.with_changes(processing_elsewhere=True), store)
    publish(app, simple_xform(form_id="vt01_intake", public_key=server_public_key(app)))
    return app


@pytest.fixture
def processing(config: Config) -> Iterator[Callable[[], BackgroundProcessing]]:
    """Start the processing process's thread, on a store of its own, as it runs under serve."""
    started: list[tuple[Services, BackgroundProcessing]] = []

    def start() -> BackgroundProcessing:
        services = services_for(config)
        background = BackgroundProcessing(services.processor, poll=0.01)
        background.start()
        started.append((services, background))
        return background

    yield start
    for services, background in started:
        background.stop()
        services.store.dispose()


def _rows(app: Flask) -> dict[str, tuple[str, str | None]]:
    with services_of(app).store.session() as session:
        return {
            row.instance_id: (row.decrypt_state, row.decrypt_reason)
            for row in session.execute(
                select(Submission.instance_id, Submission.decrypt_state, Submission.decrypt_reason)
            )
        }


def _send(app: Flask, phone: str, prefix: str, count: int) -> None:
    """`count` encrypted intakes from a new phone, each answered 201 (instance uuid:PREFIX-N,
    case code 01-2025-PREFIXNNNN)."""
    token, _ = add_collector(app, phone)
    public_key = server_public_key(app)
    client = app.test_client()
    for n in range(count):
        xml, files = encrypted_instance(
            public_key,
            "vt01_intake",
            instance_id=f"uuid:{prefix}-{n}",
            case_code=f"01-2025-{prefix}{n:04d}",
        )
        assert post_submission(client, f"/c/{token}", xml, dict(files)).status_code == 201


def _wait_for(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_workers_only_record_and_the_processing_process_finds_them(
    recording_app: Flask, processing: Callable[[], BackgroundProcessing]
) -> None:
    assert services_of(recording_app).background is None  # no processing thread in a worker
    _send(recording_app, "phone-elsewhere", "pp", 6)
    # Answered once stored, and nothing more: not decrypted in the request, nor queued.
    assert set(_rows(recording_app).values()) == {("pending", "received")}

    processing()
    assert _wait_for(lambda: {state for state, _ in _rows(recording_app).values()} == {"decrypted"})
    with services_of(recording_app).store.session() as session:
        codes = set(session.scalars(select(Case.case_code)))
    assert codes == {f"01-2025-pp{n:04d}" for n in range(6)}


def test_a_part_sent_later_has_the_submission_looked_at_again(
    recording_app: Flask, processing: Callable[[], BackgroundProcessing]
) -> None:
    """A split upload: the first POST lacks the photo, so processing waits for it; the POST
    that brings it makes the submission 'received' again, and the poll finds it."""
    token, _ = add_collector(recording_app, "phone-split")
    xml, files = encrypted_instance(
        server_public_key(recording_app), "vt01_intake", instance_id="uuid:split"
    )
    by_name = dict(files)
    photo = next(name for name in by_name if not name.endswith("xml.enc"))
    client = recording_app.test_client()
    first = {name: content for name, content in by_name.items() if name != photo}
    assert post_submission(client, f"/c/{token}", xml, first).status_code == 201
    processing()
    assert _wait_for(lambda: _rows(recording_app)["uuid:split"][1] != "received")
    assert _rows(recording_app)["uuid:split"] == ("pending", f"waiting for part {photo}")

    assert post_submission(client, f"/c/{token}", xml, by_name).status_code == 202
    assert _wait_for(lambda: _rows(recording_app)["uuid:split"][0] == "decrypted")


def test_a_batch_that_fails_is_tried_one_by_one(
    recording_app: Flask,
    processing: Callable[[], BackgroundProcessing],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch whose transaction fails is not found again and again at every poll: each of
    its submissions is processed alone, and the one that still fails is marked failed."""
    _send(recording_app, "phone-faults", "fault", 4)
    with services_of(recording_app).store.session() as session:
        bad = session.scalar(select(Submission.id).where(Submission.instance_id == "uuid:fault-2"))
    original = Processor.process_batch

    def failing(self: Processor, jobs):  # type: ignore[no-untyped-def]
        # Fault injection: a batch of several fails, and so does the bad one alone.
        if len(jobs) > 1 or jobs[0].submission_id == bad:
            raise RuntimeError("injected")
        return original(self, jobs)

    monkeypatch.setattr(Processor, "process_batch", failing)
    processing()
    assert _wait_for(lambda: all(state != "pending" for state, _ in _rows(recording_app).values()))
    rows = _rows(recording_app)
    assert rows.pop("uuid:fault-2") == ("failed", "processing failed (RuntimeError)")
    assert set(rows.values()) == {("decrypted", None)}


def test_the_poll_backs_off_while_the_database_fails_and_never_overflows(
    recording_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hours of a database outage: the poll waits longer and longer, up to the sweep's period,
    and goes on polling (a wait computed as 2**failures would overflow a float)."""
    from server.services import background as background_module
    from server.store import submissions as submission_store

    def down(*_args: object, **_kwargs: object) -> list[int]:
        raise ConnectionError("injected")  # fault injection: the database does not answer

    monkeypatch.setattr(submission_store, "received_before", down)
    poller = BackgroundProcessing(services_of(recording_app).processor, poll=0.05)
    waits = []
    for _ in range(2000):
        before = time.monotonic()
        assert poller._received() == []
        waits.append(poller._next_poll - before)
    assert waits[0] >= 0.05 * 2 * 0.99
    assert waits[1] > waits[0]
    assert max(waits) <= background_module.SWEEP_EVERY + 1
    assert waits[-1] >= background_module.SWEEP_EVERY - 1


def test_an_unexpected_error_does_not_end_the_polling_thread(
    recording_app: Flask,
    processing: Callable[[], BackgroundProcessing],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nobody submits to the processing process, so nobody would start its thread again: an
    error the thread did not expect is logged and the thread goes on."""
    token, _ = add_collector(recording_app, "phone-survives")
    xml, files = encrypted_instance(
        server_public_key(recording_app), "vt01_intake", instance_id="uuid:survives"
    )
    client = recording_app.test_client()
    assert post_submission(client, f"/c/{token}", xml, dict(files)).status_code == 201
    calls = []
    original = BackgroundProcessing._received

    def once_broken(self: BackgroundProcessing):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("injected")  # fault injection: a bug, not a database error
        return original(self)

    monkeypatch.setattr(BackgroundProcessing, "_received", once_broken)
    background = processing()
    assert _wait_for(lambda: _rows(recording_app)["uuid:survives"][0] == "decrypted")
    assert background._thread is not None
    assert background._thread.is_alive()


def test_stop_returns_only_once_the_thread_has_ended(
    recording_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step of idle work under way when `stop` is called ends before `stop` returns: else it
    runs on against a store its owner has closed (and logs its failure into whatever runs
    next)."""
    processor = services_of(recording_app).processor
    assert processor.feed_bodies is not None
    in_step = threading.Event()

    def slow_step(*_args: object, **_kwargs: object) -> bool:
        in_step.set()
        time.sleep(0.2)
        in_step.clear()
        return True  # always more left: the thread keeps taking steps while idle

    monkeypatch.setattr(processor.feed_bodies, "catch_up", slow_step)
    for _ in range(3):
        background = BackgroundProcessing(processor)
        background.start()
        assert _wait_for(in_step.is_set, 10)
        background.stop(timeout=0.3)  # idle work never ends here: wait_idle times out
        assert not in_step.is_set()
        assert background._thread is not None
        assert not background._thread.is_alive()


def test_the_poll_gathers_a_stream_of_arrivals_into_batches(
    recording_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the poll waits `GATHER` seconds after finding a few, so a batch holds what
    arrived meanwhile rather than the one or two that arrive while a batch is written (each
    batch has a fixed cost several times a submission's). Found none: `poll`; a full batch:
    at once."""
    from server.services import background as background_module
    from server.store import submissions as submission_store

    found: list[list[int]] = [[1, 2, 3], [], list(range(background_module.MAX_BATCH))]
    monkeypatch.setattr(submission_store, "received_before", lambda *_a, **_k: found.pop(0))
    poller = BackgroundProcessing(services_of(recording_app).processor, poll=0.01)
    waits = []
    for _ in range(3):
        before = time.monotonic()
        poller._received()
        waits.append(poller._next_poll - before)
    some, none, full = waits
    assert background_module.GATHER * 0.99 <= some <= background_module.GATHER + 0.05
    assert 0.01 * 0.99 <= none < 0.05
    assert full < 0.01


def test_submissions_arriving_one_by_one_are_processed_in_batches(
    recording_app: Flask,
    processing: Callable[[], BackgroundProcessing],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The effect of gathering: a phone sending a submission every 20 ms while the
    processing process runs gets them decrypted in a few batches, not one batch each."""
    sizes: list[int] = []
    original = Processor.process_batch

    def counting(self: Processor, jobs):  # type: ignore[no-untyped-def]
        sizes.append(len(jobs))
        return original(self, jobs)

    monkeypatch.setattr(Processor, "process_batch", counting)
    processing()
    token, _ = add_collector(recording_app, "phone-stream")
    public_key = server_public_key(recording_app)
    client = recording_app.test_client()
    sent = [
        encrypted_instance(
            public_key, "vt01_intake", instance_id=f"uuid:stream-{n}", case_code=f"01-2025-s{n:04d}"
        )
        for n in range(30)
    ]
    began = time.monotonic()
    for xml, files in sent:
        assert post_submission(client, f"/c/{token}", xml, dict(files)).status_code == 201
        time.sleep(0.02)
    streamed = time.monotonic() - began
    assert _wait_for(lambda: {state for state, _ in _rows(recording_app).values()} == {"decrypted"})
    assert sum(sizes) == 30
    # About one batch per GATHER seconds of the stream (and one for the last few).
    assert len(sizes) <= streamed / GATHER + 3 < 30, (sizes, streamed)


def test_the_processing_process_refreshes_the_planner_statistics_at_start_then_hourly(
    recording_app: Flask,
    processing: Callable[[], BackgroundProcessing],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server.services import background as background_module

    refreshed: list[float] = []
    monkeypatch.setattr(Store, "refresh_statistics", lambda self: refreshed.append(1.0) or True)
    _send(recording_app, "phone-stats", "st", 2)
    background = processing()
    assert _wait_for(lambda: len(refreshed) == 1, 10)
    assert _wait_for(lambda: {state for state, _ in _rows(recording_app).values()} == {"decrypted"})
    time.sleep(0.3)
    assert len(refreshed) == 1  # not again before STATISTICS_EVERY
    assert background._next_statistics - time.monotonic() > background_module.STATISTICS_EVERY - 60
