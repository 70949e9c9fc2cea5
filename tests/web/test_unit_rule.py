"""A phone of another unit cannot take over, close or plant cases (issue 13, item 2).

Replays what an outside attack did to a running server with two units, through the OpenRosa
routes a phone uses: phone B (unit 02) sent an intake reusing unit 01's case code, a follow-up
closing that case as deceased, and an edit (deprecatedID) replacing its intake. Each must be
kept, flagged, and change nothing; unit 01's supervisor keeps the case as it was, and unit 02's
supervisor finds no value of unit 01's victim anywhere: case list, search, case pages,
submission pages (even revealed), exports.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from exports.register import write_register
from server.clock import utcnow
from server.services.forms import publish_xform
from server.store import cases as case_store
from server.store import forms as form_store
from server.store.models import Submission
from server.store.scope import UnitScope
from tests.factories import post_submission
from tests.web.builders import (
    PEOPLE,
    Person,
    followup_instance,
    followup_xform,
    intake_instance,
)
from tests.web.conftest import WebDeployment, build_deployment

VICTIM = PEOPLE[0]  # Nguyễn Thị Lan, case 01-2025-aaaaaa, unit 01 (commune 00004)
VICTIM_VALUES = [
    VICTIM.full_name,
    VICTIM.phone,
    VICTIM.id_number,
    VICTIM.address,
    *(minor[2] for minor in VICTIM.minors),
]
ATTACKER_NAME = "Kẻ Mạo Danh"
REASON = {"reason": "Checking what this phone sent"}


@pytest.fixture
def web(database_url: str, tmp_path: Path) -> Iterator[WebDeployment]:
    """A seeded deployment of its own (the attacks change it), with vt05 published."""
    deployment = build_deployment(tmp_path / "data", database_url)
    with deployment.store.session() as session:
        publish_xform(session, deployment.services.blobs, followup_xform(), {}, "test")
        form = form_store.by_xml_form_id(session, "vt05_followup")
        assert form is not None
        for collector_id in deployment.seeded.phone_ids.values():
            form_store.assign(session, collector_id, form.id)
    yield deployment
    deployment.store.dispose()


def _send(web: WebDeployment, unit: str, xml: bytes, files: dict[str, bytes] | None = None):
    """POST as the phone of `unit` does, to its own server URL."""
    token = web.seeded.phone_tokens[unit]
    response = post_submission(web.app.test_client(), f"/c/{token}", xml, files)
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    return response


def _submission(web: WebDeployment, instance_id: str) -> Submission:
    with web.store.session() as session:
        return session.scalars(
            select(Submission).where(Submission.instance_id == instance_id)
        ).one()


def _instance_id(xml: bytes) -> str:
    found = re.search(rb"<instanceID>([^<]+)</instanceID>", xml)
    assert found
    return found.group(1).decode()


def _case(web: WebDeployment, code: str = VICTIM.case_code):
    with web.store.session() as session:
        case = case_store.by_code(session, code)
        assert case is not None, f"case {code} is gone"
        session.expunge(case)
        return case


def _unit_a_keeps_its_case(web: WebDeployment) -> None:
    """Unit 01's supervisor sees the case as its own intake made it, nothing of the attack."""
    case = _case(web)
    assert (case.province_code, case.commune_code) == ("01", "00004")
    assert case.status == "awaiting_verification"
    assert case.closed_on is None
    sup_a = web.new_client("sup_a")
    assert VICTIM.case_code in sup_a.get("/cases").get_data(as_text=True)
    assert VICTIM.case_code in sup_a.post("/cases", {"q": "nguyen thi lan"}).get_data(as_text=True)
    # the attacker's name never entered the case's search words
    assert VICTIM.case_code not in sup_a.post("/cases", {"q": "ke mao danh"}).get_data(as_text=True)
    assert sup_a.post(f"/cases/{case.id}/reveal", REASON).status_code == 302
    page = sup_a.get(f"/cases/{case.id}").get_data(as_text=True)
    assert VICTIM.full_name in page
    assert VICTIM.id_number in page
    assert ATTACKER_NAME not in page
    # its timeline holds its own intake only
    assert f"/submissions/{web.seeded.submission_ids[VICTIM.case_code]}" in page
    assert len(re.findall(r'class="event event-', page)) == 1


def _pages_of(client, html_urls: list[str]) -> list[str]:
    pages = []
    for url in html_urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.get_data(as_text=True))
    return pages


def _unit_b_sees_nothing_of_unit_a(web: WebDeployment) -> None:
    """Unit 02's supervisor: no case of unit 01, no value of its victim, anywhere."""
    case = _case(web)
    sup_b = web.new_client("sup_b")
    assert sup_b.get(f"/cases/{case.id}").status_code == 404
    listing = sup_b.get("/cases").get_data(as_text=True)
    assert VICTIM.case_code not in listing
    for words in ("nguyen thi lan", "lan", "0912", "001190012345", "hang bac"):
        found = sup_b.post("/cases", {"q": words}).get_data(as_text=True)
        assert VICTIM.case_code not in found, words
    # every case and submission page unit 02 can reach, with identifying fields revealed
    own_cases = sorted(set(re.findall(r'href="/cases/(\d+)"', listing)))
    for case_id in own_cases:
        assert sup_b.post(f"/cases/{case_id}/reveal", REASON).status_code == 302
    pages = _pages_of(sup_b, [f"/cases/{case_id}" for case_id in own_cases])
    submission_ids: set[str] = set()
    for form_id in ("vt01_intake", "vt05_followup", "vt06_outreach"):
        table = sup_b.get(f"/forms/{form_id}/submissions").get_data(as_text=True)
        submission_ids |= set(re.findall(r'href="/submissions/(\d+)"', table))
    assert submission_ids, "unit 02 sees its own submissions"
    assert str(web.seeded.submission_ids[VICTIM.case_code]) not in submission_ids
    for submission_id in sorted(submission_ids):
        sup_b.post(f"/submissions/{submission_id}/reveal", REASON)
    pages += _pages_of(sup_b, [f"/submissions/{i}" for i in sorted(submission_ids)])
    for form_id in ("vt01_intake", "vt05_followup"):
        response = sup_b.get(f"/exports/forms/{form_id}.zip")
        assert response.status_code == 200
        with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
            pages += [archive.read(name).decode("utf-8", "replace") for name in archive.namelist()]
    report = sup_b.get("/exports/report.xlsx?period=" + str(utcnow().year))
    with zipfile.ZipFile(io.BytesIO(report.data)) as workbook:
        pages += [workbook.read(name).decode("utf-8", "replace") for name in workbook.namelist()]
    for text in pages:
        for value in VICTIM_VALUES:
            assert value not in text
    # the case register of unit 02 with identifiers (an audited CLI export) neither
    register = Path(web.config.data_dir) / "register-02.csv"
    write_register(web.store, register, scope=UnitScope.of_units(["02"]), include_identifiers=True)
    written = register.read_text(encoding="utf-8")
    assert VICTIM.case_code not in written
    assert not any(value in written for value in VICTIM_VALUES)


def _flag_shown_to_admins(web: WebDeployment, submission_id: int, flag_vi: str) -> str:
    admin = web.new_client("admin")
    queue = admin.get("/admin/unit-queue").get_data(as_text=True)
    assert f'href="/submissions/{submission_id}"' in queue
    assert flag_vi in queue
    for value in [*VICTIM_VALUES, ATTACKER_NAME]:
        assert value not in queue  # the queue shows units and codes, never a value
    assert flag_vi in admin.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert "Phiếu bị giữ lại do sai đơn vị: 1" in admin.get("/").get_data(as_text=True)
    for supervisor in ("sup_a", "sup_b"):  # the count is the admins'
        dashboard = web.new_client(supervisor).get("/").get_data(as_text=True)
        assert "Phiếu bị giữ lại do sai đơn vị" not in dashboard
    return queue


@pytest.mark.parametrize("answered_province", ["02", "01"])
def test_intake_from_another_unit_cannot_take_a_case_over(
    web: WebDeployment, answered_province: str
) -> None:
    attacker = Person(VICTIM.case_code, answered_province, "", ATTACKER_NAME, "0999 000 999")
    xml = intake_instance(attacker, utcnow().date())
    _send(web, "02", xml, {"photo.png": b"\x89PNG\r\n\x1a\n"})
    _unit_a_keeps_its_case(web)
    _unit_b_sees_nothing_of_unit_a(web)
    flagged = _submission(web, _instance_id(xml))
    assert flagged.unit_check == "unit_mismatch"
    assert (flagged.province_code, flagged.commune_code) == ("02", None)  # the phone's unit
    queue = _flag_shown_to_admins(web, flagged.id, "Thông tin khai báo thuộc đơn vị khác")
    assert "01-…" in queue  # the unit the case code names, beside the phone's unit
    # the phone's own unit sees what its phone sent, and that it was held back
    page = web.new_client("sup_b").get(f"/submissions/{flagged.id}").get_data(as_text=True)
    assert "Thông tin khai báo thuộc đơn vị khác" in page
    assert web.new_client("sup_a").get(f"/submissions/{flagged.id}").status_code == 404


def test_followup_from_another_unit_cannot_close_a_case(web: WebDeployment) -> None:
    xml = followup_instance(VICTIM.case_code, utcnow().date(), "closed_deceased")
    _send(web, "02", xml)
    _unit_a_keeps_its_case(web)
    _unit_b_sees_nothing_of_unit_a(web)
    flagged = _submission(web, _instance_id(xml))
    assert flagged.unit_check == "foreign_case"
    queue = _flag_shown_to_admins(web, flagged.id, "Hồ sơ của đơn vị khác")
    assert "01/00004" in queue  # the unit holding the case
    # the phone's unit learns its submission was held back, not which unit holds the case
    page = web.new_client("sup_b").get(f"/submissions/{flagged.id}").get_data(as_text=True)
    assert "Hồ sơ của đơn vị khác" in page
    assert "01/00004" not in page
    # in English too
    admin = web.new_client("admin")
    admin.post("/lang", {"lang": "en", "next": "/"})
    english = admin.get("/admin/unit-queue").get_data(as_text=True)
    assert "Case of another unit" in english
    assert "Submissions held back by the unit rule" in english
    # the same follow-up from unit 01's phone does close it: the rule, not the form, refused
    _send(web, "01", followup_instance(VICTIM.case_code, utcnow().date(), "closed_deceased"))
    assert _case(web).status == "closed"


def test_edit_from_another_unit_cannot_replace_a_submission(web: WebDeployment) -> None:
    original_id = web.seeded.submission_ids[VICTIM.case_code]
    with web.store.session() as session:
        original = session.get(Submission, original_id)
        assert original is not None
        named = original.instance_id
    attacker = Person(VICTIM.case_code, "01", "00004", ATTACKER_NAME, "0999 000 999")
    xml = intake_instance(attacker, utcnow().date(), deprecated_id=named)
    _send(web, "02", xml, {"photo.png": b"\x89PNG\r\n\x1a\n"})
    assert _submission(web, named).superseded_by_id is None  # the original stays current
    _unit_a_keeps_its_case(web)
    _unit_b_sees_nothing_of_unit_a(web)
    edit = _submission(web, _instance_id(xml))
    # its own unit's page of it does not lead to the submission it named
    page = web.new_client("sup_b").get(f"/submissions/{edit.id}").get_data(as_text=True)
    assert f"/submissions/{original_id}" not in page
    assert edit.unit_check == "foreign_edit"
    queue = _flag_shown_to_admins(web, edit.id, "Sửa phiếu của đơn vị khác")
    assert '<td class="code-text">01</td>' in queue  # the unit of the submission it names
    # unit 01's own phone may edit it
    mine = intake_instance(VICTIM, utcnow().date(), deprecated_id=named)
    _send(web, "01", mine, {"photo.png": b"\x89PNG\r\n\x1a\n"})
    assert _submission(web, named).superseded_by_id == _submission(web, _instance_id(mine)).id


def test_the_three_attacks_together(web: WebDeployment) -> None:
    """All at once, in the order the outside attack used, then projected again (a review
    state change and a full rebuild): nothing of it ever reaches unit 01's case."""
    from server.services import cases as case_service

    today = utcnow().date()
    with web.store.session() as session:
        original = session.get(Submission, web.seeded.submission_ids[VICTIM.case_code])
        assert original is not None
        named = original.instance_id
    attacker = Person(VICTIM.case_code, "02", "", ATTACKER_NAME, "0999 000 999")
    _send(web, "02", intake_instance(attacker, today))
    _send(web, "02", followup_instance(VICTIM.case_code, today, "closed_deceased"))
    _send(web, "02", intake_instance(attacker, today, deprecated_id=named))
    admin = web.new_client("admin")
    for submission_id in re.findall(
        r'href="/submissions/(\d+)"', admin.get("/admin/unit-queue").get_data(as_text=True)
    ):
        # an admin approving a flagged submission is no override: it still acts nowhere
        admin.post(f"/submissions/{submission_id}/review", {"review_state": "approved"})
    case_service.rebuild_all(web.store)
    _unit_a_keeps_its_case(web)
    _unit_b_sees_nothing_of_unit_a(web)
    with web.store.session() as session:
        checks = sorted(
            session.scalars(
                select(Submission.unit_check).where(
                    Submission.collector_id == web.seeded.phone_ids["02"]
                )
            )
        )
    assert checks == ["accepted", "foreign_case", "foreign_edit", "unit_mismatch"]
