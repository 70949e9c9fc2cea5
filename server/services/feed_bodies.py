"""The OData feed's stored row bodies rendered ahead of any read (exports/odata.py,
docs/api.md "Stored row bodies").

A submission's `Submissions` row is rendered and stored once it is decrypted and projected,
by whoever processed it (the background thread under `fieldcase serve`), after the
transaction that wrote it: an analyst's first read of new rows then sends stored bytes, as
every read after it does. When the processor is idle it also looks (from two indexes, never
reading data) for current rows without a body of their form's current layout: after a
publish changed the layout, an upgrade, or a submission decrypted outside the processor (a
transfer package); and deletes the bodies of an older layout.

Bodies are a cache: rows are still chosen per request (units, consent, superseded), and a
row without its body is rendered when read. So rendering may fail or lag without any harm
to a submission: its processing is committed before, and nothing here raises.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from exports import odata
from server.store import forms as form_store
from server.store.db import Store

log = logging.getLogger("server.feed_bodies")

# Rows rendered per step of the idle catch-up: the processor looks at its queue between steps.
CATCH_UP_STEP = 100


@dataclass(frozen=True)
class _Checked:
    layout: str
    last_id: int  # every current row up to here was looked at for this layout


class FeedBodies:
    """Renders stored feed bodies for the processor (one per worker process)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._checked: dict[str, _Checked] = {}

    def render_new(
        self, ids_by_form: Mapping[str, list[int]], without_body: Collection[int] = ()
    ) -> int:
        """Render the bodies of submissions just decrypted (their XML form ids as keys);
        how many were stored. Never raises: a row left without its body is rendered later.

        `without_body`: those the caller decrypted itself in the transaction it just
        committed, so had no body then: not looked up (`odata.render_bodies_of`)."""
        stored = 0
        for form_id, ids in ids_by_form.items():
            try:
                feed = odata.load_feed(self.store, form_id)
            except (LookupError, ValueError):
                continue  # no current version any more, or no feed: nothing to render for
            try:
                stored += odata.render_bodies_of(self.store, feed, ids, without_body)
            except Exception as exc:  # the type only: its text may hold a victim's answers
                log.error(
                    "rendering the feed bodies of %d submissions failed: %s",
                    len(ids),
                    type(exc).__name__,
                )
        return stored

    def catch_up(self, step: int = CATCH_UP_STEP) -> bool:
        """One step of the idle work: delete bodies of an older layout, render up to `step`
        missing ones. True when more is left (the caller takes the next step when still
        idle). Never raises."""
        try:
            with self.store.reader() as session:
                names = [form.xml_form_id for form in form_store.all_forms(session)]
            for name in names:
                try:
                    feed = odata.load_feed(self.store, name)
                except (LookupError, ValueError):
                    continue  # no version published, or no feed
                checked = self._checked.get(name)
                if checked is None or checked.layout != feed.layout:
                    # First seen here, or its layout changed: the older bodies first (their
                    # space), a step at a time, then every row is looked at again.
                    if odata.delete_stale_bodies(self.store, feed, limit=step * 10):
                        return True
                    checked = None
                after = checked.last_id if checked is not None else 0
                done = odata.render_missing(self.store, feed, after_id=after, limit=step)
                self._checked[name] = _Checked(feed.layout, done.last_id)
                if not done.finished:
                    return True
        except Exception as exc:  # the type only, as above; the next sweep tries again
            log.error("rendering missing feed bodies failed: %s", type(exc).__name__)
        return False
