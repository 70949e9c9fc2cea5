"""Decryption and case projection after the phone's answer, on a thread of its own.

Under `fieldcase serve` a submission is acknowledged (201) as soon as it is stored durably, which
is all the phone needs before it may delete its copy; decrypting it and projecting its case
follow moments later. Submissions that arrive together are processed together: one
transaction writes a whole batch, so the work per submission falls as the load rises.

The thread runs in one of two places:
- in the process that received the submissions, which queues each one as it is recorded
  (`submit`), with the bytes its request still holds;
- in a process of its own (`poll`: server/processing_worker.py, what `fieldcase serve` runs),
  which finds them in the store, from the index of received submissions, as soon as it is
  idle and every `poll` seconds; the request threads then never wait for it to let go of
  their process's interpreter lock.

The processing process's thread also keeps a SQLite store's planner statistics current (at
start and hourly, between batches: `Store.refresh_statistics`).

Nothing depends on this thread for safety: a submission it has not reached when its process
stops (or is killed) stays "received" in the store, and a sweep (here, in any process, or
`fieldcase decrypt-pending`) picks it up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from datetime import timedelta

from server.clock import utcnow
from server.services.processing import Job, Processor
from server.store import submissions as submission_store

log = logging.getLogger("server.background")

MAX_BATCH = 200
# Jobs beyond this many in the queue drop the part bytes they carry (they are read back from the
# blob store instead), so a long overload cannot fill the memory.
KEEP_CONTENTS_UP_TO = 2000
SWEEP_EVERY = 15.0  # seconds between looks for submissions no worker took care of
SWEEP_AGE = timedelta(seconds=30)  # a submission this long "received" was left behind
# Poll: after finding some received submissions (fewer than a full batch), the next look is
# this long after the last one. Under load each batch then holds what arrived meanwhile
# (about a quarter second's worth) instead of the handful that arrive while one is written:
# a batch has a fixed cost (its transaction, its statements, its projection) several times
# that of a submission, which tiny batches pay again and again. An idle server still finds a
# lone submission within `poll`; phones are answered before any of this.
GATHER = 0.25
# Poll: the planner statistics of a SQLite store are refreshed when the process starts and this
# often after (Store.refresh_statistics), between batches.
STATISTICS_EVERY = 3600.0


class BackgroundProcessing:
    """A queue of recorded submissions and the thread that decrypts and projects them."""

    def __init__(self, processor: Processor, poll: float | None = None) -> None:
        """With `poll` (seconds), the thread also finds received submissions in the store
        itself, whenever it is idle and at least every `poll` seconds (a process of its own
        does: nobody submits to it)."""
        self.processor = processor
        self.poll = poll
        self._next_poll = time.monotonic()
        self._failures = 0  # batches in a row that could not be processed (poll: backs off)
        self._queue: deque[Job] = deque()
        self._wake = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next_sweep = time.monotonic()  # a worker's first act: take over what was left
        self._bodies_left = False  # rows may lack a feed body (set by each sweep)
        # The processing process (poll) keeps the store's planner statistics current.
        self._next_statistics = time.monotonic() if poll is not None else float("inf")

    def start(self) -> None:
        """Start the thread now (a serving worker does, to take over what was left behind)."""
        with self._wake:
            self._start()

    def submit(self, job: Job) -> None:
        """Queue a submission just recorded (or given a missing part)."""
        with self._wake:
            if len(self._queue) >= KEEP_CONTENTS_UP_TO and job.received is not None:
                job = replace(job, received=None)
            self._queue.append(job)
            self._start()
            self._wake.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty and no batch is being written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued (up to `timeout`), then end the thread and wait for it: a
        step of idle work (a sweep, feed bodies) it was taking ends before this returns,
        rather than after the store it works on is closed."""
        deadline = time.monotonic() + timeout
        self.wait_idle(timeout)
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()) + 1.0)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="fieldcase-processing", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while (
                    not self._queue
                    and not self._stopping
                    and not self._sweep_due()
                    and not self._poll_due()
                    and not self._bodies_left
                    and not self._statistics_due()
                ):
                    wake_at = min(self._next_sweep, self._next_poll_at(), self._next_statistics)
                    self._wake.wait(max(0.0, wake_at - time.monotonic()))
                if self._stopping:
                    return
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                self._busy = True
            try:
                if not batch and self._sweep_due():
                    batch = self._left_behind()
                    self._bodies_left = True  # and then, when idle, rows without a feed body
                if not batch and self._poll_due():
                    batch = self._received()
                if batch:
                    self._process(batch)
                elif self._statistics_due():
                    self._refresh_statistics()
                elif self._bodies_left:
                    self._bodies_left = self._catch_up_bodies()
            except Exception as exc:  # never the end of the thread: nobody restarts a poller
                log.error("processing thread: %s", type(exc).__name__)
                self._next_sweep = self._next_poll = time.monotonic() + 1.0
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _catch_up_bodies(self) -> bool:
        """One step of rendering feed bodies that are missing (idle only: the queue is looked
        at again between steps); True while more are left."""
        feed_bodies = self.processor.feed_bodies
        return feed_bodies.catch_up() if feed_bodies is not None else False

    def _statistics_due(self) -> bool:
        return time.monotonic() >= self._next_statistics

    def _refresh_statistics(self) -> None:
        self._next_statistics = time.monotonic() + STATISTICS_EVERY
        try:
            self.processor.store.refresh_statistics()
        except Exception as exc:  # a busy or absent database: the next period tries again
            log.error("refreshing the planner statistics failed: %s", type(exc).__name__)

    def _sweep_due(self) -> bool:
        return time.monotonic() >= self._next_sweep

    def _next_poll_at(self) -> float:
        return self._next_poll if self.poll is not None else float("inf")

    def _poll_due(self) -> bool:
        return time.monotonic() >= self._next_poll_at()

    def _received(self) -> list[Job]:
        """Poll: submissions received and not looked at yet, oldest first. Looked for again at
        once after a full batch; `GATHER` seconds after this look when there were some; after
        `poll` seconds when there were none; backing off up to the sweep's period while
        batches keep failing."""
        assert self.poll is not None
        try:
            with self.processor.store.read() as connection:
                ids = submission_store.received_before(connection, None, MAX_BATCH)
        except Exception as exc:  # the database may be down: looked for again later
            log.error("looking for received submissions failed: %s", type(exc).__name__)
            ids = []
            self._failures += 1
        # Doubling per failure, capped (the exponent too: a long outage must not overflow).
        backoff = self.poll * 2 ** min(self._failures, 16)
        wait = min(SWEEP_EVERY, backoff) if self._failures else 0.0
        if not ids:
            wait = max(wait, self.poll)
        elif len(ids) < MAX_BATCH:
            wait = max(wait, GATHER)
        self._next_poll = time.monotonic() + wait
        return [Job(submission_id) for submission_id in ids]

    def _left_behind(self) -> list[Job]:
        self._next_sweep = time.monotonic() + SWEEP_EVERY
        try:
            with self.processor.store.read() as connection:
                ids = submission_store.received_before(connection, utcnow() - SWEEP_AGE, MAX_BATCH)
        except Exception as exc:  # the database may be down; the next sweep tries again
            log.error("looking for unprocessed submissions failed: %s", type(exc).__name__)
            return []
        if len(ids) == MAX_BATCH:  # more were left behind: take the next batch straight away
            self._next_sweep = time.monotonic()
        return [Job(submission_id) for submission_id in ids]

    def _process(self, batch: list[Job]) -> None:
        try:
            self.processor.process_batch(batch)
            self._failures = 0
            return
        except Exception as exc:
            # The type only: exception text (SQL parameters) may hold a victim's data. The
            # submissions stay "received"; the sweep or decrypt-pending takes them again.
            log.error("processing %d submissions failed: %s", len(batch), type(exc).__name__)
        if self.poll is not None:
            self._one_by_one(batch)

    def _one_by_one(self, batch: list[Job]) -> None:
        """Poll: a batch that failed is tried one submission at a time, and one that still
        fails is marked failed with the reason (as decrypt-pending does), so that it is not
        found again at every poll ahead of the others. While the database itself fails,
        nothing can be marked: the poll backs off instead."""
        for job in batch:
            try:
                self.processor.process(job.submission_id)
                continue
            except Exception as exc:
                reason = f"processing failed ({type(exc).__name__})"
            try:
                self.processor.mark_failed(job.submission_id, reason)
            except Exception as exc:
                log.error("marking a submission failed did not work: %s", type(exc).__name__)
                self._failures += 1
                return
        self._failures = 0
