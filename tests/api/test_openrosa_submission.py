"""Submissions: every OpenRosa rule, plain XML (encrypted ones: test_encrypted_ingest.py)."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from server.store import cases as case_store
from server.store.models import Submission, SubmissionPart
from tests.factories import Deployment, plain_instance, post_submission, publish, services_of

OR = {"X-OpenRosa-Version": "1.0"}


def _count(deployment: Deployment, model: type) -> int:
    with services_of(deployment.app).store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_head_answers_204_with_accepted_length(deployment: Deployment) -> None:
    response = deployment.client.head(f"{deployment.url_prefix}/submission", headers=OR)
    assert response.status_code == 204
    assert int(response.headers["X-OpenRosa-Accept-Content-Length"]) > 10_000_000
    assert response.headers["X-OpenRosa-Version"] == "1.0"


def test_new_submission_is_201_then_202_on_repeat(deployment: Deployment) -> None:
    xml = plain_instance(instance_id="uuid:one")
    first = post_submission(deployment.client, deployment.url_prefix, xml)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert "<OpenRosaResponse" in first.get_data(as_text=True)
    again = post_submission(deployment.client, deployment.url_prefix, xml)
    assert again.status_code == 202
    assert _count(deployment, Submission) == 1


def test_plain_submission_is_parsed_and_projected(deployment: Deployment) -> None:
    xml = plain_instance(case_code="01-2025-abcdef", minors=2)
    assert post_submission(deployment.client, deployment.url_prefix, xml).status_code == 201
    with services_of(deployment.app).store.session() as session:
        submission = session.scalars(select(Submission)).one()
        assert submission.decrypt_state == "decrypted"
        assert submission.data["full_name"] == "Nguyễn Thị Lan"
        assert [m["minor_age_years"] for m in submission.data["minors"]] == ["5", "6"]
        assert submission.case_code == "01-2025-abcdef"


def test_different_xml_under_known_instance_is_409_and_changes_nothing(
    deployment: Deployment,
) -> None:
    post_submission(
        deployment.client,
        deployment.url_prefix,
        plain_instance(instance_id="uuid:two", full_name="A"),
    )
    response = post_submission(
        deployment.client,
        deployment.url_prefix,
        plain_instance(instance_id="uuid:two", full_name="B"),
        files={"extra.jpg": b"jpeg"},
    )
    assert response.status_code == 409
    assert "was not stored" in response.get_data(as_text=True)
    with services_of(deployment.app).store.session() as session:
        submission = session.scalars(select(Submission)).one()
        assert submission.data["full_name"] == "A"
        names = session.scalars(select(SubmissionPart.name)).all()
        assert "extra.jpg" not in names


def test_split_upload_adds_missing_parts(deployment: Deployment) -> None:
    xml = plain_instance(instance_id="uuid:split")
    client, prefix = deployment.client, deployment.url_prefix
    assert post_submission(client, prefix, xml, {"a.jpg": b"A"}).status_code == 201
    assert post_submission(client, prefix, xml, {"b.jpg": b"B", "a.jpg": b"A"}).status_code == 202
    with services_of(deployment.app).store.session() as session:
        names = sorted(session.scalars(select(SubmissionPart.name)).all())
    assert names == ["a.jpg", "b.jpg", "xml_submission_file"]


def test_deprecated_id_supersedes_and_keeps_the_old(deployment: Deployment) -> None:
    from tests.factories import add_collector, simple_xform

    publish(deployment.app, simple_xform(form_id="vt01_intake"))
    token, _ = add_collector(deployment.app, "phone-intake")
    client, prefix = deployment.client, f"/c/{token}"
    first = plain_instance(form_id="vt01_intake", instance_id="uuid:v1", full_name="Cũ")
    assert post_submission(client, prefix, first).status_code == 201
    edited = plain_instance(
        form_id="vt01_intake", instance_id="uuid:v2", deprecated_id="uuid:v1", full_name="Mới"
    )
    assert post_submission(client, prefix, edited).status_code == 201
    with services_of(deployment.app).store.session() as session:
        old, new = session.scalars(select(Submission).order_by(Submission.id)).all()
        assert old.superseded_by_id == new.id
        assert new.deprecated_id == "uuid:v1"
        case = case_store.by_code(session, "01-2025-aaaaaa")
        assert case is not None
        assert "moi" in (case.search_text or "")
        assert "cu" not in (case.search_text or "").split()


def test_unknown_form_unknown_version_unassigned(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    unknown = post_submission(client, prefix, plain_instance(form_id="nope"))
    assert unknown.status_code == 404
    version = post_submission(client, prefix, plain_instance(version="99"))
    assert version.status_code == 400
    assert "not published" in version.get_data(as_text=True)
    from tests.factories import simple_xform

    publish(deployment.app, simple_xform(form_id="vt_other"))
    unassigned = post_submission(client, prefix, plain_instance(form_id="vt_other"))
    assert unassigned.status_code == 403
    assert _count(deployment, Submission) == 0


def test_form_ids_compare_after_nfc(deployment: Deployment) -> None:
    from tests.factories import simple_xform

    composed = "bi\u1ec3u_m\u1eabu"  # "biểu_mẫu", composed
    decomposed = "bie\u0302\u0309u_ma\u0302\u0303u"
    publish(deployment.app, simple_xform(form_id=composed))
    from server.services import collectors as collector_service

    with services_of(deployment.app).store.session() as session:
        created = collector_service.create(session, "http://x", "phone-2", "01", "t")
    response = post_submission(
        deployment.client, f"/c/{created.token}", plain_instance(form_id=decomposed)
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_hostile_inputs_are_refused_and_store_nothing(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><data id="vt_test">&lol2;</data>'
    )
    assert post_submission(client, prefix, laughs).status_code == 400
    external = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<data id="vt_test">&x;</data>'
    )
    assert post_submission(client, prefix, external).status_code == 400
    assert post_submission(client, prefix, b"<data id='vt_test'>").status_code == 400
    no_instance = b'<data id="vt_test" version="1"><meta/></data>'
    assert post_submission(client, prefix, no_instance).status_code == 400
    for bad_name in ("../evil.jpg", "/etc/x.jpg", ".hidden", "x\x01.jpg"):
        response = post_submission(client, prefix, plain_instance(), {bad_name: b"x"})
        assert response.status_code == 400, bad_name
    # A backslash must reach the server escaped inside the quoted file name.
    raw = (
        b'--B\r\nContent-Disposition: form-data; name="xml_submission_file"; '
        b'filename="submission.xml"\r\nContent-Type: text/xml\r\n\r\n'
        + plain_instance()
        + b'\r\n--B\r\nContent-Disposition: form-data; name="a\\\\b.jpg"; '
        b'filename="a\\\\b.jpg"\r\n\r\nx\r\n--B--\r\n'
    )
    backslash = client.post(
        f"{prefix}/submission", data=raw, headers=OR, content_type="multipart/form-data; boundary=B"
    )
    assert backslash.status_code == 400
    missing = client.post(
        f"{prefix}/submission", data={"other": "x"}, content_type="multipart/form-data", headers=OR
    )
    assert missing.status_code == 400
    not_multipart = client.post(
        f"{prefix}/submission", data=b"<data/>", content_type="text/xml", headers=OR
    )
    assert not_multipart.status_code == 415
    part = b'--B\r\nContent-Disposition: form-data; name="xml_submission_file"; filename='
    for body, why in (
        (part + b'"\xff\xfe.xml"\r\n\r\n<x/>\r\n--B--\r\n', "file name not UTF-8"),
        (part + b'"s.xml"\r\n\r\n' + plain_instance(), "body cut off before its end"),
    ):
        broken = client.post(
            f"{prefix}/submission",
            data=body,
            headers=OR,
            content_type="multipart/form-data; boundary=B",
        )
        assert broken.status_code == 400, why
    no_boundary = client.post(
        f"{prefix}/submission", data=b"x", headers=OR, content_type="multipart/form-data"
    )
    assert no_boundary.status_code == 400
    assert _count(deployment, Submission) == 0


def test_oversized_part_is_413_with_a_message(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    services.ingest.max_part_bytes = 1000
    response = post_submission(
        deployment.client, deployment.url_prefix, plain_instance(), {"big.jpg": b"x" * 5000}
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert _count(deployment, Submission) == 0


def test_twenty_concurrent_posts_make_one_submission(deployment: Deployment) -> None:
    xml = plain_instance(instance_id=f"uuid:{uuid.uuid4()}")
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def send() -> None:
        client = deployment.app.test_client()
        barrier.wait()
        statuses.append(post_submission(client, deployment.url_prefix, xml).status_code)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [202] * 19
    assert _count(deployment, Submission) == 1
