"""Case search, kept from becoming an oracle of names nobody revealed.

Search matches whole words only (`textsearch.search_words`; see store/cases.page), so typing
a name letter by letter narrows nothing until a whole word is right. Each user may search
`searches_per_hour` times in any hour, counted from the audit log (in the database, so every
worker process and the CLI share the count), and each search's audit entry lists the cases
it returned (also indexed per case in case_search_hits), so an auditor sees who keeps
finding a case without ever opening it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.orm import Session

from server.clock import utcnow
from server.store import audit, search_hits
from server.store import cases as case_store
from server.store.models import Case
from server.store.scope import UnitScope

SEARCH_WINDOW = timedelta(hours=1)
CASE_SORTS = case_store.CASE_SORTS  # the orders the case list offers
SEARCH = "case.search"
SEARCH_REFUSED = "case.search_refused"


def retry_after(session: Session, username: str, searches_per_hour: int) -> int | None:
    """None when the user may search now; else the seconds until they may, the refusal
    written to the audit log."""
    now = utcnow()
    done, oldest = audit.recent_count(session, username, SEARCH, now - SEARCH_WINDOW)
    if done < searches_per_hour:
        return None
    wait = (oldest + SEARCH_WINDOW - now).total_seconds() if oldest else 60.0
    seconds = max(1, math.ceil(wait))
    audit.append(session, username, SEARCH_REFUSED, None, {"searches_last_hour": done})
    return seconds


def record(session: Session, username: str, case_ids: Sequence[int]) -> None:
    """Audit a search with the cases it returned (ids only: never the words searched)."""
    entry = audit.append(
        session, username, SEARCH, None, {"results": len(case_ids), "cases": list(case_ids)}
    )
    search_hits.add(session, entry.id, case_ids)


def case_list(
    session: Session,
    scope: UnitScope,
    *,
    status: str | None = None,
    unit: str | None = None,
    folded_search: str | None = None,
    sort: str = "newest",
    after: tuple[date | None, int] | None = None,
    limit: int = 50,
) -> Sequence[Case]:
    """One page of the case list in `scope`, keyset-paged (server/store/cases.py `page`);
    `sort` is one of CASE_SORTS."""
    return case_store.page(
        session,
        scope,
        status=status,
        unit=unit,
        folded_search=folded_search,
        sort=sort,
        after=after,
        limit=limit,
    )
