"""The submission table, the submission page (labels, choices, repeats, files) and review."""

from __future__ import annotations

import hashlib

from server.clock import utcnow
from server.store import audit
from server.store import submissions as submission_store
from server.store.models import Submission
from server.store.scope import UnitScope
from server.store.submissions import SubmissionFilter
from tests.web.builders import PEOPLE, PHOTO, intake_instance
from tests.web.conftest import WebDeployment

TABLE = "/forms/vt01_intake/submissions"


def test_table_shows_only_the_users_units(web: WebDeployment) -> None:
    page_a = web.client("sup_a").get(TABLE).get_data(as_text=True)
    assert "01-2025-aaaaaa" in page_a
    assert "02-2025-bbbbbb" not in page_a
    page_b = web.client("sup_b").get(TABLE).get_data(as_text=True)
    assert "02-2025-bbbbbb" in page_b
    assert "01-2025-aaaaaa" not in page_b
    forms = web.client("sup_b").get("/submissions").get_data(as_text=True)
    assert "vt01_intake" in forms


def test_table_filters(web: WebDeployment) -> None:
    admin = web.client("admin")
    today = utcnow().date().isoformat()
    page = admin.get(f"{TABLE}?unit=00008").get_data(as_text=True)
    assert "01-2025-cccccc" in page
    assert "01-2025-aaaaaa" not in page
    page = admin.get(f"{TABLE}?from={today}&to={today}").get_data(as_text=True)
    assert "01-2025-aaaaaa" in page
    page = admin.get(f"{TABLE}?to=2000-01-01").get_data(as_text=True)
    assert "01-2025-aaaaaa" not in page
    page = admin.get(f"{TABLE}?state=approved&collector={web.seeded.collector_id}")
    assert page.status_code == 200
    assert admin.get(f"{TABLE}?from=yesterday").status_code == 400
    assert admin.get("/forms/no_such_form/submissions").status_code == 404


def test_keyset_paging_of_submissions(web: WebDeployment) -> None:
    with web.store.session() as session:
        reference = submission_store.by_id(session, web.seeded.submission_ids["02-2025-bbbbbb"])
        assert reference is not None
        form_id, version_id = reference.form_id, reference.form_version_id
        for n in range(120):
            session.add(
                Submission(
                    form_id=form_id,
                    form_version_id=version_id,
                    instance_id=f"uuid:page-{n}",
                    manifest_sha256=hashlib.sha256(str(n).encode()).hexdigest(),
                    encrypted=False,
                    decrypt_state="pending",
                    decrypt_reason="waiting for part x.enc",
                    review_state="has_issues" if n % 3 == 0 else "received",
                    province_code="02",
                    commune_code="00100",
                )
            )
    scope = UnitScope.of_units(["02"])
    with web.store.session() as session:
        filters = SubmissionFilter(review_state="has_issues")
        seen: list[int] = []
        before = None
        while rows := submission_store.table_page(session, scope, form_id, filters, before, 17):
            seen += [row.id for row in rows]
            before = rows[-1].id
        assert len(seen) == len(set(seen)) == 40
        assert submission_store.table_count(session, scope, form_id, filters) == 40
    page = web.client("sup_b").get(TABLE).get_data(as_text=True)
    assert 'id="next-page"' in page


def test_submission_page_in_vietnamese_and_english(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["01-2025-aaaaaa"]
    client = web.new_client("sup_a")
    page = client.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert "Hình thức tiếp nhận" in page
    assert "Phía nước ngoài trao trả" in page
    assert "Bóc lột tình dục, Cưỡng bức lao động" in page  # select_multiple decoded
    assert "Người dưới 18 tuổi đi cùng" in page
    assert "<table" in page
    assert f'<img src="/submissions/{submission_id}/files/photo.png"' in page
    assert "Nguyễn Thị Lan" not in page
    assert "Nguyễn Văn Tí" not in page
    assert client.post("/lang", {"lang": "en", "next": "/"}).status_code == 302
    page = client.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert "Reception channel" in page
    assert "Handed over by a foreign authority" in page
    assert "Sexual exploitation, Forced labour" in page
    assert "Accompanying persons under 18" in page
    assert 'lang="en"' in page


def test_submission_file_is_served(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["01-2025-aaaaaa"]
    response = web.client("sup_a").get(f"/submissions/{submission_id}/files/photo.png")
    assert response.status_code == 200
    assert response.data == PHOTO
    assert response.headers["Content-Type"] == "image/png"
    assert (
        web.client("sup_a").get(f"/submissions/{submission_id}/files/other.png").status_code == 404
    )


def test_encrypted_files_are_not_viewable(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["01-2025-cccccc"]
    with web.store.session() as session:
        submission = submission_store.by_id(session, submission_id)
        submission.encrypted = True  # type: ignore[union-attr]
    try:
        client = web.client("admin")
        page = client.get(f"/submissions/{submission_id}").get_data(as_text=True)
        assert "not viewable" in page or "chưa xem được" in page
        assert client.get(f"/submissions/{submission_id}/files/photo.png").status_code == 404
    finally:
        with web.store.session() as session:
            submission_store.by_id(session, submission_id).encrypted = False  # type: ignore[union-attr]


def test_viewing_a_submission_is_audited(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["02-2025-bbbbbb"]
    web.client("sup_b").get(f"/submissions/{submission_id}")
    with web.store.session() as session:
        entry = audit.recent(session, 1, "submission.view")[0]
    assert (entry.actor, entry.target) == ("sup_b", f"submission:{submission_id}")


def test_reveal_on_a_submission(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["02-2025-bbbbbb"]
    client = web.new_client("sup_b")
    assert (
        client.post(
            f"/submissions/{submission_id}/reveal", {"reason": "Checking the identity document"}
        ).status_code
        == 302
    )
    page = client.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert "Nguyễn Thị Hoa" in page


def test_approve_with_comment(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["01-2025-aaaaaa"]
    client = web.client("sup_a")
    response = client.post(
        f"/submissions/{submission_id}/review",
        {"review_state": "approved", "comment": "Checked with the paper file"},
    )
    assert response.status_code == 302
    page = client.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert 'id="review-state">Đã duyệt' in page or 'id="review-state">Approved' in page
    assert "Checked with the paper file" in page
    with web.store.session() as session:
        entry = audit.recent(session, 1, "submission.review")[0]
    assert entry.detail == {"from": "received", "to": "approved", "commented": True}
    assert (
        client.post(
            f"/submissions/{submission_id}/review", {"review_state": "not-a-state"}
        ).status_code
        == 302
    )


def test_rejecting_takes_the_submission_out_of_its_case(web: WebDeployment) -> None:
    submission_id = web.seeded.submission_ids["01-2025-cccccc"]
    case_id = web.seeded.case_ids["01-2025-cccccc"]
    admin = web.client("admin")
    admin.post(f"/submissions/{submission_id}/review", {"review_state": "rejected"})
    assert admin.get(f"/cases/{case_id}").status_code == 200  # refused: a reason is needed
    admin.post(
        f"/submissions/{submission_id}/review",
        {"review_state": "rejected", "comment": "Duplicate of a paper record"},
    )
    assert admin.get(f"/cases/{case_id}").status_code == 404  # its only submission is out
    admin.post(
        f"/submissions/{submission_id}/review",
        {"review_state": "approved", "comment": "Not a duplicate after all"},
    )
    assert "01-2025-cccccc" in admin.get("/cases").get_data(as_text=True)


def test_edit_history(web: WebDeployment) -> None:
    person = PEOPLE[2]
    services = web.services
    with web.store.session() as session:
        original = submission_store.by_id(session, web.seeded.submission_ids[person.case_code])
        old_instance = original.instance_id  # type: ignore[union-attr]
    from server.services import collectors as collector_service

    with web.store.session() as session:  # edited on the phone of the unit that sent it
        collector = collector_service.authenticate(session, web.seeded.phone_tokens["02"])
    result = services.receive_submission(
        collector, intake_instance(person, utcnow().date(), deprecated_id=old_instance), []
    )
    page = web.client("sup_b").get(f"/submissions/{result.submission_id}").get_data(as_text=True)
    assert f"/submissions/{web.seeded.submission_ids[person.case_code]}" in page
    assert "Các phiên bản" in page or "Versions" in page


def test_encrypted_media_is_decrypted_on_the_fly(web: WebDeployment) -> None:
    import io

    from crypto.encrypt import encrypt_submission
    from crypto.keys import load_public_key
    from server.services import collectors as collector_service
    from server.services.forms import publish_xform
    from server.services.ingest import IncomingPart
    from server.store import forms as form_store
    from server.store import keys as key_store
    from tests.factories import simple_xform

    services = web.services
    with web.store.session() as session:
        key = key_store.active(session)
        assert key is not None
        publish_xform(
            session,
            services.blobs,
            simple_xform("vt_enc", "1", public_key=key.public_key_b64),
            {},
            "test",
        )
        form = form_store.by_xml_form_id(session, "vt_enc")
        form_store.assign(session, web.seeded.collector_id, form.id)  # type: ignore[union-attr]
        collector = collector_service.authenticate(session, web.seeded.collector_token)
        public_key = load_public_key(key.public_key_b64)
    photo = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 100
    instance_id = "uuid:enc-media-1"
    xml = (
        f'<data id="vt_enc" version="1"><case_code>09-2025-eeeeee</case_code>'
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()
    encrypted = encrypt_submission(
        public_key, "vt_enc", "1", instance_id, xml, [("photo.jpg", photo)]
    )
    result = services.receive_submission(
        collector,
        encrypted.manifest,
        [
            IncomingPart(name, io.BytesIO(content), "application/octet-stream")
            for name, content in encrypted.files
        ],
    )
    admin = web.client("admin")
    response = admin.get(f"/submissions/{result.submission_id}/files/photo.jpg")
    assert response.status_code == 200
    assert response.data == photo
    assert response.headers["Content-Type"] == "image/jpeg"
    page = admin.get(f"/submissions/{result.submission_id}").get_data(as_text=True)
    assert f"/submissions/{result.submission_id}/files/photo.jpg" in page
