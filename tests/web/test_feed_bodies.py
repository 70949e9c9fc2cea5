"""The OData feed's stored row bodies (feed_bodies, exports/odata.py `row_bodies`): a stored
body is a cache of the rendered row, never a way around the rules. Rows are still chosen per
request (units, consent, superseded); a body of another layout, or of data that changed, is
never sent; no identifying value is ever stored; a page renders no row past `$top`.

Its own deployment (tests/web/conftest.py, module scope): the tests change consent and data.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select, update

from exports import odata
from forms.identifying import identifying_fields
from server.services import consent
from server.services.auth import current_user_of
from server.store import submissions as submission_store
from server.store import users as user_store
from server.store.models import FeedBody, Submission
from server.store.scope import UnitScope
from tests.conftest import IDENTIFYING_TEST_VALUES
from tests.consenting import give_data_use_consent
from tests.web.conftest import WebDeployment
from tests.web.test_central_api import SVC, all_rows, bearer, get

FORM = "vt01_intake"
CONSENTING_CASE = "01-2025-aaaaaa"
UNIT_02_CASE = "02-2025-bbbbbb"


@pytest.fixture(scope="module")
def tokens(web: WebDeployment) -> dict[str, dict[str, str]]:
    give_data_use_consent(web.store)
    return {name: bearer(web, name) for name in ("admin", "sup_a", "sup_b")}


def stored(web: WebDeployment) -> dict[int, tuple[str, bytes]]:
    with web.store.reader() as session:
        return {
            row.submission_id: (row.layout, submission_store.feed_body(row.body))
            for row in session.execute(
                select(FeedBody.submission_id, FeedBody.layout, FeedBody.body)
            )
        }


def planted(web: WebDeployment, body: str) -> str | bytes:
    """A body as the store keeps them (bytes on SQLite, text on PostgreSQL)."""
    return body.encode() if web.store.engine.dialect.name == "sqlite" else body


def forget_bodies(web: WebDeployment) -> None:
    with web.store.session() as session:
        session.execute(delete(FeedBody))


def submission_id(web: WebDeployment, instance_id: str) -> int:
    with web.store.reader() as session:
        found = session.scalar(select(Submission.id).where(Submission.instance_id == instance_id))
    assert found is not None
    return found


def set_data_use(web: WebDeployment, case_code: str, decision: str) -> None:
    with web.store.session() as session:
        admin = user_store.by_username(session, "admin")
        assert admin is not None
        consent.record_change(
            session,
            current_user_of(admin, [], 0),
            case_code,
            purpose=consent.DATA_USE,
            decision=decision,
            given_by="self",
            reason="Đơn giấy / paper form",
        )


def test_stored_bodies_are_the_rendered_rows_byte_for_byte(web: WebDeployment, tokens) -> None:
    forget_bodies(web)
    first = all_rows(web, tokens["admin"], f"{SVC}/Submissions")  # renders and stores
    assert first
    assert len(stored(web)) == len(first)
    again = all_rows(web, tokens["admin"], f"{SVC}/Submissions")  # the stored bodies
    assert again == first
    # The same bytes as the rows rendered from the data (the $select / $expand path).
    feed = odata.load_feed(web.store, FORM)
    persons = frozenset(consent_persons(web))
    filters = consent_filter(persons)
    scope = UnitScope.all_units()
    dicts = [orjson.dumps(row) for _, row in odata.rows(web.store, scope, feed, feed.main, filters)]
    bodies = [body for _, body in odata.row_bodies(web.store, scope, feed, filters)]
    assert bodies == dicts
    assert all(layout == feed.layout for layout, _ in stored(web).values())


def consent_persons(web: WebDeployment) -> frozenset[tuple[str, int]]:
    from server.services import analyst_api

    return analyst_api.data_use_persons(web.store)


def consent_filter(persons: frozenset[tuple[str, int]]) -> Any:
    from server.services import analyst_api

    return analyst_api.consented_filter(persons)


def test_no_identifying_value_or_column_is_ever_stored(web: WebDeployment, tokens) -> None:
    all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    bodies = [body for _, body in stored(web).values()]
    assert bodies
    p3 = identifying_fields()
    for body in bodies:
        for value in IDENTIFYING_TEST_VALUES:
            assert value.encode() not in body
        names = set(json.loads(b"{" + body + b"}"))
        assert not names & p3


def test_a_body_of_another_layout_is_never_sent(web: WebDeployment, tokens) -> None:
    rows = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    target = submission_id(web, rows[0]["__id"])
    feed = odata.load_feed(web.store, FORM)
    # A body under the current digest is what is sent (so the stale one below would be too,
    # were the digest not checked).
    with web.store.session() as session:
        session.execute(
            update(FeedBody)
            .where(FeedBody.submission_id == target)
            .values(body=planted(web, '"planted":"current layout"'))
        )
    sent = json.dumps(all_rows(web, tokens["admin"], f"{SVC}/Submissions"))
    assert "current layout" in sent
    with web.store.session() as session:
        session.execute(
            update(FeedBody)
            .where(FeedBody.submission_id == target)
            .values(layout="0" * 64, body=planted(web, '"planted":"stale layout"'))
        )
    again = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    assert "stale layout" not in json.dumps(again)
    assert again == rows
    layout, body = stored(web)[target]
    assert layout == feed.layout
    assert b"planted" not in body


def test_the_layout_digest_follows_everything_a_row_is_rendered_from(web: WebDeployment) -> None:
    feed = copy.deepcopy(odata.load_feed(web.store, FORM))  # the loaded feed is shared
    p3 = sorted(identifying_fields())
    with web.store.reader() as session:
        version_id = session.scalar(
            select(Submission.form_version_id).where(Submission.form_id == feed.form_pk)
        )
    assert version_id is not None
    digest = odata.layout_digest(feed, version_id, p3)
    assert odata.layout_digest(feed, version_id + 1, p3) != digest  # a new form version
    assert odata.layout_digest(feed, version_id, p3[1:]) != digest  # another P3 list
    field = next(node for node in feed.main.nodes if node.column is not None)
    feed.types[field.path] = "int" if feed.types.get(field.path) != "int" else "string"
    assert odata.layout_digest(feed, version_id, p3) != digest  # another type
    feed.main.nodes.pop(feed.main.nodes.index(field))
    assert odata.layout_digest(feed, version_id, p3) != digest  # a column less


def test_a_change_of_data_deletes_its_body(web: WebDeployment, tokens) -> None:
    """An erasure strips answers in place: the body of the old data must not outlive it."""
    rows = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    target = submission_id(web, rows[0]["__id"])
    assert target in stored(web)
    with web.store.session() as session:
        data = session.scalar(select(Submission.data).where(Submission.id == target))
        session.execute(
            update(Submission)
            .where(Submission.id == target)
            .values(data={**data, "case_code": "changed-in-place"})
        )
    assert target not in stored(web)
    again = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    changed = next(row for row in again if row["__id"] == rows[0]["__id"])
    assert changed["case_code"] == "changed-in-place"
    with web.store.session() as session:
        session.execute(update(Submission).where(Submission.id == target).values(data=data))


def test_withdrawn_consent_leaves_a_stored_row_out_at_once(web: WebDeployment, tokens) -> None:
    rows = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    assert CONSENTING_CASE in {row["case_code"] for row in rows}
    assert len(stored(web)) >= len(rows)
    set_data_use(web, CONSENTING_CASE, "no")
    try:
        again = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
        assert CONSENTING_CASE not in json.dumps(again)
        assert len(again) < len(rows)
        one = rows[[row["case_code"] for row in rows].index(CONSENTING_CASE)]["__id"]
        assert get(web, tokens["admin"], f"{SVC}/Submissions('{one}')")["value"] == []
    finally:
        set_data_use(web, CONSENTING_CASE, "yes")
    assert CONSENTING_CASE in json.dumps(all_rows(web, tokens["admin"], f"{SVC}/Submissions"))


def test_unit_01_never_gets_a_stored_unit_02_row(web: WebDeployment, tokens) -> None:
    theirs = {row["__id"] for row in all_rows(web, tokens["sup_b"], f"{SVC}/Submissions")}
    assert theirs
    assert {submission_id(web, instance) for instance in theirs} <= set(stored(web))
    for query in ("", "?$top=1", "?$skip=1", "?$count=true"):
        text = json.dumps(all_rows(web, tokens["sup_a"], f"{SVC}/Submissions{query}"))
        assert not any(instance in text for instance in theirs), query
        assert UNIT_02_CASE not in text
    for instance in theirs:
        assert get(web, tokens["sup_a"], f"{SVC}/Submissions('{instance}')")["value"] == []


def test_a_superseded_submission_with_a_stored_body_is_left_out(web: WebDeployment, tokens) -> None:
    rows = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    target = submission_id(web, rows[-1]["__id"])
    other = submission_id(web, rows[0]["__id"])
    assert target in stored(web)
    with web.store.session() as session:
        session.execute(
            update(Submission).where(Submission.id == target).values(superseded_by_id=other)
        )
    try:
        again = {row["__id"] for row in all_rows(web, tokens["admin"], f"{SVC}/Submissions")}
        assert rows[-1]["__id"] not in again
    finally:
        with web.store.session() as session:
            session.execute(
                update(Submission).where(Submission.id == target).values(superseded_by_id=None)
            )


def test_a_page_renders_no_row_past_its_top(web: WebDeployment, tokens) -> None:
    total = len(all_rows(web, tokens["admin"], f"{SVC}/Submissions"))
    assert total >= 2
    forget_bodies(web)
    page = get(web, tokens["admin"], f"{SVC}/Submissions?$top=1")
    assert len(page["value"]) == 1
    assert "@odata.nextLink" in page
    assert len(stored(web)) == 1  # the next row was neither read nor rendered
    whole = get(web, tokens["admin"], f"{SVC}/Submissions?$top={total}")
    assert len(whole["value"]) == total
    assert "@odata.nextLink" not in whole  # exactly $top rows left: no empty page to follow
    short = get(web, tokens["admin"], f"{SVC}/Submissions?$top={total - 1}")
    assert "@odata.nextLink" in short


def test_bodies_rendered_ahead_for_every_row_still_give_each_user_only_theirs(
    web: WebDeployment, tokens
) -> None:
    """`fieldcase export feed-bodies` renders every unit's and every consent's rows ahead of
    any read: what each request is given is still chosen by its own query."""
    from server.services import analyst_api
    from tests.consenting import NOT_CONSENTING_CASE

    forget_bodies(web)
    done = analyst_api.render_feed_bodies(web.store, FORM)
    with web.store.reader() as session:
        current = session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.form_id == odata.load_feed(web.store, FORM).form_pk,
                Submission.decrypt_state == "decrypted",
                Submission.superseded_by_id.is_(None),
            )
        )
    assert done == {FORM: current}
    assert len(stored(web)) == current
    text = json.dumps(all_rows(web, tokens["admin"], f"{SVC}/Submissions"))
    assert NOT_CONSENTING_CASE not in text  # rendered, stored, never sent
    text = json.dumps(all_rows(web, tokens["sup_a"], f"{SVC}/Submissions"))
    assert UNIT_02_CASE not in text
    with pytest.raises(LookupError):
        analyst_api.render_feed_bodies(web.store, "no_such_form")


def test_an_erasure_deletes_the_bodies_of_the_data_it_strips(web: WebDeployment, tokens) -> None:
    """Last in the module: it erases a case. The feed's stored bodies hold free-text answers
    (which may name someone); an erasure strips them from the submissions in place, and the
    bodies rendered from the old data must go with them."""
    from forms.identifying import FREE_TEXT_FIELDS
    from server.services import subject

    rows = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    ids = [submission_id(web, r["__id"]) for r in rows if r["case_code"] == CONSENTING_CASE]
    assert ids
    assert set(ids) <= set(stored(web))
    subject.erase(web.config, web.store, CONSENTING_CASE, "Yêu cầu xóa dữ liệu của chính người đó.")
    assert not set(ids) & set(stored(web))  # deleted with the data they came from
    again = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    with web.store.reader() as session:
        datas = session.scalars(select(Submission.data).where(Submission.id.in_(ids))).all()
    feed = odata.load_feed(web.store, FORM)
    renderer = odata.RowRenderer(feed, feed.main, expand=False)
    for submission, data in zip(ids, datas, strict=True):
        instance = next(r["__id"] for r in rows if submission_id(web, r["__id"]) == submission)
        assert stored(web)[submission][1] == renderer.answers_body(instance, data)
        row = next(r for r in again if r["__id"] == instance)
        assert not FREE_TEXT_FIELDS & {k for k, v in _leaves(row) if v is not None}


def _leaves(row: dict[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in row.items():
        if isinstance(value, dict) and key != "__system":
            found += _leaves(value)
        else:
            found.append((key, value))
    return found
