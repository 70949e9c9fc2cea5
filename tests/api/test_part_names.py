"""File names a phone sends (multipart parts, encrypted manifest entries): one plain name each.

A name with a final newline, DEL, a C1 control or a Unicode format/bidi character (U+202E
makes `evil\u202egpj.exe` read as `evilexe.jpg`) is refused with the usual clear error and
records nothing; the names ODK Collect really makes (digits, Vietnamese letters) still pass.
Sent as raw multipart bodies, so each byte of the name reaches the server as written.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from multipart import content_disposition_quote
from sqlalchemy import func, select

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from crypto.names import is_plain_name
from server.store.models import Submission, SubmissionPart
from tests.factories import (
    Deployment,
    add_collector,
    plain_instance,
    publish,
    server_public_key,
    services_of,
    simple_xform,
)

OR = {"X-OpenRosa-Version": "1.0"}
HOSTILE_NAMES = [
    "photo.jpg\n",  # `match` with `$` let a final newline through
    "photo.jpg\r",
    "photo\x7f.jpg",  # DEL
    "photo\x85.jpg",  # NEL, a C1 control
    "evil\u202egpj.exe",  # RIGHT-TO-LEFT OVERRIDE: shows as "evilexe.jpg"
    "photo\u200b.jpg",  # zero-width space (Cf)
    "\ufeffphoto.jpg",  # byte order mark (Cf)
    "photo\u2066.jpg",  # LEFT-TO-RIGHT ISOLATE (Cf)
    "photo\u2028.jpg",  # LINE SEPARATOR (Zl)
    "photo\u2029.jpg",  # PARAGRAPH SEPARATOR (Zp)
    "..",
    "sub/photo.jpg",
    "x" * 256,
]
COLLECT_NAMES = [
    "1712345678901.jpg",  # Collect names a photo by the time it was taken
    "1712345678901_0.m4a",
    "Ảnh giấy giới thiệu.jpg",  # Vietnamese letters and spaces (NFC)
    "Chu\u031b\u0303 ky\u0301.png",  # "Chữ ký.png" decomposed (NFD): combining marks pass
    "chữ-ký_(1).png",
    "x" * 255,
]


def _multipart(xml: bytes, files: dict[str, bytes]) -> bytes:
    """A body as a browser or OkHttp writes it: names quoted the WHATWG way (%0A, %0D, %22)."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="xml_submission_file"; '
        b'filename="submission.xml"\r\nContent-Type: text/xml\r\n\r\n' + xml + b"\r\n"
    )
    for name, content in files.items():
        quoted = content_disposition_quote(name).encode("utf-8")
        body += b"--B\r\nContent-Disposition: form-data; name=" + quoted + b"; filename=" + quoted
        body += b"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    return body + b"--B--\r\n"


def _post(deployment: Deployment, xml: bytes, files: dict[str, bytes]):
    return deployment.client.post(
        f"{deployment.url_prefix}/submission",
        data=_multipart(xml, files),
        headers=OR,
        content_type="multipart/form-data; boundary=B",
    )


def _recorded(deployment: Deployment) -> tuple[int, int, int]:
    """Submissions, parts and blob files in the store."""
    services = services_of(deployment.app)
    with services.store.session() as session:
        submissions = session.scalar(select(func.count()).select_from(Submission)) or 0
        parts = session.scalar(select(func.count()).select_from(SubmissionPart)) or 0
    blobs = sum(1 for path in Path(services.config.blob_dir).rglob("*") if path.is_file())
    return submissions, parts, blobs


@pytest.fixture
def encrypted(deployment: Deployment) -> Deployment:
    """`vt_enc` published encrypted with the server key, and a collector assigned it."""
    public_key = server_public_key(deployment.app)
    publish(deployment.app, simple_xform(form_id="vt_enc", public_key=public_key))
    token, collector_id = add_collector(deployment.app, "phone-enc")
    return Deployment(
        deployment.app, deployment.client, token, f"/c/{token}", collector_id, public_key
    )


def _sealed(deployment: Deployment, media: list[tuple[str, bytes]]):
    return encrypt_submission(
        load_public_key(deployment.public_key_b64 or ""),
        "vt_enc",
        "1",
        "uuid:6f1c2b7e-2f4a-4d7b-9a55-0c4d3e2b1a90",
        plain_instance(form_id="vt_enc"),
        media,
    )


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_part_name_of_a_plain_submission_is_refused(
    deployment: Deployment, name: str
) -> None:
    before = _recorded(deployment)
    response = _post(deployment, plain_instance(), {name: b"\xff\xd8\xff\xe0photo"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "A file name in the submission is not allowed." in response.get_data(as_text=True)
    assert _recorded(deployment) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_name_in_an_encrypted_manifest_is_refused(encrypted: Deployment, name: str) -> None:
    sealed = _sealed(encrypted, [(name, b"\xff\xd8\xff\xe0photo")])
    before = _recorded(encrypted)
    # Listed in the manifest only: the manifest itself is refused.
    listed = _post(encrypted, sealed.manifest, {})
    assert listed.status_code == 400, listed.get_data(as_text=True)
    assert "is not a plain NAME.enc" in listed.get_data(as_text=True)
    # And sent as a part too, with every file: the same refusal, nothing kept.
    sent = _post(encrypted, sealed.manifest, dict(sealed.files))
    assert sent.status_code == 400
    assert _recorded(encrypted) == before


@pytest.mark.parametrize("name", ["photo.jpg.enc\n", "photo\u202egpj.enc", "photo\x7f.jpg.enc"])
def test_hostile_part_name_beside_a_valid_manifest_is_refused(
    encrypted: Deployment, name: str
) -> None:
    sealed = _sealed(encrypted, [("photo.jpg", b"\xff\xd8\xff\xe0photo")])
    before = _recorded(encrypted)
    response = _post(encrypted, sealed.manifest, {**dict(sealed.files), name: b"x"})
    assert response.status_code == 400
    assert "A file name in the submission is not allowed." in response.get_data(as_text=True)
    assert _recorded(encrypted) == before


def test_names_collect_makes_pass_plain_and_encrypted(encrypted: Deployment) -> None:
    files = {name: f"content of {index}".encode() for index, name in enumerate(COLLECT_NAMES)}
    plain = _post(encrypted, plain_instance(), files)
    assert plain.status_code == 201, plain.get_data(as_text=True)
    sealed = _sealed(encrypted, list(files.items())[:-1])  # 255 + ".enc" is over the limit
    sent = _post(encrypted, sealed.manifest, dict(sealed.files))
    assert sent.status_code == 201, sent.get_data(as_text=True)
    with services_of(encrypted.app).store.session() as session:
        names = set(session.scalars(select(SubmissionPart.name)))
    assert set(COLLECT_NAMES) <= names
    assert {f"{name}.enc" for name in COLLECT_NAMES[:-1]} <= names


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_is_judged_as_its_unicode_category_says(code: int) -> None:
    """The ASCII shortcut of is_plain_name refuses exactly the characters the category rule
    refuses."""
    char = chr(code)
    refused = unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Cs"} or char in "/\\"
    assert is_plain_name(f"photo{char}.jpg") is not refused


def test_lone_surrogates_are_not_a_name() -> None:
    # Cannot arrive as UTF-8 over HTTP, but a name decoded with surrogateescape can hold them.
    assert not is_plain_name("photo\udcff.jpg")
    assert is_plain_name("photo.jpg")
