"""Recording new submissions, several requests' at a time (group commit).

When many phones send at once, each request has already written its parts and decrypted its
submission by the time it gets here; what is left is making the parts durable (one settle of the
blob store for the whole batch, `before_commit`) and a short write transaction. Rather than
one transaction, one database lock and one flush of the database log per request, the requests of
a worker process that arrive while a transaction is being written wait for it, and the next
transaction writes all of them together. A request returns only once the transaction holding its
submission has committed, so an acknowledgement still means "on disk". If a shared transaction
fails, each of its submissions is written again on its own, so one bad submission cannot take
the others down with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from forms.admin_units import shipped as shipped_units
from server import errors
from server.blobs import Staged
from server.services import units
from server.services.collectors import Credential, recheck_credentials, token_refused
from server.services.edits import link_edit
from server.store import collectors as collector_store
from server.store import submissions as submission_store
from server.store.db import Store

MAX_BATCH = 64


class BatchProjection(Protocol):
    """What recording needs of processing: project submissions inserted already decrypted."""

    def project_batch(self, connection: Connection, items: Sequence[Any]) -> Sequence[Any]:
        """One outcome (with `.state`) per (submission id, form id, deprecatedID, prepared)."""
        ...


class CredentialWatch(Protocol):
    """Who remembers tokens' collectors (TokenLookups): told what recording read."""

    def saw_generation(self, generation: int, refused: Iterable[str] = ()) -> None:
        """The credential generation a transaction read, and the token digests it refused."""
        ...


@dataclass
class NewSubmission:
    """A submission not seen before (as far as the request could tell), ready to be written."""

    collector_id: int
    form_pk: int
    version_pk: int
    instance_id: str
    deprecated_id: str | None
    encrypted: bool
    parts: list[tuple[str, str, int, str]]  # (name, sha256, size, content type), manifest first
    prepared: Any | None = None  # decrypted by processing before recording, when it could be
    processing: BatchProjection | None = None
    staged: Staged | None = None  # its parts not yet durable, settled before the commit
    # The token its collector was authenticated by (None: HTTP Basic), checked again here,
    # and its form's id, for the refusal that check may give.
    credential: Credential | None = None
    xml_form_id: str = ""


@dataclass(frozen=True)
class Recorded:
    """A submission written: its id, and whether it is stored decrypted and projected."""

    submission_id: int
    decrypted: bool


def check_credentials(
    connection: Connection, jobs: Sequence[NewSubmission], watch: CredentialWatch | None = None
) -> None:
    """In the transaction that will record `jobs`: raise the refusal their collectors' tokens
    would get now (403) if the credential generation changed since one of them was read and
    its token's collector is revoked, gone, or no longer assigned its form. `watch` learns the
    generation read and the tokens refused."""
    credentials = [job.credential for job in jobs if job.credential is not None]
    if not credentials:
        return
    generation, now = recheck_credentials(connection, credentials)
    refused: list[str] = []
    problem: errors.Problem | None = None
    for job in jobs:
        credential = job.credential
        if credential is None or credential.generation == generation:
            continue
        collector = now.get(credential.digest)
        if collector is None or collector.id != job.collector_id:
            refused.append(credential.digest)
            problem = problem or token_refused()
        elif job.form_pk not in collector.form_ids:
            problem = problem or errors.form_not_assigned(job.xml_form_id)
    if watch is not None:
        watch.saw_generation(generation, refused)
    if problem is not None:
        raise problem


def record_new(connection: Connection, jobs: Sequence[NewSubmission]) -> list[Recorded | None]:
    """Insert submissions with their parts and project the decrypted ones, in the caller's
    transaction. None for a submission whose instanceID is stored already (or earlier in
    `jobs`): the caller answers it as a repeat."""
    stored = submission_store.ids_by_instance(
        connection, [(job.form_pk, job.instance_id) for job in jobs]
    )
    fresh: list[NewSubmission] = []
    seen: set[tuple[int, str]] = set(stored)
    for job in jobs:
        key = (job.form_pk, job.instance_id)
        if key not in seen:
            seen.add(key)
            fresh.append(job)
    if not fresh:
        return [None] * len(jobs)
    unit_codes = collector_store.unit_codes(connection, sorted({j.collector_id for j in fresh}))
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for job in fresh:
        row = _row(job, unit_codes.get(job.collector_id))
        by_columns.setdefault(tuple(row), []).append(row)
    for rows in by_columns.values():
        submission_store.insert_many(connection, rows)
    ids = submission_store.ids_by_instance(
        connection, [(job.form_pk, job.instance_id) for job in fresh]
    )
    submission_store.insert_parts(
        connection,
        [
            {
                "submission_id": ids[(job.form_pk, job.instance_id)],
                "name": name,
                "blob_sha256": sha,
                "size": size,
                "content_type": content_type,
            }
            for job in fresh
            for name, sha, size, content_type in job.parts
        ],
    )
    for job in fresh:
        if job.deprecated_id:
            link_edit(
                connection,
                ids[(job.form_pk, job.instance_id)],
                job.form_pk,
                job.deprecated_id,
                unit_codes.get(job.collector_id),
            )
    decrypted: set[int] = set()
    for processing, items in _to_project(fresh, ids).items():
        for outcome in processing.project_batch(connection, items):
            if outcome.state == "decrypted":
                decrypted.add(outcome.submission_id)
    written = {id(job) for job in fresh}
    results: list[Recorded | None] = []
    for job in jobs:
        submission_id = ids.get((job.form_pk, job.instance_id))
        if id(job) not in written or submission_id is None:
            results.append(None)
        else:
            results.append(Recorded(submission_id, submission_id in decrypted))
    return results


def _row(job: NewSubmission, unit_code: str | None) -> dict[str, Any]:
    # The unit it acts in is its collector's now, whatever the collector's unit becomes later;
    # until the rule judges it, it is seen in that unit only (admins see every one).
    province, commune = units.columns_of(units.acting_unit(unit_code, shipped_units()))
    row = {
        "form_id": job.form_pk,
        "form_version_id": job.version_pk,
        "instance_id": job.instance_id,
        "deprecated_id": job.deprecated_id,
        "collector_id": job.collector_id,
        "manifest_sha256": job.parts[0][1],
        "encrypted": job.encrypted,
        "decrypt_state": "pending",
        "decrypt_reason": "received",
        "review_state": "received",
        "unit_code": unit_code,
        "province_code": province,
        "commune_code": commune,
    }
    if job.prepared is not None:
        row.update(job.prepared.columns)  # inserted decrypted: one pass over the indexes
    return row


def _to_project(
    jobs: list[NewSubmission], ids: dict[tuple[int, str], int]
) -> dict[BatchProjection, list[tuple[int, int, str | None, Any]]]:
    groups: dict[BatchProjection, list[tuple[int, int, str | None, Any]]] = {}
    for job in jobs:
        if job.prepared is not None and job.processing is not None:
            groups.setdefault(job.processing, []).append(
                (ids[(job.form_pk, job.instance_id)], job.form_pk, job.deprecated_id, job.prepared)
            )
    return groups


@dataclass(eq=False)
class _Waiting:
    job: NewSubmission
    result: Recorded | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """Writes the new submissions of concurrent requests of one process in shared transactions.

    No thread of its own: the first waiting request takes the lead, writes every submission
    queued at that moment, and the others find theirs done when they get their turn.
    """

    def __init__(
        self,
        store: Store,
        max_batch: int = MAX_BATCH,
        before_commit: Callable[[list[NewSubmission]], None] | None = None,
        watch: CredentialWatch | None = None,
    ) -> None:
        """`before_commit(jobs)` runs before each transaction, with the jobs it will write
        (ingest makes their parts durable there: no row may name a blob a crash could lose).
        Each transaction checks the jobs' credentials first (`check_credentials`, telling
        `watch`)."""
        self.store = store
        self.max_batch = max_batch
        self.before_commit = before_commit
        self.watch = watch
        self._queue: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()

    def record(self, job: NewSubmission) -> Recorded | None:
        """Write `job` (with whatever else is waiting); returns once it is committed.

        Raises what writing it alone raised (IntegrityError for an instanceID another process
        stored meanwhile, a database error when the database is down).
        """
        waiting = _Waiting(job)
        with self._queue_lock:
            self._queue.append(waiting)
        while not waiting.done:
            with self._leader:
                if waiting.done:
                    break
                with self._queue_lock:
                    batch = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
                self._write(batch)
        if waiting.error is not None:
            raise waiting.error
        return waiting.result

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            self._write_batch(batch)
        except BaseException as exc:  # the process is stopping: nobody may wait for ever
            for waiting in batch:
                if not waiting.done:
                    waiting.error, waiting.done = exc, True
            raise

    def _write_batch(self, batch: list[_Waiting]) -> None:
        jobs = [waiting.job for waiting in batch]
        try:
            if self.before_commit is not None:
                self.before_commit(jobs)
            with self.store.transaction() as connection:
                check_credentials(connection, jobs, self.watch)
                results = record_new(connection, jobs)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for waiting in batch:  # alone, so that one bad submission fails only itself
                self._write([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            waiting.result, waiting.done = result, True
