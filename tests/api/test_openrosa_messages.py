"""Every message ODK Collect shows is Vietnamese first, then English (201/202 and errors)."""

from __future__ import annotations

import inspect
import re
import xml.etree.ElementTree as ET

import pytest

from server import errors
from tests.factories import (
    Deployment,
    add_collector,
    plain_instance,
    post_submission,
    publish,
    services_of,
    simple_xform,
)

OR = {"X-OpenRosa-Version": "1.0"}
NS = {"or": "http://openrosa.org/http/response"}
# Letters that English never uses and nearly every Vietnamese sentence has.
VIETNAMESE_LETTER = re.compile("[ăâđêôơưàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ]", re.IGNORECASE)


def _phone_message(response) -> str:  # type: ignore[no-untyped-def]
    assert response.content_type.startswith("text/xml"), response.content_type
    root = ET.fromstring(response.get_data())
    message = root.find("or:message", NS)
    assert message is not None
    return message.text or ""


def _vietnamese_then(text: str, english: str) -> None:
    vi, sep, en = text.partition(" / ")
    assert sep, f"not bilingual: {text!r}"
    assert VIETNAMESE_LETTER.search(vi), f"first half is not Vietnamese: {text!r}"
    assert english in en, f"English {english!r} not after the Vietnamese: {text!r}"


def _sample_args(function: object) -> list[object]:
    values = {"limit": 5 * 1024 * 1024, "retry_after": 30, "version": "3"}
    params = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    return [
        values.get(p.name, "x")
        for p in params
        if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD
    ]


def test_every_problem_of_the_catalogue_reads_vietnamese_first() -> None:
    factories = [
        f
        for name, f in vars(errors).items()
        if inspect.isfunction(f) and f.__module__ == errors.__name__ and not name.startswith("_")
    ]
    assert len(factories) > 20
    for factory in factories:
        problem = factory(*_sample_args(factory))
        assert isinstance(problem, errors.Problem)
        text = problem.phone_text
        vi, _, en = text.partition(" / ")
        assert VIETNAMESE_LETTER.search(vi), f"{factory.__name__}: {text!r}"
        assert en.strip(), f"{factory.__name__}: no English after the Vietnamese: {text!r}"


def test_a_problem_without_its_own_vietnamese_gets_its_kind_in_vietnamese() -> None:
    problem = errors.Problem("418.0", "I'm a teapot")
    assert problem.phone_text == f"{errors.VIETNAMESE_FALLBACK} / I'm a teapot"
    parser = errors.bad_request("The multipart body cannot be read: boom")
    assert parser.phone_text.startswith(errors.VIETNAMESE_BY_STATUS[400] + " / ")


def test_success_messages_are_bilingual(deployment: Deployment) -> None:
    xml = plain_instance(instance_id="uuid:msg-ok")
    first = post_submission(deployment.client, deployment.url_prefix, xml)
    _vietnamese_then(_phone_message(first), "upload was successful")
    again = post_submission(deployment.client, deployment.url_prefix, xml)
    _vietnamese_then(_phone_message(again), "already received")


def test_conflict_says_the_earlier_copy_is_safe(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    post_submission(client, prefix, plain_instance(instance_id="uuid:msg-409", full_name="A"))
    refused = post_submission(
        client, prefix, plain_instance(instance_id="uuid:msg-409", full_name="B")
    )
    assert refused.status_code == 409
    text = _phone_message(refused)
    _vietnamese_then(text, "is kept safe; this one was not stored")
    assert "giữ an toàn" in text.partition(" / ")[0]


def test_refusals_the_phone_sees_are_bilingual(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    publish(deployment.app, simple_xform(form_id="vt_other"))
    cases = [
        (
            post_submission(client, prefix, plain_instance(form_id="vt_other")),
            403,
            "not assigned to this collector",
        ),
        (post_submission(client, prefix, plain_instance(form_id="nope")), 404, "not published"),
        (
            post_submission(client, prefix, plain_instance(version="99")),
            400,
            "Download the current form",
        ),
        (client.get("/c/not-a-token/formList", headers=OR), 403, "has been revoked"),
        (client.get("/formList", headers=OR), 401, "Authentication is required"),
        (
            client.post(f"{prefix}/submission", data=b"x", headers=OR, content_type="text/plain"),
            415,
            "multipart/form-data",
        ),
        (
            client.get(f"{prefix}/formList", headers={"X-OpenRosa-Version": "2.0"}),
            400,
            "OpenRosa version 1.0",
        ),
        (
            post_submission(client, prefix, b"<data><unclosed></data>"),
            400,
            "not acceptable",
        ),
    ]
    for response, status, english in cases:
        assert response.status_code == status, (status, english)
        _vietnamese_then(_phone_message(response), english)


def test_too_large_is_bilingual(deployment: Deployment) -> None:
    services_of(deployment.app).ingest.max_part_bytes = 1000
    response = post_submission(
        deployment.client, deployment.url_prefix, plain_instance(), {"big.jpg": b"x" * 5000}
    )
    assert response.status_code == 413
    _vietnamese_then(_phone_message(response), "too large")


@pytest.mark.parametrize("path", ["/formList", "/forms/vt_test/form.xml"])
def test_a_revoked_collector_is_told_in_both_languages(deployment: Deployment, path: str) -> None:
    from server.services import collectors as collector_service

    token, collector_id = add_collector(deployment.app, "phone-revoked")
    with services_of(deployment.app).store.session() as session:
        collector_service.revoke(session, collector_id, "admin")
    response = deployment.client.get(f"/c/{token}{path}", headers=OR)
    assert response.status_code == 403
    _vietnamese_then(_phone_message(response), "revoked")
