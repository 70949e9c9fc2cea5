"""The OData feed's stored row bodies (feed_bodies, exports/odata.py `row_bodies`): a stored
body is a cache of the rendered row, never a way around the rules. Rows are still chosen per
request (units, consent, superseded); a body of another layout, or of data that changed, is
never sent; no identifying value is ever stored; a page renders no row past `$top`.

Its own deployment (tests/web/conftest.py, module scope): the tests change consent and data.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select, text, update

from exports import odata
from forms.identifying import identifying_fields
from server.clock import utcnow
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


def current_ids(web: WebDeployment, form_id: str = FORM) -> set[int]:
    """The submissions of the form the feed could give, in any unit and of any consent."""
    with web.store.reader() as session:
        return set(
            session.scalars(
                select(Submission.id).where(
                    Submission.form_id == odata.load_feed(web.store, form_id).form_pk,
                    Submission.decrypt_state == "decrypted",
                    Submission.superseded_by_id.is_(None),
                )
            )
        )


def rendered_from_data(web: WebDeployment, ids: set[int], form_id: str = FORM) -> dict[int, bytes]:
    feed = odata.load_feed(web.store, form_id)
    renderer = odata.RowRenderer(feed, feed.main, expand=False)
    with web.store.reader() as session:
        found = session.execute(
            select(Submission.id, Submission.instance_id, Submission.data).where(
                Submission.id.in_(ids)
            )
        ).all()
    return {row.id: renderer.answers_body(row.instance_id, row.data) for row in found}


def test_processed_submissions_have_their_bodies_before_any_read(web: WebDeployment) -> None:
    """First in the module, before any read: every seeded submission (decrypted as it was
    received) has its body of the current layout, the row rendered from its data, in every
    unit and of every consent (what is sent is chosen per request)."""
    ids = current_ids(web)
    assert len(ids) >= 3
    feed = odata.load_feed(web.store, FORM)
    bodies = stored(web)
    assert ids <= set(bodies)
    assert {layout for sid, (layout, _) in bodies.items() if sid in ids} == {feed.layout}
    expected = rendered_from_data(web, ids)
    assert {sid: bodies[sid][1] for sid in ids} == expected


def test_a_new_submission_has_its_body_without_a_read(web: WebDeployment, tokens) -> None:
    from tests.web.builders import outreach_instance

    phone = phone_of(web, "01")
    result = web.services.receive_submission(
        phone, outreach_instance("01", utcnow().date(), 3, 4), []
    )
    assert result.status == 201
    assert result.submission_id in stored(web)  # no read, no `fieldcase export feed-bodies`
    assert stored(web)[result.submission_id] == (
        odata.load_feed(web.store, "vt06_outreach").layout,
        rendered_from_data(web, {result.submission_id}, "vt06_outreach")[result.submission_id],
    )


def phone_of(web: WebDeployment, unit: str) -> Any:
    from server.services import collectors as collector_service

    with web.store.session() as session:
        return collector_service.authenticate(session, web.seeded.phone_tokens[unit])


@pytest.mark.parametrize("error", [RuntimeError, ValueError])
def test_a_failing_render_neither_blocks_nor_loses_a_submission(
    web: WebDeployment,
    tokens,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: type[Exception],
) -> None:
    """The body is rendered after the submission's processing is committed: a failure there
    (its message here naming a victim, as an exception's text may) leaves the submission
    decrypted and in the feed, is logged without the message, and the row is rendered when
    read. A ValueError while rendering is logged too (only a form without a feed is skipped
    without a word)."""
    from tests.web.builders import outreach_instance

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise error("cannot render Nguyễn Thị Lan 0912 345 678")

    monkeypatch.setattr(odata.RowRenderer, "answers_body", broken)
    xml = outreach_instance("01", utcnow().date(), 5, 6)
    with caplog.at_level("INFO"):
        result = web.services.receive_submission(phone_of(web, "01"), xml, [])
    assert result.status == 201
    with web.store.reader() as session:
        submission = session.get(Submission, result.submission_id)
        assert submission is not None
        assert submission.decrypt_state == "decrypted"
        assert submission.data
    assert result.submission_id not in stored(web)
    failures = [r.getMessage() for r in caplog.records if r.name == "server.feed_bodies"]
    assert failures == [f"rendering the feed bodies of 1 submissions failed: {error.__name__}"]
    assert not any("Nguyễn" in r.getMessage() or "0912" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    rows = all_rows(web, tokens["admin"], "/v1/projects/1/forms/vt06_outreach.svc/Submissions")
    instance = xml.decode().split("<instanceID>")[1].split("<")[0]
    assert instance in {row["__id"] for row in rows}
    assert result.submission_id in stored(web)  # rendered by the read


def test_the_missing_body_query_finds_only_rows_without_a_current_body(
    web: WebDeployment,
) -> None:
    feed = odata.load_feed(web.store, FORM)
    ids = sorted(current_ids(web))
    with web.store.session() as session:
        session.execute(delete(FeedBody).where(FeedBody.submission_id == ids[0]))
        session.execute(
            update(FeedBody).where(FeedBody.submission_id == ids[-1]).values(layout="0" * 64)
        )
    with web.store.reader() as session:
        missing, last = submission_store.missing_body_ids(
            session, feed.form_pk, feed.layout, 0, 100
        )
        if web.store.engine.dialect.name == "sqlite":  # index only: no data, no body read
            query = submission_store.current_ids_select(feed.form_pk, 0, 100)
            sql = str(query.compile(web.store.engine, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert "COVERING INDEX ix_submissions_feed_current" in plan, plan
            probe = submission_store.body_probe("sqlite")
            plan = " ".join(
                str(r[-1])
                for r in session.execute(
                    text(f"EXPLAIN QUERY PLAN {probe.text}".replace(":ids", "(1, 2)")),
                    {"form_id": feed.form_pk, "layout": feed.layout},
                )
            )
            assert "COVERING INDEX ix_feed_bodies_form_layout" in plan, plan
    assert last == ids[-1]
    assert missing == [ids[0], ids[-1]]  # not the undecrypted, superseded or stored ones
    assert odata.render_missing(web.store, feed) == odata.Rendered(2, ids[-1], True)
    assert set(ids) <= set(stored(web))


def make_stale(web: WebDeployment) -> None:
    """Every body of the form as if rendered for an older layout (a form version before)."""
    feed = odata.load_feed(web.store, FORM)
    with web.store.session() as session:
        session.execute(
            update(FeedBody)
            .where(FeedBody.submission_id.in_(current_ids(web)))
            .values(layout="0" * 64, body=planted(web, '"planted":"stale layout"'))
        )
    assert not any(layout == feed.layout for layout, _ in stored(web).values() if layout)


def stale_count(web: WebDeployment) -> int:
    return sum(1 for layout, _ in stored(web).values() if layout == "0" * 64)


def test_the_idle_catch_up_deletes_bodies_of_an_older_layout_then_renders(
    web: WebDeployment,
) -> None:
    from server.services.feed_bodies import FeedBodies

    make_stale(web)
    assert stale_count(web) == len(current_ids(web))
    bodies = FeedBodies(web.store)
    assert bodies.catch_up() is True  # the first step deletes them (a second copy's space)
    assert stale_count(web) == 0
    assert not current_ids(web) & set(stored(web))
    steps = 0
    while bodies.catch_up():
        steps += 1
        assert steps < 50
    ids = current_ids(web)
    assert {sid: stored(web)[sid][1] for sid in ids} == rendered_from_data(web, ids)
    assert stale_count(web) == 0


def test_a_worker_that_saw_a_layout_deletes_its_bodies_when_it_changes(
    web: WebDeployment,
) -> None:
    """A running worker's catch-up looks for older-layout bodies again when the layout it
    last worked with is not the form's current one (a publish), not only at its start."""
    from server.services.feed_bodies import FeedBodies, _Checked

    bodies = FeedBodies(web.store)
    while bodies.catch_up():
        pass
    make_stale(web)
    assert bodies.catch_up() is False  # same layout as last seen: nothing looked for
    assert stale_count(web) == len(current_ids(web))
    bodies._checked[FORM] = _Checked("1" * 64, 10**9)  # it last worked with another layout
    assert bodies.catch_up() is True
    assert stale_count(web) == 0
    while bodies.catch_up():
        pass
    ids = current_ids(web)
    assert {sid: stored(web)[sid][1] for sid in ids} == rendered_from_data(web, ids)


def test_the_background_thread_renders_missing_bodies_when_idle(web: WebDeployment) -> None:
    from server.services.background import BackgroundProcessing

    forget_bodies(web)
    background = BackgroundProcessing(web.services.processor)
    background.start()
    try:
        ids = current_ids(web)
        for _ in range(200):
            if ids <= set(stored(web)):
                break
            time.sleep(0.05)
    finally:
        background.stop()
    assert ids <= set(stored(web))
    assert {sid: stored(web)[sid][1] for sid in ids} == rendered_from_data(web, ids)


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
