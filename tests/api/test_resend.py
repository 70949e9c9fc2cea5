"""A resend rebuilt by a browser client (Enketo online: new `end`, a new key when encrypted)
is the same submission: 202, the first copy kept. Any other difference is 409, saying the
earlier copy is safe."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from server.app import create_app
from server.config import Config
from server.services.ingest import without_resend_metadata
from server.services.setup import initialise
from server.store.db import Store
from server.store.models import Submission
from tests.factories import (
    add_collector,
    plain_instance,
    post_submission,
    publish,
    server_public_key,
    services_of,
    simple_xform,
)


def _with_metadata(xml: bytes, end: str, device: str = "enketo.example:abc") -> bytes:
    stamp = (
        f"<start>2025-03-02T08:00:00.000+07:00</start><end>{end}</end><deviceid>{device}</deviceid>"
    )
    text = xml.decode().replace("<case_code>", stamp + "<case_code>", 1)
    return text.replace(
        "</instanceID>", "</instanceID><instanceName>Lan " + end + "</instanceName>"
    ).encode()


def _stored(app: Flask) -> list[Submission]:
    with services_of(app).store.session() as session:
        rows = session.scalars(select(Submission)).all()
        session.expunge_all()
        return list(rows)


def _count(app: Flask) -> int:
    with services_of(app).store.session() as session:
        return session.scalar(select(func.count()).select_from(Submission)) or 0


@pytest.fixture
def phone(config: Config, store: Store, request: pytest.FixtureRequest) -> tuple[Flask, str, str]:
    """(app, collector URL prefix, public key): vt01_intake encrypted, a collector for it;
    background processing as under `fieldcase serve` when the test's param says so."""
    initialise(config, store)
    background = getattr(request, "param", False)
    app = create_app(config.with_changes(background_processing=background), store)
    public_key = server_public_key(app)
    publish(app, simple_xform(form_id="vt01_intake", public_key=public_key))
    publish(app, simple_xform())
    token, _ = add_collector(app)
    return app, f"/c/{token}", public_key


def _encrypted(public_key: str, xml: bytes, instance_id: str) -> tuple[bytes, dict[str, bytes]]:
    sealed = encrypt_submission(
        load_public_key(public_key),
        "vt01_intake",
        "1",
        instance_id,
        xml,
        [("photo.jpg", b"\xff\xd8jpeg")],
    )
    return sealed.manifest, dict(sealed.files)


def test_metadata_is_what_a_resend_may_change() -> None:
    first = {
        "start": "a",
        "end": "b",
        "deviceid": "d",
        "full_name": "x",
        "meta": {"instanceID": "u", "instanceName": "n1"},
    }
    again = {
        "start": "a",
        "end": "c",
        "deviceid": "e",
        "full_name": "x",
        "meta": {"instanceID": "u", "instanceName": "n2"},
    }
    assert without_resend_metadata(first) == without_resend_metadata(again)
    changed = {**again, "full_name": "y"}
    assert without_resend_metadata(first) != without_resend_metadata(changed)


def test_a_plain_resend_with_new_metadata_is_202_and_keeps_the_first(phone) -> None:  # type: ignore[no-untyped-def]
    app, prefix, _key = phone
    client = app.test_client()
    base = plain_instance(instance_id="uuid:resend-plain")
    first = _with_metadata(base, "2025-03-02T08:10:00.000+07:00")
    assert post_submission(client, prefix, first).status_code == 201
    again = _with_metadata(base, "2025-03-02T08:14:31.000+07:00", device="enketo.example:xyz")
    response = post_submission(client, prefix, again)
    assert response.status_code == 202, response.get_data(as_text=True)
    (kept,) = _stored(app)
    assert kept.data["end"] == "2025-03-02T08:10:00.000+07:00"


def test_a_changed_answer_is_still_409_saying_the_first_is_safe(phone) -> None:  # type: ignore[no-untyped-def]
    app, prefix, _key = phone
    client = app.test_client()
    first = _with_metadata(plain_instance(instance_id="uuid:resend-2"), "2025-03-02T08:10:00Z")
    assert post_submission(client, prefix, first).status_code == 201
    changed = _with_metadata(
        plain_instance(instance_id="uuid:resend-2", full_name="Nguyễn Thị Hoa"),
        "2025-03-02T08:20:00Z",
    )
    response = post_submission(client, prefix, changed)
    assert response.status_code == 409
    assert "kept safe" in response.get_data(as_text=True)
    (kept,) = _stored(app)
    assert kept.data["full_name"] == "Nguyễn Thị Lan"


@pytest.mark.parametrize("phone", [False, True], indirect=True, ids=["in-request", "background"])
def test_an_encrypted_resend_with_a_new_key_is_202(phone) -> None:  # type: ignore[no-untyped-def]
    app, prefix, public_key = phone
    client = app.test_client()
    base = plain_instance(form_id="vt01_intake", instance_id="uuid:resend-enc")
    manifest, files = _encrypted(
        public_key, _with_metadata(base, "2025-03-02T08:10:00Z"), "uuid:resend-enc"
    )
    first = post_submission(client, prefix, manifest, files)
    assert first.status_code == 201, first.get_data(as_text=True)
    services = services_of(app)
    if services.background is not None:  # as the background thread does after the answer
        services.processor.process(_stored(app)[0].id)
    (stored,) = _stored(app)
    assert stored.decrypt_state == "decrypted"
    manifest2, files2 = _encrypted(
        public_key, _with_metadata(base, "2025-03-02T08:15:00Z"), "uuid:resend-enc"
    )
    assert manifest2 != manifest  # a new symmetric key: a different manifest
    again = post_submission(client, prefix, manifest2, files2)
    assert again.status_code == 202, again.get_data(as_text=True)
    assert _count(app) == 1
    assert _stored(app)[0].manifest_sha256 == stored.manifest_sha256  # the first is kept
    # a different answer under the same instanceID, encrypted anew: 409
    other = plain_instance(
        form_id="vt01_intake", instance_id="uuid:resend-enc", full_name="Lò Thị Mai"
    )
    manifest3, files3 = _encrypted(
        public_key, _with_metadata(other, "2025-03-02T08:16:00Z"), "uuid:resend-enc"
    )
    assert post_submission(client, prefix, manifest3, files3).status_code == 409


def test_with_the_key_locked_a_different_manifest_stays_409(config: Config, store: Store) -> None:
    initialise(config, store)
    app = create_app(config, store)
    public_key = server_public_key(app)
    publish(app, simple_xform(form_id="vt01_intake", public_key=public_key))
    token, _ = add_collector(app)
    locked = create_app(config.with_changes(key_passphrase=None), store).test_client()
    base = plain_instance(form_id="vt01_intake", instance_id="uuid:locked")
    m1, f1 = _encrypted(public_key, _with_metadata(base, "2025-03-02T08:10:00Z"), "uuid:locked")
    assert post_submission(locked, f"/c/{token}", m1, f1).status_code == 201
    m2, f2 = _encrypted(public_key, _with_metadata(base, "2025-03-02T08:11:00Z"), "uuid:locked")
    response = post_submission(locked, f"/c/{token}", m2, f2)
    assert response.status_code == 409  # cannot be compared now: never silently pick one
    assert "kept safe" in response.get_data(as_text=True)
