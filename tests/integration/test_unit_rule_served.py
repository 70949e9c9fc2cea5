"""The three attacks on the unit rule against a real `fieldcase serve`, sent as ODK Collect
sends them (HEAD, then multipart POST), decrypted and projected by the server's own workers
after it answered: the path a phone in the field takes."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from server.app_context import Services
from server.config import Config
from server.services.forms import publish_xform
from server.services.setup import initialise
from server.services.units import FOREIGN_CASE, FOREIGN_EDIT, UNIT_MISMATCH
from server.store import cases as case_store
from server.store.db import Store
from server.store.models import Submission
from tests.collect_client import CollectClient
from tests.conftest import env_for
from tests.factories import make_collector
from tests.serving import ServerProcess
from tests.web.builders import (
    PEOPLE,
    Person,
    followup_instance,
    followup_xform,
    intake_instance,
    intake_xform,
)

pytestmark = pytest.mark.slow
VICTIM = PEOPLE[0]
DAY = date(2025, 3, 2)


def _wait_until_projected(store: Store, count: int, timeout: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as session:
            rows = session.execute(select(Submission.instance_id, Submission.unit_check)).all()
        if len(rows) == count and all(check for _, check in rows):
            return dict(rows)  # type: ignore[arg-type]
        time.sleep(0.2)
    raise AssertionError(f"not projected in time: {rows}")


def test_phone_of_another_unit_against_a_running_server(
    config: Config, store: Store, tmp_path: Path
) -> None:
    initialise(config, store)
    blobs = Services(config, store).blobs
    with store.session() as session:
        publish_xform(session, blobs, intake_xform(), {}, "test")
        publish_xform(session, blobs, followup_xform(), {}, "test")
        tokens = {unit: make_collector(session, f"phone-{unit}", unit)[0] for unit in ("01", "02")}
    server = ServerProcess(env_for(config), log_path=tmp_path / "server.log")
    server.start()
    try:
        phone_a = CollectClient(f"{server.url}/c/{tokens['01']}")
        phone_b = CollectClient(f"{server.url}/c/{tokens['02']}")
        victim_xml = intake_instance(VICTIM, DAY, instance_id="uuid:victim")
        assert phone_a.submit(victim_xml).acknowledged
        _wait_until_projected(store, 1)
        attacker = Person(VICTIM.case_code, "02", "", "Kẻ Mạo Danh", "0999 000 999")
        sent = [
            intake_instance(attacker, DAY, instance_id="uuid:takeover"),
            followup_instance(VICTIM.case_code, DAY, "closed_deceased"),
            intake_instance(attacker, DAY, instance_id="uuid:edit", deprecated_id="uuid:victim"),
        ]
        for xml in sent:
            assert phone_b.submit(xml).acknowledged  # kept: the phone is answered 201
        checks = _wait_until_projected(store, 4)
    finally:
        server.stop()
    assert checks["uuid:victim"] == "accepted"
    assert checks["uuid:takeover"] == UNIT_MISMATCH
    assert checks["uuid:edit"] == FOREIGN_EDIT
    assert sorted(checks.values()).count(FOREIGN_CASE) == 1  # the follow-up
    with store.session() as session:
        case = case_store.by_code(session, VICTIM.case_code)
        assert case is not None
        assert (case.province_code, case.commune_code, case.status) == (
            "01",
            "00004",
            "awaiting_verification",
        )
        assert "ke mao danh" not in (case.search_text or "")
        original = session.scalars(
            select(Submission).where(Submission.instance_id == "uuid:victim")
        ).one()
        assert original.superseded_by_id is None
