"""The unit rule in the projection: whatever order submissions arrive in, however often a
case is projected again, a submission acts only inside its collector's unit.

Every submission goes through the OpenRosa route as ODK Collect sends it, encrypted with the
server key like the real case forms, from collectors of provinces 01 and 02, of communes 00004
and 00008 (both in province 01 in the forms' admin units list), of a commune the list does not
know, and without a unit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, update

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from exports.periods import parse_period
from forms import case_code
from server.app import create_app
from server.cli import main
from server.config import Config
from server.errors import Problem
from server.services import dashboard
from server.store import audit
from server.store import cases as case_store
from server.store.db import Store
from server.store.models import CaseHolding, Submission
from server.store.scope import UnitScope
from tests.factories import (
    Deployment,
    add_collector,
    add_unchecked_collector,
    post_submission,
    publish,
    server_public_key,
    simple_xform,
)

CODE = case_code.make("01", 2025, "00042")
UNITS = {
    "p01": "01",
    "p02": "02",
    "c00004": "00004",
    "c00008": "00008",
    "c77777": "77777",  # a commune the admin units list does not hold
    "nounit": None,
}
# Collectors that creation refuses today (no unit, a commune not in the list) can still exist:
# made before the check, or their commune left the list later. The rule must hold for them.
CHECKED = {"p01", "p02", "c00004", "c00008"}


@dataclass
class Phones:
    """A deployment with the case forms published encrypted and one phone per unit."""

    app: Flask
    public_key: str
    tokens: dict[str, str]

    def send(
        self,
        phone: str,
        form_id: str,
        body: str,
        deprecated_id: str | None = None,
        app: Flask | None = None,
    ) -> str:
        """Fill, encrypt and POST one submission from `phone`; its instanceID."""
        instance_id = f"uuid:{uuid.uuid4()}"
        deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
        xml = (
            f'<data id="{form_id}" version="1">{body}'
            f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></data>"
        ).encode()
        sealed = encrypt_submission(
            load_public_key(self.public_key), form_id, "1", instance_id, xml
        )
        client = (app or self.app).test_client()
        response = post_submission(
            client, f"/c/{self.tokens[phone]}", sealed.manifest, dict(sealed.files)
        )
        assert response.status_code == 201, response.get_data(as_text=True)[:300]
        return instance_id

    def intake(
        self,
        phone: str,
        code: str = CODE,
        province: str | None = "01",
        commune: str | None = None,
        name: str = "Lò Thị Mai",
        **kwargs: object,
    ) -> str:
        """A vt01 intake of `code` as received in `province` / `commune`."""
        places = (f"<office_province>{province}</office_province>" if province else "") + (
            f"<office_commune>{commune}</office_commune>" if commune else ""
        )
        body = (
            f"<reception>{places}<reception_date>2025-03-02</reception_date>"
            f"<case_code>{code}</case_code></reception><core><sex>female</sex>"
            f"<age_years>19</age_years></core><pii><full_name>{name}</full_name></pii>"
        )
        return self.send(phone, "vt01_intake", body, **kwargs)  # type: ignore[arg-type]

    def followup(self, phone: str, status: str, code: str = CODE, **kwargs: object) -> str:
        """A vt05 visit of `code` leaving the case in `status`."""
        body = (
            f"<case_code>{code}</case_code><visit_date>2025-04-01</visit_date>"
            f"<case_status>{status}</case_status>"
        )
        return self.send(phone, "vt05_followup", body, **kwargs)  # type: ignore[arg-type]

    def outreach(self, phone: str, province: str, commune: str | None = None) -> str:
        """A vt06 outreach session (not encrypted, like the real form) held in a place."""
        instance_id = f"uuid:{uuid.uuid4()}"
        place = f"<province>{province}</province>" + (
            f"<commune>{commune}</commune>" if commune else ""
        )
        xml = (
            f'<data id="vt06_outreach" version="1">{place}<session_date>2025-04-02'
            f"</session_date><n_male>3</n_male><n_female>4</n_female>"
            f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
        ).encode()
        response = post_submission(self.app.test_client(), f"/c/{self.tokens[phone]}", xml)
        assert response.status_code == 201
        return instance_id


@pytest.fixture
def phones(deployment: Deployment) -> Phones:
    public_key = server_public_key(deployment.app)
    for form_id in ("vt01_intake", "vt05_followup"):
        publish(deployment.app, simple_xform(form_id=form_id, public_key=public_key))
    publish(deployment.app, simple_xform(form_id="vt06_outreach"))
    tokens = {
        name: (add_collector if name in CHECKED else add_unchecked_collector)(
            deployment.app, name, unit
        )[0]
        for name, unit in UNITS.items()
    }
    return Phones(deployment.app, public_key, tokens)


def _rows(store: Store) -> dict[str, Submission]:
    with store.session() as session:
        rows = session.scalars(select(Submission)).all()
        for row in rows:
            session.expunge(row)
        return {row.instance_id: row for row in rows}


def _check(store: Store, instance_id: str) -> str | None:
    return _rows(store)[instance_id].unit_check


def _case(store: Store, code: str = CODE):
    with store.session() as session:
        case = case_store.by_code(session, code)
        if case is not None:
            session.expunge(case)
        return case


def test_followup_before_its_intake_waits_then_counts(phones: Phones, store: Store) -> None:
    """A phone offline for a week sends its follow-up before the office's intake arrives."""
    followup = phones.followup("p01", "closed_reintegrated")
    assert _case(store) is None  # nothing projected yet, and nothing flagged
    assert _check(store, followup) == "awaiting_intake"
    phones.intake("p01", commune="00004")
    assert _check(store, followup) == "accepted"
    case = _case(store)
    assert case is not None
    assert (case.status, case.close_reason) == ("closed", "reintegrated")
    assert (case.province_code, case.commune_code) == ("01", "00004")
    # the follow-up is seen where its case is: by the commune's supervisor too
    assert _rows(store)[followup].commune_code == "00004"


def test_waiting_followup_of_another_unit_never_counts(phones: Phones, store: Store) -> None:
    followup = phones.followup("p02", "closed_deceased")
    phones.intake("p01")
    case = _case(store)
    assert case is not None
    assert case.status == "awaiting_verification"
    assert _check(store, followup) == "foreign_case"


def test_decrypted_together_the_first_received_intake_holds(
    phones: Phones, store: Store, config: Config, runner: CliRunner
) -> None:
    """Key locked: everything waits, then decrypt-pending decrypts and projects it in one
    batch. The order submissions were received in decides, not the dates on them."""
    locked = create_app(config.with_changes(key_passphrase=None), store)
    late = phones.followup("c00004", "follow_up", app=locked)
    first = phones.intake("c00004", commune="00004", app=locked)
    second = phones.intake("c00008", commune="00008", name="Tên Giả", app=locked)
    foreign = phones.followup("p02", "closed_deceased", app=locked)
    assert _case(store) is None
    result = runner.invoke(main, ["decrypt-pending"])
    assert result.output.strip().splitlines()[-1] == "4 decrypted, 0 pending"
    case = _case(store)
    assert case is not None
    assert (case.province_code, case.commune_code, case.status) == ("01", "00004", "follow_up")
    assert "ten gia" not in (case.search_text or "")
    checks = {i: _check(store, i) for i in (late, first, second, foreign)}
    assert checks == {
        late: "accepted",
        first: "accepted",
        second: "foreign_case",
        foreign: "foreign_case",
    }


def test_a_second_intake_from_another_unit_never_moves_the_case(
    phones: Phones, store: Store
) -> None:
    phones.intake("c00004", commune="00004")
    other_commune = phones.intake("c00008", commune="00008", name="Tên Giả")
    other_province = phones.intake("p02", province="02", name="Tên Giả")
    case = _case(store)
    assert case is not None
    assert (case.province_code, case.commune_code) == ("01", "00004")
    assert "ten gia" not in (case.search_text or "")
    assert _check(store, other_commune) == "foreign_case"
    assert _check(store, other_province) == "unit_mismatch"  # its case code is of province 01
    # the province around the commune may receive the person again: its intake counts, and
    # the case stays where it is held
    again = phones.intake("p01", commune="00008", name="Lò Thị Mai Hoa")
    assert _check(store, again) == "accepted"
    case = _case(store)
    assert case is not None
    assert (case.province_code, case.commune_code) == ("01", "00004")
    assert "lo thi mai hoa" in (case.search_text or "")
    with store.session() as session:
        periods = session.scalars(select(CaseHolding).where(CaseHolding.case_code == CODE)).all()
        assert [(p.seq, p.province_code, p.commune_code, p.source) for p in periods] == [
            (1, "01", "00004", "intake")
        ]


def test_commune_level_collectors(phones: Phones, store: Store) -> None:
    held = phones.intake("c00004", commune="00004")
    case = _case(store)
    assert case is not None
    # the commune and its province (from the admin units list)
    assert (case.province_code, case.commune_code) == ("01", "00004")
    with store.session() as session:
        assert case_store.in_scope(session, UnitScope.of_units(["00004"]), case.id) is not None
        assert case_store.in_scope(session, UnitScope.of_units(["01"]), case.id) is not None
        assert case_store.in_scope(session, UnitScope.of_units(["00008"]), case.id) is None
        assert case_store.in_scope(session, UnitScope.of_units(["02"]), case.id) is None
    assert _rows(store)[held].province_code == "01"
    other = case_code.make("01", 2025, "00043")
    wrong_commune = phones.intake("c00004", other, commune="00008")
    wrong_province = phones.intake("c00004", other, province="04")
    unknown = phones.intake("c77777", other, commune="77777")
    far_commune = phones.intake("p01", other, commune="26740")  # Sài Gòn, a commune of province 79
    assert _case(store, other) is None  # none of them opened the case
    assert _check(store, wrong_commune) == "unit_mismatch"
    assert _check(store, wrong_province) == "unit_mismatch"
    assert _check(store, unknown) == "unit_unknown"  # no province to check it against
    assert (_rows(store)[unknown].province_code, _rows(store)[unknown].commune_code) == (
        None,
        "77777",
    )
    # a province-level phone may name a commune of its province, not one of another
    assert _check(store, far_commune) == "unit_mismatch"
    kept = phones.intake("p01", other, commune="00007")  # not in the list: not recorded
    assert _check(store, kept) == "accepted"
    found = _case(store, other)
    assert found is not None
    assert (found.province_code, found.commune_code) == ("01", None)


def test_an_encrypted_edit_from_another_unit_replaces_nothing(phones: Phones, store: Store) -> None:
    """The deprecatedID of an encrypted edit is inside its XML: linked once decrypted, and
    only from the unit that sent the original."""
    original = phones.intake("p01", commune="00004")
    foreign = phones.intake("p02", province="02", name="Tên Giả", deprecated_id=original)
    inside = phones.intake("c00004", commune="00004", name="Tên Giả", deprecated_id=original)
    rows = _rows(store)
    assert rows[original].superseded_by_id is None
    assert (rows[foreign].unit_check, rows[inside].unit_check) == ("foreign_edit", "foreign_edit")
    assert rows[foreign].deprecated_id == original  # the link is known, and refused
    case = _case(store)
    assert case is not None
    assert "ten gia" not in (case.search_text or "")
    mine = phones.intake("p01", commune="00004", name="Lò Thị Mai Hoa", deprecated_id=original)
    assert _rows(store)[original].superseded_by_id == _rows(store)[mine].id
    case = _case(store)
    assert case is not None
    assert "lo thi mai hoa" in (case.search_text or "")


def test_collectors_without_a_unit_and_unit_forms(phones: Phones, store: Store) -> None:
    intake = phones.intake("nounit")
    followup = phones.followup("nounit", "closed_deceased")
    assert _case(store) is None
    assert (_check(store, intake), _check(store, followup)) == ("no_unit", "no_unit")
    assert _check(store, phones.outreach("nounit", "01")) == "no_unit"
    assert _check(store, phones.outreach("p02", "01")) == "unit_mismatch"
    assert _check(store, phones.outreach("c00004", "01", "00008")) == "unit_mismatch"
    counted = phones.outreach("p01", "01", "00004")
    assert _check(store, counted) == "accepted"
    assert (_rows(store)[counted].province_code, _rows(store)[counted].commune_code) == (
        "01",
        "00004",
    )
    # only the accepted session counts, in unit 01's figures and nowhere else
    period = parse_period("2025")
    everything = dashboard.figures(store, UnitScope.all_units(), period)
    unit_b = dashboard.figures(store, UnitScope.of_units(["02"]), period)
    assert (everything.outreach_sessions, everything.outreach_participants) == (1, 7)
    assert unit_b.outreach_sessions == 0


def test_a_case_changes_unit_only_by_a_transfer(phones: Phones, store: Store) -> None:
    from server.services import holdings

    before = phones.followup("p01", "follow_up")
    phones.intake("p01")
    with store.session() as session, pytest.raises(Problem):
        holdings.transfer(session, CODE, "1", "admin")  # not a unit code
    with store.session() as session:
        assert holdings.transfer(session, CODE, "02", "admin").code == "02"
    case = _case(store)
    assert case is not None
    assert (case.province_code, case.status) == ("02", "follow_up")
    # what unit 01 sent before the transfer still counts; from now on only unit 02 acts on it
    assert _check(store, before) == "accepted"
    assert _rows(store)[before].province_code == "01"
    late = phones.followup("p01", "closed_deceased")
    assert _check(store, late) == "foreign_case"
    assert _case(store).status == "follow_up"  # type: ignore[union-attr]
    phones.followup("p02", "closed_reintegrated")
    assert _case(store).status == "closed"  # type: ignore[union-attr]
    with store.session() as session:
        entry = audit.recent(session, 1, "case.transfer")[0]
        assert entry.actor == "admin"
        assert entry.detail == {"case_code": CODE, "from": "01", "to": "02"}
        with pytest.raises(Problem):
            holdings.transfer(session, "01-2025-99999-00", "02", "admin")  # never held


def test_rebuild_judges_everything_again(phones: Phones, store: Store, runner: CliRunner) -> None:
    """After the upgrade to this rule nothing is judged yet: `fieldcase cases rebuild` judges
    every submission and projects every case, with the same result as on arrival."""
    phones.intake("p01", commune="00004")
    phones.followup("p02", "closed_deceased")
    phones.outreach("p02", "01")
    judged = {i: r.unit_check for i, r in _rows(store).items()}
    with store.session() as session:
        session.execute(update(Submission).values(unit_check=None))
        session.query(CaseHolding).delete()
    result = runner.invoke(main, ["cases", "rebuild"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        "1 case codes projected, 1 other submissions checked, "
        "2 submissions held back by the unit rule"
    )
    assert {i: r.unit_check for i, r in _rows(store).items()} == judged
    case = _case(store)
    assert case is not None
    assert (case.province_code, case.commune_code, case.status) == (
        "01",
        "00004",
        "awaiting_verification",
    )


def test_migration_0003_gives_old_submissions_their_collectors_unit(config: Config) -> None:
    """Upgrading a store that holds submissions: each acts in its collector's unit."""
    from alembic import command
    from sqlalchemy import text

    fresh = Store(config.database_url)
    alembic_config = fresh._alembic_config()
    with fresh.engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "0002")
    with fresh.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO collectors (id, name, token_sha256, unit_code, created_at) VALUES "
                "(1, 'a', 'x', '01', :now), (2, 'b', 'y', NULL, :now)"
            ),
            {"now": "2025-01-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO forms (id, xml_form_id, title, encrypted, created_at) "
                "VALUES (1, 'f', 'f', false, :now)"
            ),
            {"now": "2025-01-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO form_versions (id, form_id, version, xml, md5, published_at) "
                "VALUES (1, 1, '1', '<x/>', 'm', :now)"
            ),
            {"now": "2025-01-01 00:00:00"},
        )
        for n, collector in ((1, 1), (2, 2), (3, None)):
            connection.execute(
                text(
                    "INSERT INTO submissions (id, form_id, form_version_id, instance_id, "
                    "collector_id, received_at, updated_at, manifest_sha256, encrypted, "
                    "decrypt_state, review_state) VALUES (:id, 1, 1, :instance, :collector, "
                    ":now, :now, 'm', false, 'pending', 'received')"
                ),
                {"id": n, "instance": f"uuid:{n}", "collector": collector, "now": "2025-01-01"},
            )
    fresh.migrate()
    with fresh.engine.connect() as connection:
        found = dict(connection.execute(text("SELECT id, unit_code FROM submissions")).all())
    assert found == {1: "01", 2: None, 3: None}
    fresh.dispose()
