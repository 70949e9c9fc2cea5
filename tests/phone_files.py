"""Hostile files a phone can send, and a way to send them as ODK Collect does.

Used by the web tests (headers of every file response) and the browser test (the script must
not run). `evil.js` reads the admin's user list and sends it away to `/pwned`, as the outside
review's phone did; any request to `/pwned` means a phone's script ran in the admin's browser.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from server.services.forms import publish_xform
from server.store import forms as form_store
from server.store import keys as key_store
from server.store.models import Submission
from tests.factories import post_submission, simple_xform
from tests.web.conftest import WebDeployment

EVIL_JS = (
    b"fetch('/admin/users').then(r => r.text())"
    b".then(t => fetch('/pwned?stolen=' + t.length));"
    b"document.title = 'pwned';"
)
EVIL_HTML = b'<!doctype html><title>evil</title><script src="evil.js"></script><p>evil</p>'
# Scripts in an SVG run when the SVG is opened as a document (not as an <img>).
EVIL_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script href="evil.js"/><rect width="10" height="10"/></svg>'
)
HTML_NAMED_JPG = b"<html><body><script src='evil.js'></script></body></html>"
# Starts as a JPEG (so it is sent as image/jpeg) and goes on as a page.
POLYGLOT_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00<html><script src='evil.js'></script></html>"
XML_FILE = b'<?xml version="1.0"?><?xml-stylesheet href="evil.xsl"?><data/>'
JFIF_START = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"

ENCRYPTED_FORM = "vt_phone_files"


def _outreach_xml(instance_id: str) -> bytes:
    """A plain vt06_outreach (no identifying fields) from phone-a."""
    return (
        f'<data id="vt06_outreach" version="1"><province>01</province>'
        f"<session_date>2025-03-02</session_date><n_male>1</n_male><n_female>2</n_female>"
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


def _encrypted_key(web: WebDeployment) -> str:
    """Publish the encrypted test form once and assign it to phone-a; its public key."""
    with web.store.session() as session:
        key = key_store.active(session)
        assert key is not None
        if form_store.by_xml_form_id(session, ENCRYPTED_FORM) is None:
            publish_xform(
                session,
                web.services.blobs,
                simple_xform(ENCRYPTED_FORM, "1", public_key=key.public_key_b64),
                {},
                "test",
            )
            form = form_store.by_xml_form_id(session, ENCRYPTED_FORM)
            assert form is not None
            form_store.assign(session, web.seeded.collector_id, form.id)
        return key.public_key_b64


def send_files(web: WebDeployment, files: dict[str, bytes], encrypted: bool) -> int:
    """POST a submission with `files` to phone-a's OpenRosa URL; its id (decrypted if sealed)."""
    instance_id = f"uuid:{uuid.uuid4()}"
    client = web.app.test_client()
    prefix = f"/c/{web.seeded.collector_token}"
    if encrypted:
        public_key = _encrypted_key(web)
        xml = (
            f'<data id="{ENCRYPTED_FORM}" version="1"><case_code>01-2025-ffffff</case_code>'
            f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
        ).encode()
        sealed = encrypt_submission(
            load_public_key(public_key), ENCRYPTED_FORM, "1", instance_id, xml, files.items()
        )
        response = post_submission(client, prefix, sealed.manifest, dict(sealed.files))
    else:
        response = post_submission(client, prefix, _outreach_xml(instance_id), files)
    assert response.status_code == 201, response.get_data(as_text=True)
    with web.store.session() as session:
        submission = session.scalars(
            select(Submission).where(Submission.instance_id == instance_id)
        ).one()
        assert submission.decrypt_state == "decrypted", submission.decrypt_reason
        return submission.id
