"""Files from phones never render as pages of this site (issue 13, item 1).

Every file response carries `nosniff` and a sandbox Content-Security-Policy; only bytes that
start as an allow-listed image, audio or video format are shown inline, with that type; the
rest (HTML, JavaScript, SVG, XML, an HTML file named photo.jpg) is an application/octet-stream
download, whatever the name or the type the phone declared. Plain and encrypted submissions,
sent through the OpenRosa POST, on SQLite and PostgreSQL. The browser test
(tests/browser/test_phone_files.py) checks the script really does not run.
"""

from __future__ import annotations

import pytest
from werkzeug.http import parse_options_header

from server.services.file_signature import INLINE_TYPES, inline_type
from tests.phone_files import (
    EVIL_HTML,
    EVIL_JS,
    EVIL_SVG,
    HTML_NAMED_JPG,
    JFIF_START,
    POLYGLOT_JPEG,
    XML_FILE,
    send_files,
)
from tests.web.builders import PHOTO
from tests.web.conftest import WebDeployment

DOWNLOADED = {
    "evil.html": EVIL_HTML,
    "evil.js": EVIL_JS,
    "drawing.svg": EVIL_SVG,
    "photo.jpg": HTML_NAMED_JPG,  # the name says JPEG, the bytes are a page
    "data.xml": XML_FILE,
}
SHOWN = {
    "1712345678901.jpg": JFIF_START + b"\x00" * 200,
    "chữ ký.png": PHOTO,  # any name: the bytes decide
    "polyglot.jpg": POLYGLOT_JPEG,
    "noname": JFIF_START,
}


def _file(web: WebDeployment, submission_id: int, name: str):
    return web.client("admin").get(f"/submissions/{submission_id}/files/{name}")


def _assert_sandboxed(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = [p.strip() for p in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_phone_files_that_are_not_media_are_downloads(web: WebDeployment, encrypted: bool) -> None:
    submission_id = send_files(web, DOWNLOADED, encrypted)
    for name, content in DOWNLOADED.items():
        response = _file(web, submission_id, name)
        assert response.status_code == 200, name
        assert response.data == content, name
        assert response.headers["Content-Type"] == "application/octet-stream", name
        disposition, options = parse_options_header(response.headers["Content-Disposition"])
        assert (disposition, options["filename"]) == ("attachment", name)
        _assert_sandboxed(response)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_images_are_shown_by_their_bytes_with_the_sandbox(
    web: WebDeployment, encrypted: bool
) -> None:
    submission_id = send_files(web, SHOWN, encrypted)
    expected = {
        "1712345678901.jpg": "image/jpeg",
        "chữ ký.png": "image/png",
        "polyglot.jpg": "image/jpeg",  # decoded as an image or not at all: never a page
        "noname": "image/jpeg",
    }
    for name, media_type in expected.items():
        response = _file(web, submission_id, name)
        assert response.status_code == 200, name
        assert response.data == SHOWN[name]
        assert response.headers["Content-Type"] == media_type, name
        assert response.headers["Content-Disposition"].startswith("inline;"), name
        _assert_sandboxed(response)
    non_ascii = _file(web, submission_id, "chữ ký.png").headers["Content-Disposition"]
    assert "filename*=UTF-8''ch%E1%BB%AF%20k%C3%BD.png" in non_ascii


def test_the_submission_xml_is_not_a_file_of_the_submission(web: WebDeployment) -> None:
    # A plain submission's own XML holds its identifying answers; they are shown (or hidden)
    # by the submission page, never as a file.
    submission_id = send_files(web, {"a.jpg": JFIF_START}, encrypted=False)
    assert _file(web, submission_id, "xml_submission_file").status_code == 404


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (JFIF_START, "image/jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00", "image/jpeg"),  # camera photos: EXIF
        (PHOTO, "image/png"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),  # MPEG-1 layer III frame, no tag
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A isom", "audio/mp4"),  # Collect audio
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "video/mp4"),  # Collect video
        (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x00isom3gp4", "video/3gpp"),
    ],
)
def test_allow_listed_formats_are_known_by_their_first_bytes(
    content: bytes, media_type: str
) -> None:
    assert inline_type(content) == media_type
    assert media_type in INLINE_TYPES


@pytest.mark.parametrize(
    "content",
    [
        EVIL_HTML,
        EVIL_JS,
        EVIL_SVG,
        HTML_NAMED_JPG,
        XML_FILE,
        b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7\n",
        b"#!AMR\n\x3c",  # no browser plays AMR: a download is more use
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00",  # QuickTime
        b"\xff\xd8",  # too short to be a JPEG
        b"",
        b"\xff",
    ],
)
def test_everything_else_is_downloaded(content: bytes) -> None:
    assert inline_type(content) is None
