"""A batch of new cases is projected with a handful of statements, whatever its size: the
cases' first holdings are written in one INSERT, not one per case (issue 22)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, event, select

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from server.app import create_app
from server.config import Config
from server.services.cases import project_cases
from server.services.setup import initialise
from server.store.db import Store
from server.store.models import Case, CaseHolding, PersonKey, Submission
from tests.factories import (
    add_collector,
    plain_instance,
    post_submission,
    publish,
    server_public_key,
    services_of,
    simple_xform,
)
from tests.submissions import encrypted_instance

CODES = [f"01-2025-pb{n:04d}" for n in range(8)]


def test_new_cases_of_a_batch_get_their_holdings_in_one_statement(
    config: Config, store: Store
) -> None:
    initialise(config, store)
    app: Flask = create_app(config, store)
    publish(app, simple_xform(form_id="vt01_intake", public_key=server_public_key(app)))
    token, _ = add_collector(app, "phone-pb")
    client = app.test_client()
    for n, code in enumerate(CODES):
        xml, files = encrypted_instance(
            server_public_key(app), "vt01_intake", instance_id=f"uuid:pb-{n}", case_code=code
        )
        assert post_submission(client, f"/c/{token}", xml, dict(files)).status_code == 201
    services = services_of(app)
    with services.store.transaction() as connection:
        held = connection.execute(select(CaseHolding.case_code)).scalars().all()
        assert sorted(held) == CODES  # projected when received
        # As if none of them had been projected yet: a batch of eight new cases.
        connection.execute(delete(CaseHolding))
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CASE_HOLDINGS"):
            inserts.append(statement)

    event.listen(services.store.engine, "before_cursor_execute", count)
    try:
        with services.store.transaction() as connection:
            ids = project_cases(connection, CODES)
    finally:
        event.remove(services.store.engine, "before_cursor_execute", count)
    assert sorted(ids) == CODES
    assert len(inserts) == 1
    with services.store.transaction() as connection:
        rows = connection.execute(
            select(
                CaseHolding.case_code,
                CaseHolding.seq,
                CaseHolding.source,
                CaseHolding.submission_id,
            )
        ).all()
        intakes = dict(connection.execute(select(Submission.case_code, Submission.id)).all())
        cases = connection.execute(select(Case.case_code)).scalars().all()
    assert sorted(rows) == sorted((code, 1, "intake", intakes[code]) for code in CODES)
    assert sorted(cases) == CODES


def test_a_batch_reads_its_cases_submissions_once_and_no_standing_back(
    config: Config, store: Store
) -> None:
    """The match keys are made from the rows the projection read and judged, and the
    follow-up schedule from the standings it wrote: neither is read again (issue 22)."""
    initialise(config, store)
    app: Flask = create_app(config, store)
    publish(app, simple_xform(form_id="vt01_intake", public_key=server_public_key(app)))
    token, _ = add_collector(app, "phone-pb")
    client = app.test_client()
    for n, code in enumerate(CODES):
        instance_id = f"uuid:pb-{n}"
        xml = plain_instance(
            form_id="vt01_intake", instance_id=instance_id, case_code=code
        ).replace(b"</full_name>", b"</full_name><dob>2006-01-02</dob>")
        sealed = encrypt_submission(
            load_public_key(server_public_key(app)), "vt01_intake", "1", instance_id, xml, []
        )
        files = dict(sealed.files)
        assert post_submission(client, f"/c/{token}", sealed.manifest, files).status_code == 201
    services = services_of(app)
    with services.store.transaction() as connection:
        keys_before = connection.execute(select(PersonKey.case_code, PersonKey.match_key)).all()
        due_before = connection.execute(select(Case.case_code, Case.next_followup_due)).all()
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(services.store.engine, "before_cursor_execute", count)
    try:
        with services.store.transaction() as connection:
            project_cases(connection, CODES, services.processor.match_secret)
    finally:
        event.remove(services.store.engine, "before_cursor_execute", count)
    of_cases = [s for s in selects if "submissions.data" in s]
    assert len(of_cases) == 1, of_cases
    assert not [s for s in selects if "FROM consent_standings" in s]
    with services.store.transaction() as connection:
        keys_after = connection.execute(select(PersonKey.case_code, PersonKey.match_key)).all()
        due_after = connection.execute(select(Case.case_code, Case.next_followup_due)).all()
    assert keys_before
    assert sorted(keys_after) == sorted(keys_before)
    assert sorted(due_after) == sorted(due_before)
