"""The count of a page of submissions (the OData feed's `$top` pages and their audit entry):
bounded to the page, equal to the whole count when the page holds the rest."""

from __future__ import annotations

from sqlalchemy import select

from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import Form, Submission
from server.store.scope import UnitScope
from tests.factories import store_decrypted


def test_a_bounded_count_stops_at_its_limit_and_follows_the_cursor(store: Store) -> None:
    for n in range(7):
        store_decrypted(store, "vt_count", {"n": str(n)}, f"uuid:count-{n}")
    store_decrypted(store, "vt_count", {"n": "x"}, "uuid:other-unit", unit="79")
    with store.reader() as session:
        form_id = session.scalar(select(Form.id).where(Form.xml_form_id == "vt_count"))
        ids = list(session.scalars(select(Submission.id).order_by(Submission.id)))
        scope = UnitScope.of_units(["01"])
        filters = submission_store.SubmissionFilter()

        def count(after: int = 0, limit: int | None = None) -> int:
            return submission_store.export_count(session, scope, form_id, filters, after, limit)

        assert count() == 7  # unit 79's submission is not in the scope
        assert count(limit=3) == 3
        assert count(limit=50) == 7
        assert count(after=ids[4], limit=5) == 2
        assert count(after=ids[4]) == 2
        assert count(limit=0) == 0
