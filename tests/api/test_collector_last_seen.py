"""Collectors' last_seen_at and ODK Collect version: written at most once a minute per
collector (a new version at once), shown on the collectors page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from server.services.collectors import LastSeen
from server.store.models import Collector
from tests.factories import Deployment, services_of

OR = {"X-OpenRosa-Version": "1.0"}
AGENT = "Dalvik/2.1.0 (Linux; U; Android 13) org.odk.collect.android/v2024.3.1"


def _seen(deployment: Deployment) -> tuple[datetime | None, str | None]:
    with services_of(deployment.app).store.session() as session:
        row = session.scalars(select(Collector).where(Collector.id == deployment.collector_id))
        collector = row.one()
        return collector.last_seen_at, collector.app_version


def test_a_sync_records_when_and_which_app(deployment: Deployment) -> None:
    assert _seen(deployment) == (None, None)
    response = deployment.client.get(
        f"{deployment.url_prefix}/formList", headers={**OR, "User-Agent": AGENT}
    )
    assert response.status_code == 200
    seen_at, version = _seen(deployment)
    assert seen_at is not None
    assert version == "v2024.3.1"
    # A refused request (unknown token) records nothing for anyone.
    deployment.client.get("/c/unknown-token/formList", headers={**OR, "User-Agent": AGENT})
    assert _seen(deployment) == (seen_at, version)


def test_at_most_one_write_a_minute_unless_the_version_changes(deployment: Deployment) -> None:
    store = services_of(deployment.app).store
    worker_a, worker_b = LastSeen(store), LastSeen(store)  # two worker processes
    t0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    cid = deployment.collector_id
    assert worker_a.record(cid, "v2024.3.1", t0)
    assert not worker_a.record(cid, "v2024.3.1", t0 + timedelta(seconds=20))
    assert not worker_a.record(cid, None, t0 + timedelta(seconds=30))
    # the other worker, within the minute: the row is fresh, nothing written
    assert not worker_b.record(cid, "v2024.3.1", t0 + timedelta(seconds=40))
    assert worker_a.record(cid, "v2025.1.0", t0 + timedelta(seconds=45))  # updated app
    assert worker_b.record(cid, None, t0 + timedelta(seconds=110))
    seen_at, version = _seen(deployment)
    assert seen_at is not None
    assert seen_at.replace(tzinfo=UTC) == t0 + timedelta(seconds=110)
    assert version == "v2025.1.0"  # a request without a version keeps the known one
