"""A submission's token answered from memory (TokenLookups.find_for_submission), and the check
that makes it safe: the credential generation, which triggers bump on every change to what a
token stands for, read again by the transaction that records the submission. A revocation, a
withdrawn form or a new token refuses the very next POST, even one authenticated from memory;
the POSTs after it are looked up again and refused before their body is read."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine

from server.clock import utcnow
from server.services import assignments
from server.services import collectors as collector_service
from server.services.collectors import Credential, TokenLookups
from server.services.recording import GroupCommit, NewSubmission
from server.store import collectors as collector_store
from server.store import forms as form_store
from server.store.db import Store
from server.store.models import Collector, CollectorForm, Submission
from tests.factories import (
    Deployment,
    plain_instance,
    post_submission,
    publish,
    services_of,
    simple_xform,
)


@contextmanager
def lookups_counted() -> Iterator[list[str]]:
    """The token lookup statements run meanwhile (in any store of this process)."""
    seen: list[str] = []

    def after(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "token_sha256 IN" in statement:
            seen.append(statement)

    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(Engine, "after_cursor_execute", after)


def _generation(store: Store) -> int:
    with store.read() as connection:
        return collector_store.credential_generation(connection)


def _stored(deployment: Deployment) -> int:
    with services_of(deployment.app).store.reader() as session:
        return session.scalar(select(func.count()).select_from(Submission)) or 0


def _blob_files(deployment: Deployment) -> int:
    root = services_of(deployment.app).config.blob_dir
    return sum(len(files) for _path, _dirs, files in os.walk(root))


def test_every_change_to_what_a_token_stands_for_bumps_the_generation(
    deployment: Deployment,
) -> None:
    store = services_of(deployment.app).store
    collector_id = deployment.collector_id
    changes = [
        update(Collector).where(Collector.id == collector_id).values(unit_code="01001"),
        update(Collector).where(Collector.id == collector_id).values(token_sha256="e" * 64),
        update(Collector).where(Collector.id == collector_id).values(name="phone-renamed"),
        update(Collector).where(Collector.id == collector_id).values(revoked_at=utcnow()),
    ]
    for change in changes:
        before = _generation(store)
        with store.session() as session:
            session.execute(change)
        assert _generation(store) > before, str(change)
    before = _generation(store)
    with store.session() as session:
        session.query(CollectorForm).filter_by(collector_id=collector_id).delete()
    assert _generation(store) > before, "a withdrawn form"
    before = _generation(store)
    with store.session() as session:
        form = form_store.by_xml_form_id(session, "vt_test")
        assert form is not None
        form_store.assign(session, collector_id, form.id)
    assert _generation(store) > before, "an assigned form"


def test_a_phone_syncing_does_not_bump_it(deployment: Deployment) -> None:
    store = services_of(deployment.app).store
    before = _generation(store)
    with store.session() as session:
        session.execute(
            update(Collector)
            .where(Collector.id == deployment.collector_id)
            .values(last_seen_at=utcnow(), app_version="v2025.2.1")
        )
    response = post_submission(deployment.client, deployment.url_prefix, plain_instance())
    assert response.status_code == 201
    assert _generation(store) == before


def test_a_submissions_token_is_looked_up_once_then_remembered(deployment: Deployment) -> None:
    with lookups_counted() as lookups:
        for _ in range(3):
            response = post_submission(deployment.client, deployment.url_prefix, plain_instance())
            assert response.status_code == 201
    assert len(lookups) == 1
    assert _stored(deployment) == 3


def test_other_requests_are_always_looked_up(deployment: Deployment) -> None:
    headers = {"X-OpenRosa-Version": "1.0"}
    assert post_submission(deployment.client, deployment.url_prefix, plain_instance()).status_code
    with lookups_counted() as lookups:
        assert deployment.client.head(f"{deployment.url_prefix}/submission", headers=headers)
        deployment.client.get(f"{deployment.url_prefix}/formList", headers=headers)
    assert len(lookups) == 2


def test_a_revocation_refuses_the_next_post_even_from_memory(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    first = post_submission(deployment.client, deployment.url_prefix, plain_instance())
    assert first.status_code == 201
    with services.store.session() as session:  # another worker or the web view: not this one
        collector_service.revoke(session, deployment.collector_id, "test")
    files = _blob_files(deployment)
    with lookups_counted() as lookups:
        answered_from_memory = post_submission(
            deployment.client, deployment.url_prefix, plain_instance()
        )
    # Read and its parts stored (so authenticated from memory), then refused by the recording
    # transaction's lookup: its parts stay unreferenced, the price of a POST under way.
    assert _blob_files(deployment) > files
    assert len(lookups) == 1
    assert answered_from_memory.status_code == 403
    assert b"revoked" in answered_from_memory.data
    assert _stored(deployment) == 1
    # The recording told the lookups: the next POST is looked up, refused before its body is
    # read, and writes nothing.
    files = _blob_files(deployment)
    with lookups_counted() as lookups:
        looked_up = post_submission(
            deployment.client, deployment.url_prefix, plain_instance(), {"photo.jpg": b"x" * 99}
        )
    assert len(lookups) == 1
    assert looked_up.status_code == 403
    assert _blob_files(deployment) == files
    assert _stored(deployment) == 1


def test_a_withdrawn_form_refuses_the_next_post_even_from_memory(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    assert post_submission(deployment.client, deployment.url_prefix, plain_instance()).status_code
    with services.store.session() as session:
        assignments.set_assigned_forms(session, deployment.collector_id, [], "test")
    response = post_submission(deployment.client, deployment.url_prefix, plain_instance())
    assert response.status_code == 403
    assert b"not assigned" in response.data
    assert _stored(deployment) == 1


def test_a_newly_assigned_form_is_accepted_at_once_from_memory(deployment: Deployment) -> None:
    """What memory refuses is read again from the store: a form assigned after the token was
    remembered is accepted on its first POST (and every one after)."""
    services = services_of(deployment.app)
    assert post_submission(deployment.client, deployment.url_prefix, plain_instance()).status_code
    publish(deployment.app, simple_xform(form_id="vt_second"))
    with services.store.session() as session:
        form = form_store.by_xml_form_id(session, "vt_second")
        assert form is not None
        form_store.assign(session, deployment.collector_id, form.id)
    for _ in range(2):
        second = post_submission(
            deployment.client, deployment.url_prefix, plain_instance(form_id="vt_second")
        )
        assert second.status_code == 201, second.get_data(as_text=True)
    assert _stored(deployment) == 3


def test_a_new_token_refuses_the_old_one_even_from_memory(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    assert post_submission(deployment.client, deployment.url_prefix, plain_instance()).status_code
    with services.store.session() as session:
        session.execute(
            update(Collector)
            .where(Collector.id == deployment.collector_id)
            .values(token_sha256=collector_service.token_digest("a-new-token"))
        )
    response = post_submission(deployment.client, deployment.url_prefix, plain_instance())
    assert response.status_code == 403
    assert _stored(deployment) == 1
    renewed = post_submission(deployment.client, "/c/a-new-token", plain_instance())
    assert renewed.status_code == 201


def test_an_unchanged_generation_needs_no_second_look(deployment: Deployment) -> None:
    """Another collector's change bumps the generation: a remembered token is then looked up
    again inside the recording transaction, and still accepted."""
    services = services_of(deployment.app)
    assert post_submission(deployment.client, deployment.url_prefix, plain_instance()).status_code
    with services.store.session() as session:
        other = collector_service.create(session, "http://x", "phone-2", "01", "test")
        collector_service.revoke(session, other.collector.id, "test")
    with lookups_counted() as lookups:
        response = post_submission(deployment.client, deployment.url_prefix, plain_instance())
    assert response.status_code == 201
    assert len(lookups) == 1  # in the recording transaction, not before the body
    assert _stored(deployment) == 2


def test_a_revoked_job_fails_alone_in_a_shared_transaction(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    store = services.store
    with store.session() as session:
        other = collector_service.create(session, "http://x", "phone-2", "01", "test")
        form = form_store.by_xml_form_id(session, "vt_test")
        assert form is not None
        assert other.token is not None
        version = form_store.current_version(session, form.id)
        assert version is not None
        form_pk, version_pk = form.id, version.id
    lookups = TokenLookups(store)
    kept = lookups.find(deployment.token)
    revoked = lookups.find(other.token)
    assert kept is not None
    assert revoked is not None
    with store.session() as session:
        collector_service.revoke(session, other.collector.id, "test")

    def job(ref: collector_service.CollectorRef, n: int) -> NewSubmission:
        return NewSubmission(
            ref.id,
            form_pk,
            version_pk,
            f"uuid:credential-{n}",
            None,
            False,
            [("xml_submission_file", f"{n:064x}", 10, "text/xml")],
            credential=ref.credential,
            xml_form_id="vt_test",
        )

    group = GroupCommit(store, watch=lookups)
    results: dict[int, Any] = {}
    jobs = [job(kept, 1), job(revoked, 2), job(kept, 3)]

    def record(n: int, one: NewSubmission) -> None:
        try:
            results[n] = group.record(one)
        except Exception as exc:
            results[n] = exc

    with group._leader:  # queue all three, so that one transaction takes them together
        threads = [threading.Thread(target=record, args=(n, one)) for n, one in enumerate(jobs)]
        for thread in threads:
            thread.start()
        while len(group._queue) < 3:
            threading.Event().wait(0.01)
    for thread in threads:
        thread.join(10)
    assert getattr(results[1], "status", None) == 403
    assert results[0] is not None
    assert results[2] is not None
    assert not isinstance(results[0], Exception)
    assert not isinstance(results[2], Exception)
    with store.reader() as session:
        instances = set(session.scalars(select(Submission.instance_id)))
    assert instances == {"uuid:credential-1", "uuid:credential-3"}
    # Both tokens are looked up again from now on: the revoked one is refused at once.
    assert lookups.find_for_submission(other.token) is None


def test_a_credential_carries_the_generation_it_was_read_under(deployment: Deployment) -> None:
    store = services_of(deployment.app).store
    found = TokenLookups(store).find(deployment.token)
    assert found is not None
    assert found.credential is not None
    assert found.credential == Credential(
        collector_service.token_digest(deployment.token), _generation(store)
    )


def test_the_generation_starts_at_zero_on_a_new_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    store.migrate()
    assert _generation(store) == 0
    store.dispose()
