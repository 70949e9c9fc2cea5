"""Collector tokens looked up together (TokenLookups): fewer statements under load, never a
stale answer. A request that arrives while a lookup is running must not take that lookup's
answer (it began before the request, perhaps before a revocation): it waits for the next one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from server.config import Config
from server.services import collectors as collector_service
from server.services.collectors import CollectorRef, TokenLookups
from server.services.setup import initialise
from server.store.db import Store
from tests.conftest import env_for
from tests.serving import ServerProcess

OR = {"X-OpenRosa-Version": "1.0"}


@contextmanager
def held_lookup() -> Iterator[tuple[threading.Event, threading.Event, list[int]]]:
    """Hold the first token lookup after its statement has run (its answer read from the
    database, not yet handed out) until `release` is set; count the lookup statements."""
    running, release = threading.Event(), threading.Event()
    statements: list[int] = []

    def after(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "token_sha256 IN" not in statement:
            return
        statements.append(1)
        if len(statements) == 1:
            running.set()
            release.wait(10)

    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield running, release, statements
    finally:
        event.remove(Engine, "after_cursor_execute", after)
        release.set()


def _in_thread(find: Callable[[], CollectorRef | None]) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(find()))
    thread.start()
    return thread, answers


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_request_after_a_revocation_is_refused_even_with_a_lookup_running(
    config: Config, store: Store
) -> None:
    initialise(config, store)
    with store.session() as session:
        created = collector_service.create(session, "http://x", "phone", "01", "t")
        token, collector_id = created.token, created.collector.id
        assert token is not None
    lookups = TokenLookups(store)
    with held_lookup() as (running, release, _statements):
        early, early_answer = _in_thread(lambda: lookups.find(token))
        assert running.wait(10)  # its statement has read the collector as active
        with store.session() as session:
            collector_service.revoke(session, collector_id, "test")
        late, late_answer = _in_thread(lambda: lookups.find(token))
        _wait_until(lambda: lookups.waiting() == 1)  # arrived while the statement ran
        release.set()
        early.join(10)
        late.join(10)
    assert len(early_answer) == 1
    assert early_answer[0] is not None  # it arrived before the revocation
    assert late_answer == [None]  # the revocation acts on the very next request


def test_requests_waiting_together_share_one_statement(config: Config, store: Store) -> None:
    initialise(config, store)
    with store.session() as session:
        made = [
            collector_service.create(session, "http://x", f"phone-{n}", "01", "t") for n in range(5)
        ]
        phones = [(str(phone.token), phone.collector.id) for phone in made]
        collector_service.revoke(session, phones[4][1], "test")
    lookups = TokenLookups(store)
    with held_lookup() as (running, release, statements):
        first, _ = _in_thread(lambda: lookups.find(phones[0][0]))
        assert running.wait(10)
        tokens = [token for token, _id in phones] + ["unknown-token"]
        others = [_in_thread(lambda token=token: lookups.find(token)) for token in tokens]
        _wait_until(lambda: lookups.waiting() == len(tokens))
        release.set()
        first.join(10)
        for thread, _answer in others:
            thread.join(10)
    assert len(statements) == 2  # one for the first, one for the six that waited together
    answers = [answer[0] for _thread, answer in others]
    expected = [collector_id for _token, collector_id in phones[:4]] + [None, None]
    assert [answer.id if answer else None for answer in answers] == expected


def test_a_database_error_is_raised_not_taken_for_a_revoked_token(
    config: Config, store: Store
) -> None:
    # A database that cannot answer must not turn into "revoked" (403): the error goes up.
    initialise(config, store)
    with store.session() as session:
        token = collector_service.create(session, "http://x", "phone", "01", "t").token
        assert token is not None
    broken = Store("sqlite:///" + str(Path(config.data_dir) / "missing" / "none.db"))
    lookups = TokenLookups(broken)
    with pytest.raises(OperationalError):
        lookups.find(token)


@pytest.mark.slow
def test_revocation_acts_at_once_in_every_worker_of_a_running_server(
    config: Config, store: Store, tmp_path: Path
) -> None:
    import http.client

    initialise(config, store)
    with store.session() as session:
        created = collector_service.create(session, "http://x", "phone", "01", "t")
        token, collector_id = created.token, created.collector.id
        assert token is not None
    server = ServerProcess(
        {**env_for(config), "FIELDCASE_WORKERS": "2"}, log_path=tmp_path / "server.log"
    )
    server.start()

    def statuses(count: int) -> list[int]:
        found = []
        for _ in range(count):  # a new connection each: gunicorn hands them to both workers
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("HEAD", f"/c/{token}/submission", headers=OR)
            found.append(connection.getresponse().status)
            connection.close()
        return found

    try:
        assert set(statuses(20)) == {204}
        with store.session() as session:
            collector_service.revoke(session, collector_id, "test")
        assert set(statuses(20)) == {403}
    finally:
        server.stop()
