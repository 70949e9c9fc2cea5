"""Group commit: concurrent requests' submissions written together, each failure its own."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.blobs import BlobStoreUnavailable
from server.services import recording
from server.services.recording import GroupCommit, NewSubmission, Recorded
from server.store import collectors as collector_store
from server.store import forms as form_store
from server.store.db import Store
from server.store.models import FormVersion, Submission, SubmissionPart


def _form_and_collector(store: Store) -> tuple[int, int, int]:
    with store.session() as session:
        form = form_store.add_form(session, "vt_group", "Group", False)
        version = form_store.add_version(
            session, FormVersion(form_id=form.id, version="1", xml="<x/>", md5="0" * 32)
        )
        collector = collector_store.add(session, "phone-group", "f" * 64, "01")
        return form.id, version.id, collector.id


def _job(ids: tuple[int, int, int], n: int, form_pk: int | None = None) -> NewSubmission:
    form, version, collector = ids
    return NewSubmission(
        collector_id=collector,
        form_pk=form if form_pk is None else form_pk,
        version_pk=version,
        instance_id=f"uuid:group-{n}",
        deprecated_id=None,
        encrypted=False,
        parts=[("xml_submission_file", f"{n:064x}", 10, "text/xml")],
    )


def _record_while_held(
    group: GroupCommit, jobs: list[NewSubmission]
) -> tuple[list[Recorded | BaseException | None], list[int]]:
    """Queue every job while a writer holds the lead, then let one writer take them all."""
    sizes: list[int] = []
    original = recording.record_new

    def counting(connection, batch):
        sizes.append(len(batch))
        return original(connection, batch)

    results: list[Recorded | BaseException | None] = [None] * len(jobs)

    def send(index: int) -> None:
        try:
            results[index] = group.record(jobs[index])
        except BaseException as exc:
            results[index] = exc

    recording.record_new = counting  # type: ignore[assignment]
    try:
        with group._leader:  # a transaction "in progress": every request now queues
            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(jobs))]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while len(group._queue) < len(jobs) and time.monotonic() < deadline:
                time.sleep(0.01)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        recording.record_new = original  # type: ignore[assignment]
    return results, sizes


def test_waiting_submissions_are_written_in_one_transaction(store: Store) -> None:
    ids = _form_and_collector(store)
    results, sizes = _record_while_held(GroupCommit(store), [_job(ids, n) for n in range(20)])
    assert sizes == [20]
    assert all(isinstance(result, Recorded) for result in results)
    assert len({result.submission_id for result in results if isinstance(result, Recorded)}) == 20
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 20
        assert session.scalar(select(func.count()).select_from(SubmissionPart)) == 20


def test_a_bad_submission_fails_alone(store: Store) -> None:
    ids = _form_and_collector(store)
    jobs = [_job(ids, n) for n in range(6)]
    jobs[3] = _job(ids, 3, form_pk=999_999)  # no such form: the database refuses the row
    results, sizes = _record_while_held(GroupCommit(store), jobs)
    assert sizes[0] == 6  # the batch...
    assert sizes[1:] == [1] * 6  # ...then each one alone
    assert isinstance(results[3], IntegrityError)
    assert all(isinstance(results[i], Recorded) for i in (0, 1, 2, 4, 5))
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 5


def test_the_same_instance_twice_in_a_batch_is_written_once(store: Store) -> None:
    ids = _form_and_collector(store)
    results, _sizes = _record_while_held(GroupCommit(store), [_job(ids, 7), _job(ids, 7)])
    assert sorted(type(result).__name__ for result in results) == ["NoneType", "Recorded"]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_the_parts_are_made_durable_once_per_batch_before_its_rows_commit(store: Store) -> None:
    ids = _form_and_collector(store)
    seen: list[tuple[int, int]] = []

    def before_commit(jobs: list[NewSubmission]) -> None:
        # Nothing of the batch is committed yet when its parts are made durable.
        with store.read() as connection:
            committed = connection.execute(select(func.count()).select_from(Submission))
            seen.append((len(jobs), committed.scalar_one()))

    group = GroupCommit(store, before_commit=before_commit)
    results, sizes = _record_while_held(group, [_job(ids, n) for n in range(8)])
    assert sizes == [8]
    assert seen == [(8, 0)]
    assert all(isinstance(result, Recorded) for result in results)


def test_parts_that_cannot_be_made_durable_record_nothing(store: Store) -> None:
    ids = _form_and_collector(store)

    def before_commit(jobs: list[NewSubmission]) -> None:
        raise BlobStoreUnavailable("Input/output error")

    results, _sizes = _record_while_held(
        GroupCommit(store, before_commit=before_commit), [_job(ids, n) for n in range(3)]
    )
    assert all(isinstance(result, BlobStoreUnavailable) for result in results)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


def test_a_leader_stopped_mid_batch_leaves_no_request_waiting(store: Store) -> None:
    ids = _form_and_collector(store)

    def before_commit(jobs: list[NewSubmission]) -> None:
        raise KeyboardInterrupt  # the process is being stopped

    results, _sizes = _record_while_held(
        GroupCommit(store, before_commit=before_commit), [_job(ids, n) for n in range(3)]
    )
    assert all(isinstance(result, KeyboardInterrupt) for result in results)


def test_a_leader_stopped_while_retrying_one_at_a_time_leaves_no_request_waiting(
    store: Store,
) -> None:
    ids = _form_and_collector(store)
    calls: list[int] = []

    def before_commit(jobs: list[NewSubmission]) -> None:
        calls.append(len(jobs))
        if len(jobs) > 1:
            raise BlobStoreUnavailable("Input/output error")  # the batch: retried one by one
        raise KeyboardInterrupt  # the process is stopped during the first retry

    results, _sizes = _record_while_held(
        GroupCommit(store, before_commit=before_commit), [_job(ids, n) for n in range(3)]
    )
    assert calls == [3, 1]
    assert all(isinstance(result, KeyboardInterrupt) for result in results)
